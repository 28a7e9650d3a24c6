"""The server side of the transport benchmark: one engine on 127.0.0.1, port 0, serving until
its standard input closes. Runs in its own process (`python -m bench.transport --serve ENGINE`)
so the load generator never shares its interpreter lock.

Every server does the same work: accept each message into memory and drop it; or, given a
Maildir folder, store each message there (ours with `MaildirHandler`, as `smtp-proto serve`
does; aiosmtpd with its own `Mailbox` handler; node's smtp-server with a few lines of its
own). Ours run the base Handler (no hook at all: a floor), or with `hook` an application's
plain `def on_message_data_event`, or an `async def` one on the anyio engines.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import resource
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bench import compiled, floor

if TYPE_CHECKING:
    from transports.base import ServerBase

ENGINES: Final = ("threads", "asyncio", "trio", "gevent", "aiosmtpd")
# Servers to run beside the engines on request, as yardsticks (not run by default).
REFERENCES: Final = ("floor", "node", "anyio-plain", "anyio-plain-trio")
HOOKS: Final = ("none", "plain", "nonblocking", "async")
NODE_DIR: Final = Path(__file__).resolve().parent / "node"
KNOWN: Final = ENGINES + REFERENCES
# Our engines over the compiled core (bench.compiled), by request.
COMPILED: Final = tuple(engine + compiled.SUFFIX for engine in ENGINES[:-1])
# Far above any scenario's connection count, so no session waits for a processing slot
# (aiosmtpd has no such limit).
PROCESSINGS: Final = 4096
# The modules each engine needs: our transport and the library under it.
_MODULES: Final = {
    "threads": ("transports.threaded",),
    "asyncio": ("transports.engines", "transports.aio", "anyio"),
    "trio": ("transports.engines", "transports.aio", "anyio", "trio"),
    "gevent": ("transports.engines", "transports.green", "gevent"),
    "aiosmtpd": ("aiosmtpd",),
    "floor": ("gevent",),
    "node": (),
    "anyio-plain": ("anyio",),
    "anyio-plain-trio": ("anyio", "trio"),
}


def missing(engine: str) -> str | None:
    """Why `engine` cannot run here (a module is absent), or None when it can."""
    engine, on_compiled = compiled.split(engine)
    if on_compiled:
        if engine not in ENGINES[:-1]:
            return f"only our engines have a compiled core, not {engine}"
        if reason := compiled.missing():
            return reason
    if engine == "node":
        if shutil.which("node") is None:
            return "node is not on PATH"
        if not (NODE_DIR / "node_modules" / "smtp-server").is_dir():
            return f"smtp-server is not installed (npm install in {NODE_DIR})"
    for module in _MODULES[engine]:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{module} is not installed or not written yet"
    return None


def raise_file_limit(wanted: int = 65536) -> None:
    """Raise the soft open-files limit toward `wanted` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def serve(
    engine: str,
    port_file: Path | None = None,
    maildir: Path | None = None,
    hook: str = "none",
) -> None:
    """Serve with `engine` until standard input reaches end of file; store messages in
    `maildir` when given (the floor keeps nothing regardless); `hook` for our engines.

    The bound port is printed as one line on standard output (and written to `port_file`).
    """
    raise_file_limit()

    def announce(port: int) -> None:
        _announce(port, port_file)

    if engine == "aiosmtpd":
        asyncio.run(_aiosmtpd_main(announce, maildir))
    elif engine == "floor":
        floor.serve(announce, _wait_for_eof)
    elif engine == "node":  # it prints its own port; standard input and output are its
        store = [] if maildir is None else [str(maildir)]
        os.execvp("node", ["node", str(NODE_DIR / "server.js"), *store])  # noqa: S606
    elif engine.startswith("anyio-plain"):  # the anyio engine's yardstick (bench/anyio_plain.py)
        from bench import anyio_plain
        from bench.hooks import handler_for

        backend = "trio" if engine.endswith("-trio") else "asyncio"
        handler = handler_for(maildir, hook, async_ok=True)
        anyio_plain.run(backend, announce, _wait_for_eof, handler, PROCESSINGS)
    else:
        _serve_ours(engine, announce, maildir, hook)


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


def _ours(factory: Callable[..., ServerBase], maildir: Path | None, hook: str) -> ServerBase:
    """One of our servers: the base Handler accepts every message (the session keeps it in
    `ctx.message.data` until the next transaction, as aiosmtpd keeps `envelope.content`);
    with `hook`, an application's message hook reads it; with `maildir`, `serve`'s own
    handler stores it there."""
    from bench.hooks import handler_for

    options: dict[str, object] = {"max_processings": PROCESSINGS}
    if getattr(factory, "engine", "") == "asyncio":
        options["uvloop"] = False  # the standard library's loop, as aiosmtpd's
    handler = handler_for(maildir, hook, async_ok=getattr(factory, "allows_async_hooks", False))
    return factory(handler, ports="0", hosts="127.0.0.1", **options)


def _run_blocking(server: ServerBase, announce: Callable[[int], None]) -> None:
    server.start()
    try:
        announce(server.addresses[0][1])
        _wait_for_eof()
    finally:
        server.stop(grace=0)


def _serve_ours(
    engine: str, announce: Callable[[int], None], maildir: Path | None, hook: str
) -> None:
    # Every engine's blocking API runs its loop or hub in a thread of its own; this
    # thread only waits for the end of standard input.
    if engine == "threads":
        from transports.threaded import Server

        factory: Callable[..., ServerBase] = Server
    else:
        factory = importlib.import_module("transports.engines").server_class(engine)
    _run_blocking(_ours(factory, maildir, hook), announce)


class _DropHandler:
    """An aiosmtpd handler that accepts every message and keeps nothing."""

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        """Accept: aiosmtpd has already read the content into `envelope`."""
        return "250 OK"


async def _aiosmtpd_main(announce: Callable[[int], None], maildir: Path | None) -> None:
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    handler = _DropHandler() if maildir is None else Mailbox(maildir)
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
