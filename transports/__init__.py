"""Transports: real sockets, TLS, listeners and time-outs around the smtp_proto core.

`transports.threaded.Server` runs sessions in threads; every engine takes the same
arguments (`ServerBase`, `ServerOptions`) and shares the listener grammar (`listen`),
TLS setup (`tls`) and counters (`capacity`). Engines are imported only when asked for.
`run_workers` serves one application's server from several processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transports.listen import Listener
from transports.options import ServerOptions
from transports.supervisor import run_workers

if TYPE_CHECKING:
    from transports.threaded import Server

__all__ = ["Listener", "Server", "ServerOptions", "run_workers"]


def __getattr__(name: str) -> object:
    if name == "Server":  # the threaded engine, imported on first use
        from transports.threaded import Server

        return Server
    raise AttributeError(f"module 'transports' has no attribute {name!r}")
