"""The anyio transport: one task per connection, on asyncio (uvloop when installed) or trio.

`async def` hooks are awaited on the loop; plain ones run in the server's own worker
threads, at most `max_processings` at once. Everything engine-neutral (binding, TLS setup,
counting, the session's steps) lives in the shared modules; this one only waits.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol

import anyio
from anyio.abc import ByteStream, TaskStatus
from anyio.from_thread import BlockingPortal

from smtp_proto import replies
from smtp_proto.handler import Handler
from smtp_proto.session import RunHook, Session
from transports import deadlines
from transports.aio_hooks import Workers, on_asyncio, run_hook
from transports.aio_session import IO_ERRORS, Connection, close
from transports.aio_stream import ProtocolStream, new_buffer
from transports.base import Bound, ServerBase, unbind
from transports.lean import LeanStream
from transports.listen import Listener
from transports.options import STOP_GRACE, STOP_LINGER

log = logging.getLogger("smtp_proto.transports")

BACKENDS: Final = ("asyncio", "trio")


class _Spawner(Protocol):
    """Starts tasks: an anyio task group, or on trio a nursery of its own."""

    def start_soon(
        self, func: Callable[..., Awaitable[Any]], /, *args: Any, name: object = None
    ) -> None:
        """Start `func(*args)` as a task of the group."""


def _session_group() -> AbstractAsyncContextManager[Any]:  # a _Spawner
    """The group the sessions run in. On trio, trio's own nursery: anyio's task group
    wraps every task in a coroutine of its own, a frame more at each of its wake-ups."""
    if on_asyncio():
        return anyio.create_task_group()
    import trio  # here: trio is an extra

    return trio.open_nursery()


async def _lean_stream(conn: socket.socket, peer: Any, buffer: bytearray | None) -> LeanStream:
    """The stream of an accepted connection: asyncio's when given its read `buffer`."""
    if buffer is not None:  # (asyncio's transport sets TCP_NODELAY itself)
        return await ProtocolStream.accept(conn, buffer, peer)
    from transports.trio_stream import accepted  # here: trio is an extra

    return accepted(conn, peer)


@dataclass
class _Running:
    """What exists only while `serve()` runs on a loop."""

    portal: BlockingPortal
    workers: Workers
    stop_requested: anyio.Event = field(default_factory=anyio.Event)
    poke: anyio.Event = field(default_factory=anyio.Event)  # set: the watchdog sweeps now
    served: anyio.Event = field(default_factory=anyio.Event)
    cut_off: anyio.CancelScope = field(default_factory=anyio.CancelScope)


