"""The threaded transport: an acceptor thread, a thread per connection, blocking sockets.

Session threads are reused (`transports.workers`) and reads have no time-out: a watchdog
thread ends waits that are over (`transports.watch`). Hooks run in the session's own
thread, so `async def` hooks are refused at construction.
Everything engine-neutral (binding, TLS setup, counting, the session's steps) lives in
the shared modules; this one only waits.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import selectors
import socket
import threading
import time
from typing import Any, Final

from smtp_proto import replies
from transports import watch
from transports.base import ServerBase, refuse
from transports.blocking import BlockingSession
from transports.limits import Slots
from transports.listen import Listener, accept_waiting
from transports.options import STOP_GRACE, STOP_LINGER
from transports.watch import Stopping
from transports.workers import Workers

log = logging.getLogger("smtp_proto.transports")

_Selector: Final = getattr(selectors, "PollSelector", selectors.SelectSelector)
_CLIENT: Final = "client"


class _Session(BlockingSession):
    """One accepted connection; `turn` is set when a processing slot is given, or at stop."""

    def __init__(
        self, sock: socket.socket, listener: Listener, stopping: Stopping, remote: Any
    ) -> None:
        super().__init__(sock, listener, stopping, remote)
        self.turn = threading.Event()
        self.done = threading.Event()  # the session has ended and its socket is closed
        self.thread: threading.Thread | None = None  # the worker running it


class Server(ServerBase):
    """The threaded SMTP server; see `ServerBase` for the arguments.

    `start()` binds every listener or raises (`OSError`, `ValueError` for a duplicate
    address); `stop(grace)` stops accepting, closes idle sessions and queued ones with
    421 4.3.2 at once, lets the others finish for `grace` seconds, then sends them
    421 4.3.2 and closes. Use as a context manager to start and stop.
    """

    engine = "threads"

    def _init_engine(self) -> None:
        self._lock = threading.Lock()
        self._slots = Slots(self.utilization)
        self._started = False
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._sessions: set[_Session] = set()
        self._workers = Workers("smtp-proto-session")
        self._acceptor: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        opts = self.options
        self._io_limit = max(opts.io_cmd_timeout, opts.io_data_timeout)
        self._stop = Stopping()  # what sessions see of a stop
        self._tick = watch.tick(opts.io_cmd_timeout, opts.io_data_timeout)
        self._poke = threading.Event()  # wakes the watchdog for a sweep now
        self._watchdog: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        """Whether `stop()` has begun (the server accepts no more connections)."""
        return self._stopping.is_set()

    # Lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind every listener and start accepting; raises if any listener cannot bind."""
        with self._lock:
            if self._started:
                raise RuntimeError("the server was already started")
            bound = self._bind_all()
            self._started = True
            self._wake_r, self._wake_w = socket.socketpair()
            self._acceptor = threading.Thread(
                target=self._accept_loop, args=(bound,), name="smtp-proto-accept", daemon=True
            )
            self._acceptor.start()
            self._watchdog = threading.Thread(
                target=self._watch, name="smtp-proto-watchdog", daemon=True
            )
            self._watchdog.start()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop accepting, let sessions finish for `grace` seconds, then 421 and close.

        Returns when every session thread has ended (a running hook is waited for, so an
        accepted message is never lost). Calling it again, or before `start()`, is harmless.
        """
        with self._lock:
            first = self._started and not self._stopping.is_set()
            if first:
                self._stop.at = time.monotonic() + max(0.0, grace)
                self._stopping.set()
            elif not self._started:
                self._stopped.set()
        if not first:
            self._stopped.wait()
            return
        assert self._wake_w is not None  # noqa: S101 (set by start)
        self._wake_w.send(b"!")  # wakes the acceptor
        self._poke.set()  # idle sessions end now
        if self._acceptor is not None:
            self._acceptor.join()
        self._slots.release_all()  # with nothing accepted any more; they get 421
        self._join_sessions()
        self._workers.close()
        self._workers.join()
        self._poke.set()  # with no session left, the watchdog ends
        with self._lock:
            me = threading.current_thread()
            from_a_session = any(s.thread is me for s in self._sessions)
        if self._watchdog is not None and not from_a_session:
            self._watchdog.join()
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        log.info("stopped")
        self._stopped.set()

    def _join_sessions(self) -> None:
        me = threading.current_thread()  # stop() called from a hook must not wait for itself
        with self._lock:
            sessions = [s for s in self._sessions if s.thread is not me]
        limit = self._stop.deadline + STOP_LINGER
        for session in sessions:
            session.done.wait(max(0.0, limit - time.monotonic()))
        for session in sessions:
            if not session.done.is_set():
                session.cut()
        for session in sessions:
            session.done.wait()

    def _watch(self) -> None:
        """The watchdog: ends waits that are over until the server has stopped."""
        while True:
            self._poke.wait(watch.next_sweep(self._tick, self._stop.at))
            self._poke.clear()
            with self._lock:
                sessions = list(self._sessions)
            watch.sweep(sessions)
            if self._stopping.is_set() and not sessions and self._acceptor_done():
                return

    def _acceptor_done(self) -> bool:
        return self._acceptor is None or not self._acceptor.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the server has stopped; False if `timeout` seconds passed first."""
        with self._lock:
            if not self._started:
                return True
        return self._stopped.wait(timeout)

    # Accepting ------------------------------------------------------------------------------

    def _accept_loop(self, bound: list[tuple[Listener, socket.socket]]) -> None:
        with _Selector() as selector:
            for listener, sock in bound:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ, (sock, listener))
            assert self._wake_r is not None  # noqa: S101 (set by start)
            selector.register(self._wake_r, selectors.EVENT_READ, None)
            try:
                while not self._stopping.is_set():
                    for key, _ in selector.select():
                        if key.data is not None:
                            self._accept(*key.data)
            finally:
                for listener, sock in bound:
                    with sock:  # answer the backlog rather than reset it by closing
                        for waiting in accept_waiting(sock):
                            refuse(waiting, listener, replies.SHUTTING_DOWN)

    def _accept(self, server_sock: socket.socket, listener: Listener) -> None:
        try:
            sock, remote = server_sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as err:  # e.g. out of file descriptors: back off a moment
            log.error("accept on %s failed: %s", listener, err)
            self._stopping.wait(0.1)
            return
        if self._stopping.is_set():
            refuse(sock, listener, replies.SHUTTING_DOWN)
            return
        if not self.utilization.admit():
            log.warning("refused a connection on %s: too many connections", listener)
            refuse(sock, listener, replies.TOO_BUSY)
            return
        session = _Session(sock, listener, self._stop, remote)
        with self._lock:
            self._sessions.add(session)
        self._slots.enter(session)
        self._workers.run(functools.partial(self._session_main, session))

    # Sessions -------------------------------------------------------------------------------

    def _session_main(self, session: _Session) -> None:
        session.thread = threading.current_thread()
        try:
            self._serve(session)
        except Exception:
            log.exception("session on %s failed", session.listener)
        finally:
            # Counted out before the close, so a client that sees the close can reconnect.
            self._slots.leave(session)
            self.utilization.leave()
            session.sock.close()
            with self._lock:
                self._sessions.discard(session)
            session.done.set()

    def _serve(self, session: _Session) -> None:
        with contextlib.suppress(OSError):
            session.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if session.listener.tls:
            failure = self._handshake(session)
            if failure is not None:
                log.info("TLS handshake on %s failed: %s", session.listener, failure)
                return
        session.turn.wait()
        if not session.has_slot:  # the server stopped while this session was queued
            session.send(replies.SHUTTING_DOWN.to_bytes(), self._io_limit)
            return
        session.pump = self._open_session(session.listener, *session.addresses())
        session.drive(session.pump, lambda: self._handshake(session), self._io_limit)

    def _handshake(self, session: _Session) -> str | None:
        """Run the server side of the TLS handshake; what went wrong, or None."""
        context = self.ssl_context
        if context is None or session.broken:
            return "no TLS context" if context is None else "connection broken"
        try:
            session.sock.settimeout(self.options.tls_handshake_timeout)
            session.sock = context.wrap_socket(
                session.sock, server_side=True, do_handshake_on_connect=False
            )
            session.sock.do_handshake()
            session.sock.settimeout(None)  # reads block; the watchdog ends them
        except TimeoutError:
            return "time-out"
        except OSError as err:
            return str(err) or type(err).__name__
        return None
