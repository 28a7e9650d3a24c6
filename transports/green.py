"""The gevent transport: one greenlet per connection, on gevent's own sockets and SSL.

The gevent hub runs in a thread of its own and nothing is monkey-patched, so blocking
code elsewhere in the process is untouched. Hooks run in the session's greenlet (they
should wait only cooperatively), so `async def` hooks are refused at construction.
Everything engine-neutral lives in the shared modules; this one only waits.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any, Final

import gevent
import gevent.event
import gevent.socket
import gevent.ssl

from smtp_proto import replies
from transports import deadlines
from transports.base import ServerBase, refuse
from transports.blocking import BlockingSession
from transports.capacity import Slots
from transports.deadlines import Stopping
from transports.listen import Listener, accept_waiting
from transports.options import STOP_GRACE, STOP_LINGER

log = logging.getLogger("smtp_proto.transports")

_Bound = list[tuple[Listener, socket.socket]]
_GreenSocket: Final[Any] = gevent.socket.socket
_GreenSslSocket: Final[Any] = gevent.ssl.SSLSocket


class _Session(BlockingSession):
    """One accepted connection, served in a greenlet of its own."""

    socket_class = _GreenSocket
    event_class = gevent.event.Event


class Server(ServerBase):
    """The gevent SMTP server; see `ServerBase` for the arguments.

    `start()` binds every listener (or raises), then runs a gevent hub in a thread of its
    own; `stop(grace)`, `join()` and `with server:` behave as in the threaded server.
    """

    engine = "gevent"

    def _init_engine(self) -> None:
        self._lock = threading.Lock()
        self._started = False
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._sessions: dict[_Session, Any] = {}  # session -> its greenlet
        self._slots = Slots(self.utilization, self.options.processing_wait)
        self._thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None  # stop() writes a byte
        opts = self.options
        self._io_limit = max(opts.io_cmd_timeout, opts.io_data_timeout)
        self._stop = Stopping()  # what sessions see of a stop
        self._tick = deadlines.tick(opts.io_cmd_timeout, opts.io_data_timeout)

    @property
    def stopping(self) -> bool:
        """Whether `stop()` has begun (the server accepts no more connections)."""
        return self._stopping.is_set()

    # Lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind every listener and start the hub's thread; raises if any cannot bind."""
        with self._lock:
            if self._started:
                raise RuntimeError("the server was already started")
            bound = self._bind_all()
            self._started = True
            self._wake = socket.socketpair()
            self._thread = threading.Thread(
                target=self._run, args=(bound,), name="smtp-proto-gevent", daemon=True
            )
            self._thread.start()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop accepting, let sessions finish for `grace` seconds, then 421 and close.

        Returns when every session has ended (a running hook is waited for). Calling it
        again, or before `start()`, is harmless.
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
        assert self._wake is not None  # noqa: S101 (set by start)
        self._wake[1].send(b"!")  # wakes the acceptor and every waiting session
        if self._thread is not None:
            self._thread.join()
        for sock in self._wake:
            sock.close()
        log.info("stopped")
        self._stopped.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the server has stopped; False if `timeout` seconds passed first."""
        with self._lock:
            if not self._started:
                return True
        return self._stopped.wait(timeout)

    def _run(self, bound: _Bound) -> None:
        """The hub's thread: accept until stopped, then wind the sessions down."""
        hub = gevent.get_hub()
        poke = gevent.event.Event()  # set: sweep now (the stop began)
        watchdog = gevent.spawn(self._watch, poke)
        try:
            self._accept_loop(bound, self._wake_r)
            poke.set()
            self._wind_down()
        except BaseException:  # a bug; the stop must still end
            log.exception("the gevent hub failed")
        finally:
            watchdog.kill()
            hub.destroy(destroy_loop=True)

    def _watch(self, poke: gevent.event.Event) -> None:
        """The watchdog greenlet: ends waits that are over (see transports.deadlines)."""
        while True:
            if poke.wait(deadlines.next_sweep(self._tick, self._stop.at)):
                poke.clear()
            deadlines.sweep(list(self._sessions))

    def _wind_down(self) -> None:
        self._slots.close()  # hooks waiting for a slot: 421
        greenlets = list(self._sessions.values())
        left = self._stop.deadline + STOP_LINGER - time.monotonic()
        gevent.joinall(greenlets, timeout=max(0.0, left))
        for session, greenlet in list(self._sessions.items()):
            if not greenlet.dead:
                session.cut()
        gevent.joinall(greenlets)

    # Accepting ------------------------------------------------------------------------------

    @property
    def _wake_r(self) -> socket.socket:
        assert self._wake is not None  # noqa: S101 (set by start)
        return self._wake[0]

    def _accept_loop(self, bound: _Bound, wake: socket.socket) -> None:
        """Accept on every listener until stop() writes to `wake`; then answer the backlog."""
        for _, sock in bound:
            sock.setblocking(False)
        acceptors = [gevent.spawn(self._accept_forever, sock, listener) for listener, sock in bound]
        try:
            gevent.socket.wait_read(wake.fileno())
        finally:
            gevent.killall(acceptors)  # they only ever wait in accept() (or back off)
            for listener, sock in bound:
                with sock:  # answer the backlog rather than reset it by closing
                    for waiting in accept_waiting(sock):
                        refuse(waiting, listener, replies.SHUTTING_DOWN)

    def _accept_forever(self, server_sock: socket.socket, listener: Listener) -> None:
        # gevent's view of the listening socket; the stdlib one keeps (and closes) the fd.
        green = _GreenSocket(server_sock.family, server_sock.type, 0, server_sock.fileno())
        try:
            while True:
                try:
                    sock, remote = green.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError as err:  # e.g. out of file descriptors: back off a moment
                    log.error("accept on %s failed: %s", listener, err)
                    gevent.sleep(0.1)
                    continue
                self._admit(sock, listener, remote)
        finally:
            green.detach()

    def _admit(self, sock: Any, listener: Listener, remote: Any) -> None:
        """Start the session of an accepted connection (a gevent socket), or refuse it."""
        if self._stopping.is_set():
            refuse(sock, listener, replies.SHUTTING_DOWN)
        elif not self.utilization.admit():
            log.warning("refused a connection on %s: too many connections", listener)
            refuse(sock, listener, replies.TOO_BUSY)
        else:
            session = _Session(sock, listener, self._stop, self._slots, remote)
            self._sessions[session] = gevent.spawn(self._session_main, session)

    # Sessions -------------------------------------------------------------------------------

    def _session_main(self, session: _Session) -> None:
        try:
            self._serve(session)
        except Exception:
            log.exception("session on %s failed", session.listener)
        finally:
            # Counted out before the close, so a client that sees the close can reconnect.
            self.utilization.leave()
            session.sock.close()
            del self._sessions[session]

    def _serve(self, session: _Session) -> None:
        with contextlib.suppress(OSError):
            session.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if session.listener.tls:
            failure = self._handshake(session)
            if failure is not None:
                log.info("TLS handshake on %s failed: %s", session.listener, failure)
                return
        session.steps = self._open_session(session.listener, *session.addresses())
        session.drive(session.steps, lambda: self._handshake(session), self._io_limit)

    def _handshake(self, session: _Session) -> str | None:
        """Run the server side of the TLS handshake; what went wrong, or None."""
        context = self.ssl_context
        if context is None or session.broken:
            return "no TLS context" if context is None else "connection broken"
        try:
            session.sock.settimeout(self.options.tls_handshake_timeout)
            # gevent's SSLSocket over the stdlib context the shared TLS setup built.
            session.sock = _GreenSslSocket(
                sock=session.sock, server_side=True, do_handshake_on_connect=False, _context=context
            )
            session.sock.do_handshake()
            session.sock.settimeout(None)  # reads block; the watchdog ends them
        except OSError as err:  # ssl.SSLError, a time-out, a reset
            return str(err) or type(err).__name__
        return None
