"""What the engines that block in socket calls share: threads, and gevent's green sockets.

One session loop for both: hooks run in place, reads have no time-out (`transports.deadlines`
ends them), a reply goes out in one `send` when it fits. One server half for both: the
start of a stop, admission, and opening a session. The engine brings its socket class,
its TLS wrapper and its way of waiting for sessions.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from smtp_proto import replies
from smtp_proto.session import Finish, Receive, RunHook, Session, StartTls, Step
from transports.base import ServerBase, refuse
from transports.capacity import BUSY, Slots, SlotWaiter
from transports.deadlines import Stopping, Watched
from transports.listen import Listener, fixed_local_address
from transports.options import READ_SIZE

log = logging.getLogger("smtp_proto.transports")


class BlockingSession(Watched):
    """One accepted connection of a blocking engine (`sock` is replaced by STARTTLS)."""

    socket_class: ClassVar[Any] = socket.socket  # stdlib or gevent
    event_class: ClassVar[Any] = threading.Event  # stdlib or gevent

    def __init__(
        self, sock: Any, listener: Listener, stopping: Stopping, slots: Slots, remote: Any = None
    ) -> None:
        super().__init__(stopping)
        self.sock = sock
        self.listener = listener
        self.slots = slots
        self.remote = remote  # the client's address as accept() gave it
        self.broken = False  # a send failed: nothing more is written, reads see EOF

    def addresses(self) -> tuple[Any, Any]:
        """(local, remote) socket addresses, asking the socket only what accept() did not
        tell (each system call is a hand-over of the GIL in the threaded engine)."""
        local = fixed_local_address(self.listener) or self.sock.getsockname()
        return local, self.remote if self.remote is not None else self.sock.getpeername()

    def shutdown(self, how: int) -> None:
        """Shut the session's socket as a plain one (a TLS socket's own would unwrap)."""
        self.socket_class.shutdown(self.sock, how)

    def receive(self, steps: Session) -> None:
        """Wait for bytes and feed them, or time the session out, or shut it down."""
        if self.broken:
            steps.feed(b"")
            return
        while True:
            self.reading = True  # first: a sweep from now on sees the wait and may end it
            try:
                if self.wait_ended(steps):
                    return
                data = self.sock.recv(READ_SIZE)
            except OSError:  # a reset, a TLS error, or shut by the watchdog
                data = b""
            finally:
                self.reading = False
            if data or not self.woken:
                steps.feed(data)
                return

    def send(self, data: bytes, limit: float) -> None:
        """Send `data` within `limit` seconds; a failure or a stall marks the session broken."""
        if not data or self.broken:
            return
        self.send_by = time.monotonic() + limit
        try:
            sent = self.sock.send(data)  # one call for a reply; sendall only for the rest
            if sent < len(data):
                self.sock.sendall(memoryview(data)[sent:])
        except OSError:
            self.broken = True
        finally:
            self.send_by = math.inf

    def run_hook(self, steps: Session, step: RunHook) -> None:
        """Run the step's hook here, holding a processing slot when it needs one."""
        if not step.slot:
            steps.hook_done(step.call.run())
            return
        slots = self.slots
        waiter = slots.enter(lambda: SlotWaiter(self.event_class()))
        if waiter is not None:
            waiter.turn.wait(slots.wait)
            if not slots.settle(waiter):
                steps.no_slot(replies.SHUTTING_DOWN if slots.closed else BUSY)
                return
        try:
            outcome = step.call.run()
        finally:
            slots.leave()
        steps.hook_done(outcome)

    def drive(
        self,
        steps: Session,
        handshake: Callable[[], str | None],
        send_limit: float,
        *,
        first: Step | None = None,
        park: Callable[[], bool] | None = None,
    ) -> bool:
        """Run the session's steps from `first` (or the next one) to its end: hooks in
        place, sends within `send_limit` seconds, reads, and `handshake()` (what went
        wrong, or None) after STARTTLS. Before each read, `park()` may take the session
        over (True): then this returns True at once and the caller must let it be."""
        step = first
        while True:
            if step is None:
                step = steps.next_step()
            if isinstance(step, RunHook):
                self.run_hook(steps, step)
                step = None
                continue
            self.send(step.out, send_limit)
            if isinstance(step, Finish):
                return False
            if isinstance(step, StartTls):
                failure = handshake()
                if failure is None:
                    steps.tls_established()
                else:
                    self.broken = True
                    steps.tls_failed(failure)
                step = None
                continue
            assert isinstance(step, Receive)  # noqa: S101 (the last kind of step)
            if park is not None and park():
                return True
            self.receive(steps)
            step = None


