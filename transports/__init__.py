"""Transports: real sockets, TLS, listeners and time-outs around the smtp_proto core.

`transports.threaded.Server` runs sessions in threads; every engine takes the same
arguments (`ServerBase`, `ServerOptions`) and shares the listener grammar (`listen`),
TLS setup (`tls`) and counters (`limits`). Engines are imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transports.listen import Listener
from transports.options import ServerOptions

if TYPE_CHECKING:
    from transports.threaded import Server

__all__ = ["Listener", "Server", "ServerOptions"]


def __getattr__(name: str) -> object:
    if name == "Server":  # the threaded engine, imported on first use
        from transports.threaded import Server

        return Server
    raise AttributeError(f"module 'transports' has no attribute {name!r}")
