"""What only some engines have: anyio's async API and async hooks, gevent's hub thread and
greenlets, the engine registry, and `serve --transport` on every engine."""

from __future__ import annotations

import asyncio
import mailbox
import signal
import smtplib
import socket
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import gevent
import gevent.monkey
import pytest
from anyio.abc import ByteStream

from smtp_proto import replies
from smtp_proto.context import Context
from smtp_proto.errors import Smtpd550Error
from smtp_proto.handler import Handler
from tests.transports.transport_support import (
    TIMEOUT,
    UVLOOP,
    Gate,
    RawClient,
    Recorder,
    ServerFactory,
    address_of,
    engine_class,
)
from transports import aio, green
from transports.engines import ENGINES, server_class
from transports.listen import accept_waiting

ANYIO_BACKENDS = ["asyncio", "trio"]
MESSAGE = b"Subject: engines\r\n\r\nbody\r\n"


class AsyncClient:
    """A byte-level SMTP client on an anyio stream: whole replies, continuation lines too."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def reply(self) -> bytes:
        out = b""
        while True:
            while b"\n" not in self.buffer:
                self.buffer += await self.stream.receive()
            line, _, self.buffer = self.buffer.partition(b"\n")
            out += line + b"\n"
            if line[3:4] != b"-":
                return out

    async def command(self, line: bytes) -> bytes:
        await self.stream.send(line + b"\r\n")
        return await self.reply()


class AsyncStore(Handler):
    """Async hooks that rewrite, refuse and fail; each message stored by an awaited hook."""

    def __init__(self) -> None:
        self.threads: dict[str, str] = {}
        self.messages: list[tuple[list[str], bytes]] = []

    def on_helo_event(self, ctx: Context, helo: str) -> None:
        self.threads["helo"] = threading.current_thread().name

    async def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> str | None:
        await anyio.sleep(0)
        self.threads["rcpt"] = threading.current_thread().name
        if rcpt_to.endswith("@blocked.example.test"):
            raise Smtpd550Error(log="blocked domain")
        if rcpt_to.startswith("crash@"):
            raise RuntimeError("a bug in the hook")
        return rcpt_to.lower()

    async def on_message_data_event(self, ctx: Context) -> None:
        await anyio.sleep(0)
        self.messages.append((list(ctx.envelope.rcpt_to), bytes(ctx.message.data)))


@pytest.mark.parametrize("backend", ANYIO_BACKENDS)
def test_serve_in_a_task_group_tells_its_addresses_and_shutdown_ends_it(backend: str) -> None:
    handler = AsyncStore()
    server = aio.Server(handler, ports="0", hosts="127.0.0.1, ::1")

    async def main() -> list[bytes]:
        async with anyio.create_task_group() as group:
            addresses = await group.start(server.serve)
            assert addresses == server.addresses
            assert [host for host, _ in addresses] == ["127.0.0.1", "::1"]
            async with await anyio.connect_tcp(*addresses[1]) as stream:
                client = AsyncClient(stream)
                replies = [await client.reply()]
                for line in (b"HELO c.example.test", b"MAIL FROM:<a@example.test>"):
                    replies.append(await client.command(line))
                replies.append(await client.command(b"RCPT TO:<Bob@Example.TEST>"))
                replies.append(await client.command(b"DATA"))
                replies.append(await client.command(MESSAGE + b"."))
            await server.shutdown(grace=1.0)
        return [reply[:3] for reply in replies]

    assert anyio.run(main, backend=backend) == [b"220", b"250", b"250", b"250", b"354", b"250"]
    assert server.stopping
    assert server.join(0)
    assert handler.messages == [(["bob@example.test"], MESSAGE)]
    assert handler.threads["rcpt"] == threading.current_thread().name  # on the caller's loop


def test_async_hooks_rewrite_refuse_and_fail_like_sync_ones(
    engine: str, server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    if not engine_class(engine).allows_async_hooks:
        pytest.skip("refused at construction (test_async_hooks_are_refused_by_blocking_engines)")
    handler = AsyncStore()
    client = RawClient(address_of(server_factory(handler)))
    clients.append(client)
    client.reply()
    client.command(b"EHLO c.example.test")
    assert client.command(b"MAIL FROM:<a@example.test>") == replies.SENDER_OK.to_bytes()
    refused = Smtpd550Error().reply.to_bytes()
    assert client.command(b"RCPT TO:<x@blocked.example.test>") == refused
    assert client.command(b"RCPT TO:<crash@example.test>") == replies.LOCAL_ERROR.to_bytes()
    assert client.command(b"RCPT TO:<Carol@Example.TEST>") == replies.RECIPIENT_OK.to_bytes()
    assert client.command(b"DATA") == replies.START_DATA.to_bytes()
    assert client.command(MESSAGE + b".") == replies.MESSAGE_ACCEPTED.to_bytes()
    assert handler.messages == [(["carol@example.test"], MESSAGE)]


def test_anyio_runs_plain_hooks_in_its_worker_threads_and_async_ones_on_the_loop(
    engine: str, server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    if engine not in ANYIO_BACKENDS:
        pytest.skip("only the anyio engine has both kinds of hook")
    handler = AsyncStore()
    server = server_factory(handler)
    client = RawClient(address_of(server))
    clients.append(client)
    client.reply()
    client.command(b"HELO c.example.test")
    client.command(b"MAIL FROM:<a@example.test>")
    assert client.command(b"RCPT TO:<b@example.test>").startswith(b"250")
    assert handler.threads["helo"].startswith("smtp-proto-hook")
    assert handler.threads["rcpt"] == "smtp-proto-anyio"
    server.stop(grace=0)
    assert [t.name for t in threading.enumerate() if t.name.startswith("smtp-proto")] == []


class Where(Recorder):
    """Records where a hook runs: thread name, and whether inside a gevent greenlet."""

    def __init__(self) -> None:
        super().__init__()
        self.places: list[tuple[str, bool]] = []
        self.gate = Gate()

    def on_helo_event(self, ctx: Context, helo: str) -> None:
        self.places.append(
            (threading.current_thread().name, gevent.getcurrent().parent is not None)
        )
        if helo == "wait.example.test":
            self.gate.wait()


def test_gevent_runs_hooks_in_greenlets_of_its_own_thread_and_patches_nothing(
    clients: list[RawClient],
) -> None:
    handler = Where()
    with green.Server(handler, ports="0", max_processings=2) as server:
        waiting, other = RawClient(address_of(server)), RawClient(address_of(server))
        clients += [waiting, other]
        waiting.reply()
        waiting.send(b"HELO wait.example.test\r\n")
        assert handler.gate.reached()
        other.reply()  # a hook waiting cooperatively holds no other session up
        assert other.command(b"HELO other.example.test").startswith(b"250")
        handler.gate.released.set()
        assert waiting.code() == 250
    assert handler.places == [("smtp-proto-gevent", True)] * 2
    assert not gevent.monkey.is_anything_patched()
    assert socket.socket.__module__ == "socket"


def test_the_registry_names_every_engine_and_refuses_others() -> None:
    assert [server_class(name).engine for name in ENGINES] == list(ENGINES)
    assert ENGINES == ("threads", "asyncio", "trio", "gevent")
    with pytest.raises(
        ValueError, match="unknown engine 'curio': expected one of threads, asyncio"
    ):
        server_class("curio")


def test_the_anyio_backend_option() -> None:
    assert aio.Server(Recorder(), ports="0").backend == "asyncio"
    assert aio.Server(Recorder(), ports="0", backend="trio").backend == "trio"
    assert aio.TrioServer(Recorder(), ports="0").backend == "trio"
    with pytest.raises(ValueError, match="backend must be one of asyncio, trio: 'curio'"):
        aio.Server(Recorder(), ports="0", backend="curio")


def test_accept_waiting_takes_the_whole_backlog_without_blocking() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        assert accept_waiting(listener) == []
        clients = [socket.create_connection(listener.getsockname()) for _ in range(2)]
        try:
            taken = accept_waiting(listener)
            try:
                peers = sorted(conn.getpeername() for conn in taken)
                assert peers == sorted(client.getsockname() for client in clients)
                assert accept_waiting(listener) == []
            finally:
                for conn in taken:
                    conn.close()
        finally:
            for client in clients:
                client.close()


@pytest.mark.parametrize("engine", ENGINES)  # the --transport names
def test_serve_runs_on_the_chosen_transport(engine: str, tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    command = [sys.executable, "-m", "transports", "serve", "--port", "0"]
    command += ["--transport", engine, "--maildir", str(maildir)]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as proc:  # noqa: S603
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            assert " listening on 127.0.0.1:" in line
            port = int(line.rsplit(":", 1)[1])
            with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
                client.sendmail("a@example.test", ["b@example.test"], MESSAGE)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(TIMEOUT) == 0
            rest = proc.stderr.read()
            assert f" serving on the {engine} engine" in rest
            assert "stopped" in rest
        finally:
            if proc.poll() is None:
                proc.kill()
    [stored] = list(mailbox.Maildir(maildir, create=False))
    assert stored["Subject"] == "engines"


class LoopKind(Handler):
    """Records which event loop ran an async hook."""

    def __init__(self) -> None:
        self.loops: list[str] = []

    async def on_helo_event(self, ctx: Context, helo: str) -> None:
        self.loops.append(type(asyncio.get_running_loop()).__module__)


@pytest.mark.parametrize(("uvloop", "expected"), [(False, "asyncio"), (True, "uvloop")])
def test_the_asyncio_engine_runs_on_the_loop_asked_for(uvloop: bool, expected: str) -> None:
    if uvloop and not UVLOOP:
        pytest.skip("uvloop is not installed")
    handler = LoopKind()
    with aio.Server(handler, ports="0", uvloop=uvloop) as server:
        assert server.uvloop is uvloop
        with smtplib.SMTP(*server.addresses[0], timeout=TIMEOUT) as client:
            client.helo("client.example.test")
    assert [module.split(".")[0] for module in handler.loops] == [expected]


def test_uvloop_is_the_default_loop_when_installed_and_never_on_trio() -> None:
    assert aio.Server(Handler(), ports="0").uvloop is UVLOOP
    assert aio.TrioServer(Handler(), ports="0").uvloop is False
    with pytest.raises(ValueError, match="uvloop=True needs the asyncio backend"):
        aio.TrioServer(Handler(), ports="0", uvloop=True)
