"""The threaded transport: a reactor thread, session threads, blocking sockets.

The reactor thread (`transports.reactor`) accepts, and holds every plain-socket session
that waits for its client: it reads what comes and runs the session's steps itself while
they only answer and wait again. Any other step (a hook to run, STARTTLS, a reply the
socket's buffer cannot take at once) goes to a session thread, which runs it with
blocking calls and parks the session again at its next wait; TLS sessions keep their
thread. A hook waits for its processing slot in that thread. Hooks therefore always run
in a session thread, never in the reactor, so `async def` hooks are refused at
construction. Session threads are reused (`transports.thread_pool`); reads have no time-out:
a watchdog thread ends waits that are over (`transports.deadlines`). Without epoll (not
Linux) every session keeps its thread. Everything engine-neutral (binding, TLS setup,
counting, the session's steps) lives in the shared modules; this one only waits.
"""

from __future__ import annotations

import functools
import logging
import socket
import ssl
import threading
import time
from typing import Any

from smtp_proto.session import Finish, Receive, Step
from transports import deadlines, reactor
from transports.base import Bound, unbind
from transports.blocking import BlockingServer, BlockingSession
from transports.capacity import Slots
from transports.deadlines import Stopping
from transports.listen import Listener
from transports.options import READ_SIZE, STOP_GRACE, STOP_LINGER
from transports.thread_pool import Workers

log = logging.getLogger("smtp_proto.transports")
_ACCEPT_BATCH = 64


class _Session(BlockingSession):
    """One accepted connection, in a session thread or parked in the reactor."""

    def __init__(
        self, sock: socket.socket, listener: Listener, stopping: Stopping, slots: Slots, remote: Any
    ) -> None:
        super().__init__(sock, listener, stopping, slots, remote)
        self.done = threading.Event()  # the session has ended and its socket is closed
        self.thread: threading.Thread | None = None  # the worker running it, if any
        self.parked = False  # in the reactor, waiting for the client


