"""What every engine's `Server` shares: options, binding, TLS setup, counters, sessions.

An engine subclasses `ServerBase` and adds only how it waits: accepting, reading,
writing, handshakes and stopping. Nothing here blocks on a client.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, ClassVar, Self

from smtp_proto import replies
from smtp_proto.config import ServerConfig, TlsMode
from smtp_proto.context import Peer
from smtp_proto.driver import config_for
from smtp_proto.handler import Handler
from smtp_proto.proxy import ProxyHeaderError, octets_wanted, read_proxy_header
from smtp_proto.replies import Reply
from smtp_proto.session import Session
from transports import deadlines, listen, tls
from transports.capacity import Slots, Utilization
from transports.deadlines import Stopping
from transports.options import (
    DEFAULT_HOSTS,
    DEFAULT_MAX_PROCESSINGS,
    DEFAULT_PORTS,
    IO_CMD_TIMEOUT,
    IO_DATA_TIMEOUT,
    PROCESSING_WAIT,
    STOP_GRACE,
    TLS_HANDSHAKE_TIMEOUT,
    ServerOptions,
)
from transports.tls import PathLike

log = logging.getLogger("smtp_proto.transports")

Bound = list[tuple[listen.Listener, socket.socket]]  # a listener and its bound socket


def new_session_id() -> str:
    """A short random id that tags a session's log lines."""
    return secrets.token_hex(5)


def cram_md5_nonce() -> str:
    """A fresh CRAM-MD5 challenge body (RFC 2195: random digits and a timestamp)."""
    return f"{secrets.randbits(64)}.{int(time.time())}"


