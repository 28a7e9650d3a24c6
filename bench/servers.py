"""The server side of the transport benchmark: one engine on 127.0.0.1, port 0, serving until
its standard input closes. Runs in its own process (`python -m bench.transport --serve ENGINE`)
so the load generator never shares its interpreter lock.

Every server does the same work: accept each message into memory and drop it.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from transports.base import ServerBase

ENGINES: Final = ("threads", "asyncio", "trio", "gevent", "aiosmtpd")
# Far above any scenario's connection count, so no session waits for a processing slot
# (aiosmtpd has no such limit).
PROCESSINGS: Final = 4096
_MODULES: Final = {
    "threads": "transports.threaded",
    "asyncio": "transports.aio",
    "trio": "transports.aio",
    "gevent": "transports.green",
    "aiosmtpd": "aiosmtpd",
}


def missing(engine: str) -> str | None:
    """Why `engine` cannot run here (its module is absent), or None when it can."""
    module = _MODULES[engine]
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    return None if found else f"{module} is not installed or not written yet"


def raise_file_limit(wanted: int = 65536) -> None:
    """Raise the soft open-files limit toward `wanted` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def serve(engine: str, port_file: Path | None = None) -> None:
    """Serve with `engine` until standard input reaches end of file.

    The bound port is printed as one line on standard output (and written to `port_file`).
    """
    raise_file_limit()
    servers: dict[str, Callable[[Callable[[int], None]], None]] = {
        "threads": _serve_threads,
        "asyncio": _serve_asyncio,
        "trio": _serve_trio,
        "gevent": _serve_gevent,
        "aiosmtpd": _serve_aiosmtpd,
    }
    servers[engine](lambda port: _announce(port, port_file))


def _announce(port: int, port_file: Path | None) -> None:
    if port_file is not None:
        partial = port_file.with_name(port_file.name + ".part")
        partial.write_text(f"{port}\n")
        partial.replace(port_file)  # atomic: a reader never sees half a number
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()


def _wait_for_eof() -> None:
    while os.read(sys.stdin.fileno(), 4096):
        pass


def _ours(factory: Callable[..., ServerBase], **extra: object) -> ServerBase:
    """One of our servers: the base Handler accepts every message (the session keeps it in
    `ctx.message.data` until the next transaction, as aiosmtpd keeps `envelope.content`)."""
    from smtp_proto.handler import Handler

    return factory(Handler(), ports="0", hosts="127.0.0.1", max_processings=PROCESSINGS, **extra)


def _run_blocking(server: ServerBase, announce: Callable[[int], None]) -> None:
    server.start()
    try:
        announce(server.addresses[0][1])
        _wait_for_eof()
    finally:
        server.stop(grace=0)


def _serve_threads(announce: Callable[[int], None]) -> None:
    from transports.threaded import Server

    _run_blocking(_ours(Server), announce)


def _serve_aio(backend: str, announce: Callable[[int], None]) -> None:
    # The blocking API: the loop runs in a thread of its own, this one waits on stdin.
    aio = importlib.import_module("transports.aio")
    _run_blocking(_ours(aio.Server, backend=backend), announce)


def _serve_asyncio(announce: Callable[[int], None]) -> None:
    _serve_aio("asyncio", announce)


def _serve_trio(announce: Callable[[int], None]) -> None:
    _serve_aio("trio", announce)


def _serve_gevent(announce: Callable[[int], None]) -> None:
    import gevent.socket

    green = importlib.import_module("transports.green")
    server = _ours(green.Server)
    server.start()
    try:
        announce(server.addresses[0][1])
        while True:  # wait cooperatively, so the hub keeps serving
            gevent.socket.wait_read(sys.stdin.fileno())
            if not os.read(sys.stdin.fileno(), 4096):
                break
    finally:
        server.stop(grace=0)


class _DropHandler:
    """An aiosmtpd handler that accepts every message and keeps nothing."""

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        """Accept: aiosmtpd has already read the content into `envelope`."""
        return "250 OK"


def _serve_aiosmtpd(announce: Callable[[int], None]) -> None:
    asyncio.run(_aiosmtpd_main(announce))


async def _aiosmtpd_main(announce: Callable[[int], None]) -> None:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    handler = _DropHandler()
    # A fixed hostname, as aiosmtpd's Controller passes one: otherwise every connection
    # would call socket.getfqdn().
    server = await loop.create_server(lambda: SMTP(handler, hostname="localhost"), "127.0.0.1", 0)
    eof = loop.create_future()
    stdin = sys.stdin.fileno()

    def on_stdin() -> None:
        if not os.read(stdin, 4096) and not eof.done():
            eof.set_result(None)

    loop.add_reader(stdin, on_stdin)
    try:
        announce(server.sockets[0].getsockname()[1])
        await eof
    finally:
        loop.remove_reader(stdin)
        server.close()
        await server.wait_closed()