class Server(BlockingServer):
    """The threaded SMTP server; see `ServerBase` for the arguments.

    `start()` binds every listener or raises (`OSError`, `ValueError` for a duplicate
    address); `stop(grace)` stops accepting, closes idle sessions and hooks waiting for a
    slot with 421 4.3.2 at once, lets the others finish for `grace` seconds, then sends them
    421 4.3.2 and closes. Use as a context manager to start and stop.
    """

    engine = "threads"

    def _init_engine(self) -> None:
        self._unbound = threading.Event()  # set once the listeners are closed
        self._sessions: set[_Session] = set()
        self._workers = Workers("smtp-proto-session")
        self._reactor: reactor.Reactor | None = None
        self._reactor_thread: threading.Thread | None = None
        self._parking = reactor.AVAILABLE  # False once the reactor takes no more sessions
        self._parked = 0  # sessions in the reactor now
        self._poke = threading.Event()  # wakes the watchdog for a sweep now
        self._watchdog: threading.Thread | None = None

    # Lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind every listener and start accepting; raises if any listener cannot bind."""
        bound = self._bind_once()
        self._reactor = reactor.Reactor()
        self._reactor_thread = threading.Thread(
            target=self._react, args=(bound,), name="smtp-proto-reactor", daemon=True
        )
        self._reactor_thread.start()
        self._watchdog = threading.Thread(
            target=self._watch, name="smtp-proto-watchdog", daemon=True
        )
        self._watchdog.start()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop accepting, let sessions finish for `grace` seconds, then 421 and close.

        Returns when every session has ended (a running hook is waited for, so an
        accepted message is never lost). Calling it again, or before `start()`, is harmless.
        """
        if not self._begin_stop(grace):
            return
        assert self._reactor is not None  # noqa: S101 (set by start)
        self._reactor.wake()  # it closes the listeners
        self._poke.set()  # idle sessions end now
        self._unbound.wait()
        self._slots.close()  # hooks waiting for a slot: 421
        self._join_sessions()
        self._workers.close()
        self._workers.join()
        with self._lock:
            me = threading.current_thread()
            from_a_session = any(s.thread is me for s in self._sessions)
        self._reactor.wake()  # with no session left, the reactor ends
        if not from_a_session and self._reactor_thread is not None:
            self._reactor_thread.join()  # first: the watchdog ends only once it has
        self._poke.set()
        if not from_a_session and self._watchdog is not None:
            self._watchdog.join()
        log.info("stopped")
        self._stopped.set()

    def _reactor_alive(self) -> bool:
        return self._reactor_thread is not None and self._reactor_thread.is_alive()

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
            self._poke.wait(deadlines.next_sweep(self._tick, self._stop.at))
            self._poke.clear()
            with self._lock:
                sessions = list(self._sessions)
            deadlines.sweep(sessions)
            if self.stopping and not sessions and not self._reactor_alive():
                return

    # The reactor thread ---------------------------------------------------------------------

    def _react(self, bound: Bound) -> None:
        """Accept, and serve parked sessions, until stopped and no session is parked."""
        loop = self._reactor
        assert loop is not None  # noqa: S101 (set by start)
        try:
            for listener, sock in bound:
                sock.setblocking(False)
                loop.add(sock.fileno(), functools.partial(self._accept, sock, listener))
            while not self.stopping:
                loop.run_once(None)
            for _, sock in bound:
                loop.remove(sock.fileno())
            unbind(bound)
            self._unbound.set()
            while not self._reactor_done():
                loop.run_once(self._tick)
        finally:
            for _, sock in bound:
                sock.close()
            self._unbound.set()
            with self._lock:
                self._parking = False
            loop.close()

    def _reactor_done(self) -> bool:
        """Whether the reactor may end: stopping, and no session parked (none may park
        from now on: the sessions still running keep their threads)."""
        with self._lock:
            if self._parked:
                return False
            self._parking = False
            return True

    def _accept(self, server_sock: socket.socket, listener: Listener) -> None:
        """Accept what waits, up to a batch: a burst is taken in few wake-ups, while the
        sessions that are parked here still get their turn between batches."""
        for _ in range(_ACCEPT_BATCH):
            try:
                sock, remote = server_sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as err:  # e.g. out of file descriptors: back off a moment
                log.error("accept on %s failed: %s", listener, err)
                time.sleep(0.1)
                return
            self._admit(sock, remote, listener)

    def _admit(self, sock: socket.socket, remote: Any, listener: Listener) -> None:
        if not self._may_serve(sock, listener):
            return
        session = _Session(sock, listener, self._stop, self._slots, remote)
        with self._lock:
            self._sessions.add(session)
        if self._parking and not listener.tls:
            self._begin_here(session)
        else:  # a TLS handshake: in a thread of its own
            self._workers.run(functools.partial(self._session_main, session))

    def _begin_here(self, session: _Session) -> None:
        """Start a plain session in the reactor: its greeting, and on to its first wait."""
        try:
            session.sock.setblocking(False)
            self._open(session)
            self._advance(session)
        except Exception:
            log.exception("session on %s failed", session.listener)
            self._end(session)

    def _readable(self, session: _Session) -> None:
        """A parked session's socket has bytes, or the client's end, or was shut."""
        steps = session.steps
        assert steps is not None  # noqa: S101 (parked sessions are being processed)
        session.reading = False
        try:
            data = session.sock.recv(READ_SIZE)
        except BlockingIOError:
            session.reading = True
            return
        except OSError:  # a reset, or shut by the watchdog
            data = b""
        try:
            if data or not session.woken:
                steps.feed(data)
            # else the watchdog ended the wait: the next check queues the 421
            self._advance(session)
        except Exception:
            log.exception("session on %s failed", session.listener)
            self._end(session)

    def _advance(self, session: _Session) -> None:
        """Run the session's steps here while they only answer and wait; park it at the
        wait, or hand any other step to a session thread."""
        steps = session.steps
        assert steps is not None  # noqa: S101 (set before)
        while True:
            step = steps.next_step()
            if not isinstance(step, (Receive, Finish)):
                self._hand_over(session, step)
                return
            rest = self._send_now(session, step.out)
            if rest:  # the client reads slowly: a thread waits for it
                self._hand_over(session, type(step)(rest))
                return
            if isinstance(step, Finish):
                self._end(session)
                return
            if session.broken:
                steps.feed(b"")  # as a blocking read would see it
                continue
            session.reading = True  # first: a sweep from now on sees the wait
            if session.wait_ended(steps):  # the 421 is queued: on to the end
                session.reading = False
                continue
            if not session.parked:
                self._park(session)
            return

    @staticmethod
    def _send_now(session: _Session, out: bytes) -> bytes:
        """Send what the socket takes at once; what is left (b"": all, or it broke)."""
        if not out or session.broken:
            return b""
        try:
            sent = session.sock.send(out)
        except BlockingIOError:
            return out
        except OSError:
            session.broken = True
            return b""
        return out[sent:]

    def _park(self, session: _Session) -> None:
        with self._lock:
            self._parked += 1
        self._register(session)

    def _register(self, session: _Session) -> None:
        """Hand a counted-in session to the reactor: from here on the reactor owns it."""
        assert self._reactor is not None  # noqa: S101 (set by start)
        session.parked = True
        session.thread = None
        self._reactor.add(session.sock.fileno(), functools.partial(self._readable, session))

    def _unpark(self, session: _Session) -> None:
        if session.parked:
            assert self._reactor is not None  # noqa: S101 (set by start)
            self._reactor.remove(session.sock.fileno())
            session.parked = False
            with self._lock:
                self._parked -= 1

    def _hand_over(self, session: _Session, step: Step) -> None:
        """Give the session to a thread, which runs `step` and on from there."""
        self._unpark(session)
        session.reading = False
        session.sock.setblocking(True)
        self._workers.run(functools.partial(self._resume, session, step))

    # Session threads ------------------------------------------------------------------------

    def _try_park(self, session: _Session) -> bool:
        """From a session thread at a wait: give a plain session back to the reactor."""
        if isinstance(session.sock, ssl.SSLSocket):  # its reads may be buffered in TLS
            return False
        steps = session.steps
        assert steps is not None  # noqa: S101 (set before)
        with self._lock:
            if not self._parking:
                return False
            self._parked += 1  # now: the reactor stays until it is unparked
        session.sock.setblocking(False)
        session.reading = True  # first: a sweep from now on sees the wait
        if session.wait_ended(steps):  # the 421 is queued: this thread sends it
            session.reading = False
            session.sock.setblocking(True)
            with self._lock:
                self._parked -= 1
            return False
        self._register(session)  # last: the session is the reactor's now
        return True

    def _resume(self, session: _Session, step: Step) -> None:
        """A session thread takes over a session from the reactor at `step`."""
        session.thread = threading.current_thread()
        try:
            if self._drive(session, step):
                return  # parked again
        except Exception:
            log.exception("session on %s failed", session.listener)
        self._end(session)

    def _session_main(self, session: _Session) -> None:
        session.thread = threading.current_thread()
        try:
            if self._serve(session):
                return  # parked: the reactor has it now
        except Exception:
            log.exception("session on %s failed", session.listener)
        self._end(session)

    def _end(self, session: _Session) -> None:
        """The session is over: count it out, close its socket."""
        self._unpark(session)
        # Counted out before the close, so a client that sees the close can reconnect.
        self.utilization.leave()
        session.sock.close()
        with self._lock:
            self._sessions.discard(session)
        session.done.set()

    def _serve(self, session: _Session) -> bool:
        """Serve a session in this thread; True once it is parked in the reactor."""
        return self._open(session) is not None and self._drive(session, None)

    def _drive(self, session: _Session, first: Step | None) -> bool:
        steps = session.steps
        assert steps is not None  # noqa: S101 (set before)
        return session.drive(
            steps,
            lambda: self._handshake(session),
            self._io_limit,
            first=first,
            park=lambda: self._try_park(session),
        )
