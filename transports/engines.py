"""The transport engines by their `--transport` names; each is imported only when asked for.

Every engine's `Server` takes the same arguments (`ServerBase`) and offers the same
start/stop/join surface, so callers pick one by name and treat them alike.
"""

from __future__ import annotations

from typing import Final

from transports.base import ServerBase

ENGINES: Final = ("threads", "asyncio", "trio", "gevent")


def server_class(engine: str) -> type[ServerBase]:
    """The `Server` class of `engine` (one of `ENGINES`); raises `ValueError` otherwise.

    Importing an engine needs its library (anyio and trio, or gevent): `ImportError` when
    it is missing.
    """
    if engine == "threads":
        from transports.threaded import Server

        return Server
    if engine == "asyncio":
        from transports.aio import Server as AsyncioServer

        return AsyncioServer
    if engine == "trio":
        from transports.aio import TrioServer

        return TrioServer
    if engine == "gevent":
        from transports.green import Server as GeventServer

        return GeventServer
    raise ValueError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