class ServerBase:
    """An SMTP server for `handler` on the listeners `ports` x `hosts` (see `listen.pair`).

    `max_processings` hooks run at once (a session holds a slot only while one of its
    hooks runs, never while it waits for its client), the rest wait up to
    `processing_wait` seconds, then 421 4.3.2; `max_connections` (None: unlimited) open
    connections at most, the next gets 421 4.3.2. The keyword options are those of
    `ServerOptions`. Raises `ValueError` for bad options and `TypeError` for a handler the
    engine cannot run.
    """

    engine: ClassVar[str] = ""
    allows_async_hooks: ClassVar[bool] = False

    def __init__(
        self,
        handler: Handler,
        ports: str | int = DEFAULT_PORTS,
        hosts: str = DEFAULT_HOSTS,
        max_processings: int = DEFAULT_MAX_PROCESSINGS,
        max_connections: int | None = None,
        *,
        config: ServerConfig | None = None,
        tls_mode: TlsMode | None = None,
        tls_implicit_ports: str | int = "",
        tls_cert_path: PathLike | None = None,
        tls_key_path: PathLike | None = None,
        ssl_context: ssl.SSLContext | None = None,
        tls_cert_cn: str | None = None,
        tls_cert_san: Sequence[str] | None = None,
        io_cmd_timeout: float = IO_CMD_TIMEOUT,
        io_data_timeout: float = IO_DATA_TIMEOUT,
        tls_handshake_timeout: float = TLS_HANDSHAKE_TIMEOUT,
        processing_wait: float = PROCESSING_WAIT,
        backlog: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.options = ServerOptions(
            ports=str(ports),
            hosts=hosts,
            max_processings=max_processings,
            max_connections=max_connections,
            config=config or ServerConfig(),
            tls_mode=tls_mode,
            tls_implicit_ports=str(tls_implicit_ports),
            tls_cert_path=tls_cert_path,
            tls_key_path=tls_key_path,
            ssl_context=ssl_context,
            tls_cert_cn=tls_cert_cn,
            tls_cert_san=tls_cert_san,
            io_cmd_timeout=io_cmd_timeout,
            io_data_timeout=io_data_timeout,
            tls_handshake_timeout=tls_handshake_timeout,
            processing_wait=processing_wait,
            backlog=backlog,
            reuse_port=reuse_port,
        )
        if handler.async_hooks and not self.allows_async_hooks:
            names = ", ".join(sorted(handler.async_hooks))
            raise TypeError(f"the {self.engine} transport cannot run async def hooks: {names}")
        self.handler = handler
        self.config = config_for(handler, self.options.server_config)
        self.utilization = Utilization(max_connections, max_processings)
        self._listeners: list[listen.Listener] = []
        self._tls: tls.TlsSetup | None = None
        # The lifecycle every engine shares: started once, stopped once.
        self._lock = threading.Lock()
        self._started = False
        self._stop = Stopping()  # what sessions see of a stop
        self._stopped = threading.Event()
        self._slots = Slots(self.utilization, processing_wait)
        self._tick = deadlines.tick(io_cmd_timeout, io_data_timeout)
        self._io_limit = max(io_cmd_timeout, io_data_timeout)  # for one send
        self._init_engine()

    def _init_engine(self) -> None:
        """Set up the engine's own state; called at the end of `__init__`."""

    def start(self) -> None:
        """Bind every listener and start serving; raises `OSError` if one cannot bind."""
        raise NotImplementedError

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop accepting, let sessions finish for `grace` seconds, then 421 and close."""
        raise NotImplementedError

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the server has stopped; False if `timeout` seconds passed first."""
        with self._lock:
            if not self._started:
                return True
        return self._stopped.wait(timeout)

    @property
    def stopping(self) -> bool:
        """Whether `stop()` has begun: no new connection is accepted."""
        return self._stop.at is not None

    @property
    def stop_state(self) -> Stopping:
        """The server's stop, as its sessions see it."""
        return self._stop

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def listeners(self) -> list[listen.Listener]:
        """The bound listeners (actual ports), empty before `start()`."""
        return list(self._listeners)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """`(address, port)` of every bound listener, plain and implicit TLS."""
        return [(item.host, item.port) for item in self._listeners]

    @property
    def certificate_pem(self) -> bytes | None:
        """The generated self-signed certificate (PEM), None when one was given or no TLS."""
        return None if self._tls is None else self._tls.certificate_pem

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The context sockets are wrapped with, once started with TLS."""
        return None if self._tls is None else self._tls.context

    @property
    def connections(self) -> int:
        """Connections open now."""
        return self.utilization.connections

    @property
    def processings(self) -> int:
        """Hooks running now, each holding a processing slot."""
        return self.utilization.processings

    def _bind_once(self) -> Bound:
        """Bind every listener, once in the server's life (`RuntimeError` after that)."""
        with self._lock:
            if self._started:
                raise RuntimeError("the server was already started")
            bound = self._bind_all()
            self._started = True
            return bound

    def _bind_all(self) -> Bound:
        """Resolve and bind every listener and set up TLS; all or nothing."""
        bound: Bound = []
        try:
            for listener in self.options.listeners():
                sock = listen.bind(
                    listener, self.options.backlog, reuse_port=self.options.reuse_port
                )
                bound.append((listen.bound(listener, sock), sock))
            if self.options.uses_tls:
                self._tls = self._tls_setup([item for item, _ in bound])
        except BaseException:
            for _, sock in bound:
                sock.close()
            raise
        self._listeners = [item for item, _ in bound]
        for item in self._listeners:
            log.info("listening on %s", item)
        return bound

    def _tls_setup(self, listeners: Sequence[listen.Listener]) -> tls.TlsSetup:
        opts = self.options
        names = tls.served_names(
            self.config.hostname,
            listen.parse_hosts(opts.hosts),
            [item.host for item in listeners],
        )
        return tls.setup(
            cert_path=opts.tls_cert_path,
            key_path=opts.tls_key_path,
            ssl_context=opts.ssl_context,
            common_name=opts.tls_cert_cn,
            alt_names=opts.tls_cert_san,
            names=names,
        )

    def _proxy_wanted(self, data: bytes) -> int:
        """On an implicit-TLS listener in PROXY mode, the header comes in clear before the
        TLS hello: how many more of its octets to read (0: stop; see `octets_wanted`)."""
        version = self.config.proxy_protocol
        if version is None:
            return 0
        return octets_wanted(data, version, max_tlvs=self.config.proxy_max_tlvs)

    def _proxy_whole(self, data: bytes) -> bool:
        """Whether `data` is a whole PROXY header (else the connection closes unanswered)."""
        version = self.config.proxy_protocol
        try:
            return (
                version is not None
                and read_proxy_header(data, version, max_tlvs=self.config.proxy_max_tlvs)
                is not None
            )
        except ProxyHeaderError:
            return False

    def _open_session(self, listener: listen.Listener, local: Any, remote: Any) -> Session:
        """A new session for an accepted (and, for implicit TLS, handshaken) connection
        between the socket addresses `local` and `remote`."""
        # A peer that reset the connection at once may have no address left to ask for:
        # its session still runs (and ends at its first read), with the address unknown.
        local, remote = local or ("", 0), remote or ("", 0)
        peer = Peer(
            local_ip=str(local[0]),
            local_port=int(local[1]),
            local_host=str(local[0]) if listener.name in ("", listen.WILDCARD) else listener.name,
            remote_ip=str(remote[0]),
            remote_port=int(remote[1]),
            remote_host=str(remote[0]),
        )
        return Session(
            self.handler,
            self.config,
            peer=peer,
            session_id=new_session_id(),
            clock=time.monotonic,
            cmd_timeout=self.options.io_cmd_timeout,
            data_timeout=self.options.io_data_timeout,
            encrypted=listener.tls,
            nonce=cram_md5_nonce,
        )


def refuse(sock: socket.socket, listener: listen.Listener, reply: Reply) -> None:
    """Answer a connection that will not be served with `reply`, without waiting; close it.

    Nothing is sent on an implicit-TLS listener: its client would read plain text as garbage.
    """
    with contextlib.closing(sock), contextlib.suppress(OSError):
        if not listener.tls:
            sock.setblocking(False)
            sock.send(reply.to_bytes())


def unbind(bound: Bound) -> None:
    """Close the listening sockets, answering the clients already in their backlog with
    421 rather than resetting them by the close."""
    for listener, sock in bound:
        with sock:
            for waiting in listen.accept_waiting(sock):
                refuse(waiting, listener, replies.SHUTTING_DOWN)