class _ThreadReady(TaskStatus[Any]):
    """A task status that tells a waiting thread that `serve()` is listening."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def started(self, value: object = None) -> None:
        self.event.set()


class Server(ServerBase):
    """The anyio SMTP server; `ServerBase` arguments plus `backend` ("asyncio" or "trio")
    and `uvloop` (None: on asyncio when it is installed; True: required; False: never).

    Async use: `await task_group.start(server.serve)` returns once every listener is bound,
    `await server.shutdown(grace)` stops; it runs on the caller's loop. Blocking use, as with
    the threaded server: `start()` runs a loop in a thread of its own and returns once bound;
    `stop(grace)`, `join()`, `with server:`.
    """

    engine: ClassVar[str] = "asyncio"
    allows_async_hooks: ClassVar[bool] = True

    def __init__(
        self,
        handler: Handler,
        *args: Any,
        backend: str | None = None,
        uvloop: bool | None = None,
        **kwargs: Any,
    ) -> None:
        self.backend = backend or self.engine
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}: {self.backend!r}")
        if importlib.util.find_spec(self.backend) is None:
            raise ValueError(f"backend {self.backend!r} is not installed")
        installed = importlib.util.find_spec("uvloop") is not None
        if uvloop and (self.backend != "asyncio" or not installed):
            raise ValueError("uvloop=True needs the asyncio backend and uvloop installed")
        # Whether the blocking API's loop is uvloop.
        self.uvloop = self.backend == "asyncio" and (installed if uvloop is None else uvloop)
        super().__init__(handler, *args, **kwargs)

    def _init_engine(self) -> None:
        self._sessions: set[Connection] = set()
        self._running: _Running | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread = 0
        self._failure: BaseException | None = None

    # Async API ------------------------------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
        """Bind every listener, then serve until `shutdown()`; made for `TaskGroup.start`.

        Raises at once, before listening, when a listener cannot bind (see `start()`).
        """
        await self._serve(self._bind_once(), task_status)

    async def shutdown(self, grace: float = STOP_GRACE) -> None:
        """Stop as `stop()` does, from the server's own loop; returns once `serve()` ended."""
        if not self._started:
            self._stopped.set()
            return
        self._request_stop(grace)
        if self._running is not None:
            await self._running.served.wait()

    # Blocking API ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run the server on a loop in its own thread; returns once every listener is bound.

        Raises `OSError` when a listener cannot bind, `ValueError` for an address given
        twice, `RuntimeError` when already started.
        """
        bound = self._bind_once()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(bound, ready), name="smtp-proto-anyio", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._failure is not None:
            self._thread.join()
            raise self._failure

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop accepting, let sessions finish for `grace` seconds, then 421 and close.

        Returns once the server has stopped (a running hook is waited for). Harmless when
        repeated or before `start()`; from the server's own loop use `await shutdown()`.
        """
        with self._lock:
            started, running, thread = self._started, self._running, self._thread
        if not started:
            self._stopped.set()
            return
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("stop() would block the server's loop: await shutdown() instead")
        if running is not None:
            with contextlib.suppress(RuntimeError):  # the portal is gone: the loop has ended
                running.portal.call(self.shutdown, grace)
        self._stopped.wait()
        if thread is not None:
            thread.join()

    # Serving --------------------------------------------------------------------------------

    def _run(self, bound: Bound, ready: threading.Event) -> None:
        """The loop thread of the blocking API."""
        try:
            anyio.run(
                self._serve,
                bound,
                _ThreadReady(ready),
                backend=self.backend,
                backend_options={"use_uvloop": True} if self.uvloop else {},
            )
        except BaseException as err:  # reported by start(), or logged once running
            if ready.is_set():
                log.exception("the %s loop failed", self.backend)
            else:
                self._failure = err
        finally:
            for _, sock in bound:
                sock.close()
            self._stopped.set()
            ready.set()

    async def _serve(self, bound: Bound, task_status: TaskStatus[Any]) -> None:
        self._loop_thread = threading.get_ident()
        try:
            async with BlockingPortal() as portal:
                workers = Workers()
                running = self._running = _Running(portal, workers)
                try:
                    await self._run_sessions(bound, running, task_status)
                finally:
                    workers.close()  # idle by now: every hook has returned
                    running.served.set()
        finally:
            for _, sock in bound:
                sock.close()
            self._loop_thread = 0
            log.info("stopped")
            self._stopped.set()

    async def _run_sessions(
        self,
        servers: Bound,
        running: _Running,
        task_status: TaskStatus[Any],
    ) -> None:
        async with anyio.create_task_group() as watchdog:
            watchdog.start_soon(self._watch, running)
            # The cut-off ends whatever still runs at the grace deadline plus the linger time.
            with running.cut_off:
                async with _session_group() as sessions:
                    async with anyio.create_task_group() as acceptors:
                        for listener, server in servers:
                            acceptors.start_soon(self._accept_loop, listener, server, sessions)
                        task_status.started(self.addresses)
                        if self.stopping:
                            self._wake(running)
                        await running.stop_requested.wait()
                        acceptors.cancel_scope.cancel()
                    unbind(servers)  # clients trying now are refused by the system
            watchdog.cancel_scope.cancel()

    async def _watch(self, running: _Running) -> None:
        """The watchdog task: ends waits that are over (see transports.deadlines)."""
        while True:
            with anyio.move_on_after(deadlines.next_sweep(self._tick, self._stop.at)):
                await running.poke.wait()
                running.poke = anyio.Event()
            deadlines.sweep(list(self._sessions))

    def _request_stop(self, grace: float) -> None:
        if self.stopping:
            return
        self._stop.at = time.monotonic() + max(0.0, grace)
        if self._running is not None:
            self._wake(self._running)

    def _wake(self, running: _Running) -> None:
        """Stop accepting; wake waiting sessions and queued ones; arm the cut-off."""
        running.stop_requested.set()
        left = max(0.0, self._stop.deadline - time.monotonic())
        running.cut_off.deadline = anyio.current_time() + left + STOP_LINGER
        deadlines.sweep(list(self._sessions))  # idle sessions end now
        running.poke.set()  # and the watchdog looks again at the grace deadline
        self._slots.close()  # hooks waiting for a slot: 421

    # Accepting ------------------------------------------------------------------------------

    async def _accept_loop(
        self, listener: Listener, sock: socket.socket, sessions: _Spawner
    ) -> None:
        """Accept until cancelled by a stop, every waiting connection at once, into the
        backend's `LeanStream`."""
        sock.setblocking(False)
        # asyncio: every connection of this listener reads into one buffer in turn.
        buffer = new_buffer() if on_asyncio() else None
        while True:
            await anyio.wait_readable(sock)
            with anyio.CancelScope(shield=True):  # an accepted socket is never dropped
                while True:
                    try:
                        conn, peer = sock.accept()
                    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                        break
                    except OSError as err:  # e.g. out of file descriptors: back off a moment
                        log.error("accept on %s failed: %s", listener, err)
                        await anyio.sleep(0.1)
                        break
                    try:
                        stream = await _lean_stream(conn, peer, buffer)
                    except OSError:
                        conn.close()
                        continue
                    self._admit(stream, listener, sessions)

    def _admit(self, stream: LeanStream, listener: Listener, sessions: _Spawner) -> None:
        """Start the session of an accepted connection, or refuse it."""
        if self.stopping:  # accepted while the listeners were being closed
            sessions.start_soon(self._refuse, stream, listener, replies.SHUTTING_DOWN)
        elif self.utilization.admit():
            session = Connection(stream, listener, self)
            sessions.start_soon(self._session_main, session, name="smtp-proto session")
        else:
            log.warning("refused a connection on %s: too many connections", listener)
            sessions.start_soon(self._refuse, stream, listener, replies.TOO_BUSY)

    async def _refuse(self, stream: ByteStream, listener: Listener, reply: replies.Reply) -> None:
        try:
            if not listener.tls:  # a TLS client would read plain text as garbage
                with anyio.move_on_after(STOP_LINGER), contextlib.suppress(*IO_ERRORS):
                    await stream.send(reply.to_bytes())
        finally:
            await close(stream)

    # Sessions -------------------------------------------------------------------------------

    async def _session_main(self, session: Connection) -> None:
        self._sessions.add(session)
        try:
            await self._serve_session(session)
        except Exception:
            log.exception("session on %s failed", session.listener)
        finally:
            self._sessions.discard(session)
            # Counted out first: a client that saw the close may reconnect at once.
            self.utilization.leave()
            await close(session.stream)

    async def _serve_session(self, session: Connection) -> None:
        header = b""
        if session.listener.tls:
            if self.config.proxy_protocol is not None:
                header = await self._read_proxy_header(session.stream)
                if not self._proxy_whole(header):
                    log.info("no PROXY header on %s: closed", session.listener)
                    return
            failure = await session.handshake()
            if failure is not None:
                log.info("TLS handshake on %s failed: %s", session.listener, failure)
                return
        session.steps = self._open_session(session.listener, *session.addresses())
        if header:  # the session reads it first, as it would in clear text
            session.steps.feed(header)
        await session.drive(session.steps)

    async def _read_proxy_header(self, stream: ByteStream) -> bytes:
        """The PROXY header before an implicit-TLS client's hello, and not one octet more
        (the stream keeps the rest for the handshake), within the handshake's time-out."""
        data = b""
        with anyio.move_on_after(self.options.tls_handshake_timeout):
            with contextlib.suppress(*IO_ERRORS):
                while want := self._proxy_wanted(data):
                    data += await stream.receive(want)
        return data

    async def run_hook(self, steps: Session, step: RunHook) -> None:
        """Await an `async def` hook, or run a plain one in a worker thread, to its end and
        holding a processing slot when it needs one; hand its outcome to `steps`."""
        running = self._running
        assert running is not None  # noqa: S101 (sessions run inside serve)
        await run_hook(steps, step, self._slots, running.workers)


class TrioServer(Server):
    """`Server` on trio unless told otherwise."""

    engine: ClassVar[str] = "trio"
