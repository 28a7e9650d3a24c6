"""Sessions of the engines that block in socket calls: threads, and gevent's green sockets.

One loop for both: hooks run in place, reads have no time-out (`transports.deadlines` ends
them), a reply goes out in one `send` when it fits. The engine brings its socket class
and its TLS handshake.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from smtp_proto import replies
from smtp_proto.session import Finish, Receive, RunHook, Session, StartTls, Step
from transports.capacity import BUSY, Slots, SlotWaiter
from transports.deadlines import Stopping, Watched
from transports.listen import Listener, fixed_local_address
from transports.options import READ_SIZE


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
