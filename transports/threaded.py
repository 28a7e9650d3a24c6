"""The threaded transport: one acceptor thread, one thread per connection, blocking sockets.

Hooks run in the session's own thread, so `async def` hooks are refused at construction.
Everything engine-neutral (binding, TLS setup, counting, the session's steps) lives in
the shared modules; this one only waits.
"""

from __future__ import annotations

import contextlib
import logging
import math
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from typing import Final

from smtp_proto import replies
from transports.base import ServerBase
from transports.listen import Listener, accept_waiting
from transports.options import STOP_GRACE, STOP_LINGER
from transports.pump import READ_SIZE, Finish, Pump, Receive, RunHook, StartTls

log = logging.getLogger("smtp_proto.transports")

_Selector: Final = getattr(selectors, "PollSelector", selectors.SelectSelector)
_CLIENT: Final = "client"


class _Session:
    """One accepted connection: its current socket (replaced by STARTTLS) and listener."""

    def __init__(self, sock: socket.socket, listener: Listener) -> None:
        self.sock = sock
        self.listener = listener
        self.broken = False  # a send failed: nothing more is written, reads see EOF
        self.turn = threading.Event()  # set when a processing slot is given, or at stop
        self.has_slot = False

    def abort_io(self) -> None:
        """Shut the socket down under a blocked thread (the raw socket, not TLS)."""
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)


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
        self._queue: deque[_Session] = deque()  # waiting for a processing slot, in accept order
        self._started = False
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._grace_deadline = math.inf
        self._sessions: dict[_Session, threading.Thread] = {}
        self._acceptor: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        opts = self.options
        self._io_limit = max(opts.io_cmd_timeout, opts.io_data_timeout)

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

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop accepting, let sessions finish for `grace` seconds, then 421 and close.

        Returns when every session thread has ended (a running hook is waited for, so an
        accepted message is never lost). Calling it again, or before `start()`, is harmless.
        """
        with self._lock:
            first = self._started and not self._stopping.is_set()
            if first:
                self._grace_deadline = time.monotonic() + max(0.0, grace)
                self._stopping.set()
            elif not self._started:
                self._stopped.set()
        if not first:
            self._stopped.wait()
            return
        assert self._wake_w is not None  # noqa: S101 (set by start)
        self._wake_w.send(b"!")  # wakes the acceptor and every waiting session
        with self._lock:
            for queued in self._queue:
                queued.turn.set()  # without a slot: they get 421
            self._queue.clear()
        if self._acceptor is not None:
            self._acceptor.join()
        self._join_sessions()
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        log.info("stopped")
        self._stopped.set()

    def _join_sessions(self) -> None:
        me = threading.current_thread()  # stop() called from a hook must not wait for itself
        with self._lock:
            sessions = [(s, t) for s, t in self._sessions.items() if t is not me]
        limit = self._grace_deadline + STOP_LINGER
        for _, thread in sessions:
            thread.join(max(0.0, limit - time.monotonic()))
        for session, thread in sessions:
            if thread.is_alive():
                session.abort_io()
        for _, thread in sessions:
            thread.join()

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
                            self._refuse(waiting, listener, replies.SHUTTING_DOWN)

    def _accept(self, server_sock: socket.socket, listener: Listener) -> None:
        try:
            sock, _ = server_sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as err:  # e.g. out of file descriptors: back off a moment
            log.error("accept on %s failed: %s", listener, err)
            self._stopping.wait(0.1)
            return
        if self._stopping.is_set():
            self._refuse(sock, listener, replies.SHUTTING_DOWN)
            return
        if not self.utilization.admit():
            log.warning("refused a connection on %s: too many connections", listener)
            self._refuse(sock, listener, replies.TOO_BUSY)
            return
        session = _Session(sock, listener)
        thread = threading.Thread(
            target=self._session_main, args=(session,), name="smtp-proto-session", daemon=True
        )
        with self._lock:
            self._sessions[session] = thread
            # Slots go out in accept order, so a client is never starved by later ones.
            if self._stopping.is_set():  # stop() already emptied the queue
                session.turn.set()
            elif not self._queue and self.utilization.try_process():
                session.has_slot = True
                session.turn.set()
            else:
                self._queue.append(session)
        thread.start()

    def _refuse(self, sock: socket.socket, listener: Listener, reply: replies.Reply) -> None:
        with contextlib.closing(sock):
            if not listener.tls:  # a TLS client would read plain text as garbage
                with contextlib.suppress(OSError):
                    sock.setblocking(False)
                    sock.send(reply.to_bytes())

    # Sessions -------------------------------------------------------------------------------

    def _session_main(self, session: _Session) -> None:
        try:
            self._serve(session)
        except Exception:
            log.exception("session on %s failed", session.listener)
        finally:
            # Counted out before the close, so a client that sees the close can reconnect.
            self._give_up_slot(session)
            self.utilization.leave()
            session.sock.close()
            with self._lock:
                del self._sessions[session]

    def _serve(self, session: _Session) -> None:
        session.sock.settimeout(self._io_limit)
        with contextlib.suppress(OSError):
            session.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if session.listener.tls:
            failure = self._handshake(session)
            if failure is not None:
                log.info("TLS handshake on %s failed: %s", session.listener, failure)
                return
        session.turn.wait()
        if not session.has_slot:  # the server stopped while this session was queued
            self._send(session, replies.SHUTTING_DOWN.to_bytes())
            return
        self._drive(session, self._open_session(session.listener, session.sock))

    def _give_up_slot(self, session: _Session) -> None:
        """Hand the session's slot to the first queued session, or leave the queue."""
        with self._lock:
            if not session.has_slot:
                with contextlib.suppress(ValueError):
                    self._queue.remove(session)
                return
            session.has_slot = False
            if self._queue:
                successor = self._queue.popleft()
                successor.has_slot = True
                successor.turn.set()
            else:
                self.utilization.done_processing()

    def _drive(self, session: _Session, pump: Pump) -> None:
        assert self._wake_r is not None  # noqa: S101 (set by start)
        with _Selector() as waiter:
            # The client's fd stays the same when STARTTLS replaces the socket object.
            waiter.register(session.sock, selectors.EVENT_READ, _CLIENT)
            waiter.register(self._wake_r, selectors.EVENT_READ, None)
            while True:
                step = pump.next_step()
                if isinstance(step, RunHook):
                    pump.hook_done(step.call.run())
                    continue
                self._send(session, step.out)
                if isinstance(step, Finish):
                    return
                if isinstance(step, StartTls):
                    failure = self._handshake(session)
                    if failure is None:
                        pump.tls_established()
                    else:
                        session.broken = True
                        pump.tls_failed(failure)
                    continue
                assert isinstance(step, Receive)  # noqa: S101 (the last kind of step)
                self._receive(session, pump, waiter)

    def _receive(self, session: _Session, pump: Pump, waiter: selectors.BaseSelector) -> None:
        """Wait for bytes and feed them, or time the session out, or shut it down."""
        sock = session.sock
        if session.broken:
            pump.feed(b"")
            return
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            self._read(session, pump)
            return
        while True:
            left = pump.timeout()
            if left <= 0:
                pump.timed_out()
                return
            if self._stopping.is_set():
                grace_left = self._grace_deadline - time.monotonic()
                if pump.idle or grace_left <= 0:
                    pump.shut_down()
                    return
                if self._wake_r is not None and self._wake_r in waiter.get_map():
                    waiter.unregister(self._wake_r)  # stays readable: stop listening to it
                left = min(left, grace_left)
            if any(key.data is _CLIENT for key, _ in waiter.select(left)):
                self._read(session, pump)
                return

    def _read(self, session: _Session, pump: Pump) -> None:
        try:
            data = session.sock.recv(READ_SIZE)
        except OSError:  # reset, TLS error, or a TLS record that never completed
            data = b""
        pump.feed(data)

    def _send(self, session: _Session, data: bytes) -> None:
        if not data or session.broken:
            return
        try:
            session.sock.sendall(data)
        except OSError:
            session.broken = True

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
            session.sock.settimeout(self._io_limit)
        except TimeoutError:
            return "time-out"
        except OSError as err:
            return str(err) or type(err).__name__
        return None