class BlockingServer(ServerBase):
    """The server half the blocking engines share; see `ServerBase` for the arguments."""

    def _begin_stop(self, grace: float) -> bool:
        """Start the stop: True for the first call after `start()`, which must go on to
        end the sessions. Any other call returns False once the server has stopped."""
        with self._lock:
            first = self._started and self._stop.at is None
            if first:
                self._stop.at = time.monotonic() + max(0.0, grace)
            elif not self._started:
                self._stopped.set()
        if not first:
            self._stopped.wait()
        return first

    def _may_serve(self, sock: Any, listener: Listener) -> bool:
        """Whether to serve an accepted connection; if not, it was answered and closed."""
        if self.stopping:
            refuse(sock, listener, replies.SHUTTING_DOWN)
            return False
        if not self.utilization.admit():
            log.warning("refused a connection on %s: too many connections", listener)
            refuse(sock, listener, replies.TOO_BUSY)
            return False
        return True

    def _open(self, session: BlockingSession) -> Session | None:
        """Ready an accepted connection (no Nagle delay, the implicit TLS handshake) and
        give it its `Session`; None when the handshake failed."""
        with contextlib.suppress(OSError):
            session.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        header = b""
        if session.listener.tls:
            if self.config.proxy_protocol is not None:
                header = self._read_proxy_header(session)
                if not self._proxy_whole(header):
                    log.info("no PROXY header on %s: closed", session.listener)
                    return None
            failure = self._handshake(session)
            if failure is not None:
                log.info("TLS handshake on %s failed: %s", session.listener, failure)
                return None
        session.steps = self._open_session(session.listener, *session.addresses())
        if header:  # the session reads it first, as it would in clear text
            session.steps.feed(header)
        return session.steps

    def _read_proxy_header(self, session: BlockingSession) -> bytes:
        """The PROXY header before an implicit-TLS client's hello, and not one octet more,
        within the handshake's time-out; what came when it ends early."""
        data = b""
        deadline = time.monotonic() + self.options.tls_handshake_timeout
        with contextlib.suppress(OSError):  # a time-out, a reset: what came is all
            while want := self._proxy_wanted(data):
                session.sock.settimeout(max(0.001, deadline - time.monotonic()))
                chunk = session.sock.recv(want)
                if not chunk:
                    break
                data += chunk
        return data

    def _handshake(self, session: BlockingSession) -> str | None:
        """Run the server side of the TLS handshake; what went wrong, or None."""
        context = self.ssl_context
        if context is None or session.broken:
            return "no TLS context" if context is None else "connection broken"
        try:
            session.sock.settimeout(self.options.tls_handshake_timeout)
            session.sock = self._wrap_tls(session.sock, context)
            session.sock.do_handshake()
            session.sock.settimeout(None)  # reads block; the watchdog ends them
        except TimeoutError:
            return "time-out"
        except OSError as err:  # ssl.SSLError, a reset
            return str(err) or type(err).__name__
        return None

    @staticmethod
    def _wrap_tls(sock: Any, context: ssl.SSLContext) -> Any:
        """The server-side TLS socket over `sock`, not yet handshaken."""
        return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
