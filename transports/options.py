"""The options every transport engine takes, checked once on creation.

Ports, hosts, concurrency limits, time-outs and TLS files live here; what the protocol
offers lives in the core's `ServerConfig`, which these options carry along.
"""

from __future__ import annotations

import dataclasses
import math
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from smtp_proto.config import ServerConfig, TlsMode
from transports import listen
from transports.tls import PathLike

DEFAULT_PORTS: Final = "2525"
DEFAULT_HOSTS: Final = "127.0.0.1"
DEFAULT_MAX_PROCESSINGS: Final = 4
READ_SIZE: Final = 65536  # octets asked of the socket per read
IO_CMD_TIMEOUT: Final = 300.0  # RFC 5321 4.5.3.2.7: at least 5 minutes for a command
IO_DATA_TIMEOUT: Final = 300.0  # per wait for message text, RFC 5321 4.5.3.2.5-6
TLS_HANDSHAKE_TIMEOUT: Final = 60.0
# How long a hook waits for a processing slot before its session gets 421 4.3.2.
PROCESSING_WAIT: Final = 30.0
STOP_GRACE: Final = 30.0
# After the grace period, sessions get this long to send their 421 before they are cut off
# (a client that stops reading must not hold the stop forever).
STOP_LINGER: Final = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions:
    """Everything a transport needs besides the handler; raises `ValueError` when wrong.

    `tls_mode` None takes the mode from `config`; otherwise it replaces `config.tls_mode`
    (STARTTLS on the plain listeners). `tls_implicit_ports` uses the ports grammar for
    implicit-TLS (SMTPS) listeners on the same hosts. Time-outs are seconds: the command
    time-out bounds the wait for each complete command line, the data time-out each wait
    for message text. `max_processings` hooks run at once; a hook waits at most
    `processing_wait` seconds for a slot, then its session gets 421 4.3.2. `backlog` is
    each listener's queue of connections not yet accepted (None: the system's largest, so
    a burst of clients is not dropped).
    """

    ports: str = DEFAULT_PORTS
    hosts: str = DEFAULT_HOSTS
    max_processings: int = DEFAULT_MAX_PROCESSINGS
    max_connections: int | None = None
    config: ServerConfig = field(default_factory=ServerConfig)
    tls_mode: TlsMode | None = None
    tls_implicit_ports: str = ""
    tls_cert_path: PathLike | None = None
    tls_key_path: PathLike | None = None
    ssl_context: ssl.SSLContext | None = None
    tls_cert_cn: str | None = None
    tls_cert_san: Sequence[str] | None = None
    io_cmd_timeout: float = IO_CMD_TIMEOUT
    io_data_timeout: float = IO_DATA_TIMEOUT
    tls_handshake_timeout: float = TLS_HANDSHAKE_TIMEOUT
    processing_wait: float = PROCESSING_WAIT
    backlog: int | None = None
    reuse_port: bool = False  # SO_REUSEPORT: processes share a port (serve --workers)

    def __post_init__(self) -> None:
        listen.pair(self.ports, self.hosts)  # syntax only; names resolve at start
        if self.tls_implicit_ports.strip():
            listen.pair(self.tls_implicit_ports, self.hosts)
        if self.max_processings < 1:
            raise ValueError("max_processings must be at least 1")
        if self.reuse_port and not hasattr(socket, "SO_REUSEPORT"):
            raise ValueError("reuse_port needs SO_REUSEPORT, which this system lacks")
        if self.backlog is not None and self.backlog < 1:
            raise ValueError("backlog must be at least 1 (None: the system's largest)")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("max_connections must be at least 1 (None: unlimited)")
        for name in (
            "io_cmd_timeout",
            "io_data_timeout",
            "tls_handshake_timeout",
            "processing_wait",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds")
        self._check_tls()

    def _check_tls(self) -> None:
        if self.tls_key_path is not None and self.tls_cert_path is None:
            raise ValueError("tls_key_path needs tls_cert_path")
        if self.ssl_context is not None and self.tls_cert_path is not None:
            raise ValueError("give either ssl_context or tls_cert_path, not both")
        if self.tls_cert_san is not None and isinstance(self.tls_cert_san, str):
            raise ValueError("tls_cert_san must be a sequence of names, not one string")

    @property
    def server_config(self) -> ServerConfig:
        """The core's config, with `tls_mode` applied."""
        if self.tls_mode is None or self.tls_mode is self.config.tls_mode:
            return self.config
        return dataclasses.replace(self.config, tls_mode=self.tls_mode)

    @property
    def uses_tls(self) -> bool:
        """Whether a TLS context is needed: STARTTLS offered or implicit-TLS listeners."""
        starttls = self.server_config.tls_mode is not TlsMode.FORBIDDEN
        return starttls or bool(self.tls_implicit_ports.strip())

    def listeners(self) -> list[listen.Listener]:
        """Resolve the listeners (plain, then implicit TLS); see `listen.plan`."""
        return listen.plan(self.ports, self.hosts, self.tls_implicit_ports)
