"""The gevent transport: one greenlet per connection, on gevent's own sockets and SSL.

The gevent hub runs in a thread of its own and nothing is monkey-patched, so blocking
code elsewhere in the process is untouched. Hooks run in the session's greenlet (they
should wait only cooperatively), so `async def` hooks are refused at construction.
Everything engine-neutral lives in the shared modules; this one only waits.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from typing import Any, Final

import gevent
import gevent.event
import gevent.socket
import gevent.ssl

from transports import deadlines
from transports.base import Bound, unbind
from transports.blocking import BlockingServer, BlockingSession
from transports.listen import Listener
from transports.options import STOP_GRACE, STOP_LINGER

log = logging.getLogger("smtp_proto.transports")

_GreenSocket: Final[Any] = gevent.socket.socket
_GreenSslSocket: Final[Any] = gevent.ssl.SSLSocket


class _Session(BlockingSession):
    """One accepted connection, served in a greenlet of its own."""

    socket_class = _GreenSocket
    event_class = gevent.event.Event


class Server(BlockingServer):
    """The gevent SMTP server; see `ServerBase` for the arguments.

    `start()` binds every listener (or raises), then runs a gevent hub in a thread of its
    own; `stop(grace)`, `join()` and `with server:` behave as in the threaded server.
    """

    engine = "gevent"

    def _init_engine(self) -> None:
        self._sessions: dict[_Session, Any] = {}  # session -> its greenlet
        self._thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None  # stop() writes a byte

    # Lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind every listener and start the hub's thread; raises if any cannot bind."""
        bound = self._bind_once()
        self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=self._run, args=(bound, self._wake[0]), name="smtp-proto-gevent", daemon=True
        )
        self._thread.start()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop accepting, let sessions finish for `grace` seconds, then 421 and close.

        Returns when every session has ended (a running hook is waited for). Calling it
        again, or before `start()`, is harmless.
        """
        if not self._begin_stop(grace):
            return
        assert self._wake is not None  # noqa: S101 (set by start)
        self._wake[1].send(b"!")  # wakes the acceptor and every waiting session
        if self._thread is not None:
            self._thread.join()
        for sock in self._wake:
            sock.close()
        log.info("stopped")
        self._stopped.set()

    def _run(self, bound: Bound, wake: socket.socket) -> None:
        """The hub's thread: accept until stopped, then wind the sessions down."""
        hub = gevent.get_hub()
        poke = gevent.event.Event()  # set: sweep now (the stop began)
        watchdog = gevent.spawn(self._watch, poke)
        try:
            self._accept_loop(bound, wake)
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

    def _accept_loop(self, bound: Bound, wake: socket.socket) -> None:
        """Accept on every listener until stop() writes to `wake`; then answer the backlog."""
        for _, sock in bound:
            sock.setblocking(False)
        acceptors = [gevent.spawn(self._accept_forever, sock, listener) for listener, sock in bound]
        try:
            gevent.socket.wait_read(wake.fileno())
        finally:
            gevent.killall(acceptors)  # they only ever wait in accept() (or back off)
            unbind(bound)

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
                if self._may_serve(sock, listener):
                    session = _Session(sock, listener, self._stop, self._slots, remote)
                    self._sessions[session] = gevent.spawn(self._session_main, session)
        finally:
            green.detach()

    # Sessions -------------------------------------------------------------------------------

    def _session_main(self, session: _Session) -> None:
        try:
            steps = self._open(session)
            if steps is not None:
                session.drive(steps, lambda: self._handshake(session), self._io_limit)
        except Exception:
            log.exception("session on %s failed", session.listener)
        finally:
            # Counted out before the close, so a client that sees the close can reconnect.
            self.utilization.leave()
            session.sock.close()
            del self._sessions[session]

    @staticmethod
    def _wrap_tls(sock: Any, context: ssl.SSLContext) -> Any:
        # gevent's SSLSocket over the stdlib context the shared TLS setup built.
        return _GreenSslSocket(
            sock=sock, server_side=True, do_handshake_on_connect=False, _context=context
        )
