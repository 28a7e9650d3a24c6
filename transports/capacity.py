"""Counting connections and processings (MidiSmtpServer's utilization), shared by every engine.

Only counts, admits and queues; each engine waits for a processing slot its own way.
The locks are held for a few instructions and never across a wait, so greenlets and event
loops may use them too.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol, TypeVar

from smtp_proto.replies import Reply

# A hook found no processing slot within the wait: the session ends, to be tried again.
BUSY: Final = Reply(421, ("Server busy, try again later",), (4, 3, 2))


class Utilization:
    """Open connections and sessions being processed, against their limits.

    `max_connections` None means unlimited; a connection beyond it is refused with
    421 4.3.2 by the engine. `max_processings` bounds the hooks that run at once (see
    `Slots`).
    """

    def __init__(self, max_connections: int | None, max_processings: int) -> None:
        self.max_connections = max_connections
        self.max_processings = max_processings
        self._lock = threading.Lock()
        self._connections = 0
        self._processings = 0

    @property
    def connections(self) -> int:
        """Connections open now, queued ones included."""
        return self._connections

    @property
    def processings(self) -> int:
        """Hooks holding a processing slot now."""
        return self._processings

    def admit(self) -> bool:
        """Count a new connection; False (and not counted) when it would pass the limit."""
        with self._lock:
            if self.max_connections is not None and self._connections >= self.max_connections:
                return False
            self._connections += 1
            return True

    def leave(self) -> None:
        """A counted connection has closed."""
        with self._lock:
            self._connections -= 1

    def try_process(self) -> bool:
        """Take a processing slot if one is free."""
        with self._lock:
            if self._processings >= self.max_processings:
                return False
            self._processings += 1
            return True

    def done_processing(self) -> None:
        """Give a processing slot back."""
        with self._lock:
            self._processings -= 1


class Waiter(Protocol):
    """A hook waiting for a processing slot: whether it got one, and its turn signal."""

    has_slot: bool

    @property
    def turn(self) -> Any:
        """An event whose `set()` ends the wait (threading, gevent or anyio)."""


class SlotWaiter:
    """A plain `Waiter` around the engine's event."""

    __slots__ = ("has_slot", "turn")

    def __init__(self, turn: Any) -> None:
        self.has_slot = False
        self.turn = turn


W = TypeVar("W", bound=Waiter)


class Slots:
    """Processing slots, held while a hook runs, handed out in request order.

    A slot bounds the application's work, not the connections: a session holds one only
    while one of its hooks runs, never while it waits for its client, so no number of
    idle or slow clients keeps another session's hooks from running. `enter` takes a free
    slot at once (None) or queues a waiter made by `waiter`; the engine waits for its turn
    at most `wait` seconds, then asks `settle` whether it got the slot. `leave` gives a
    slot to the first waiter or back. Once `close`d (the server stops) nothing is queued
    any more and every waiter's turn ends without a slot. The lock is held for a few
    instructions and never across a wait.
    """

    def __init__(self, utilization: Utilization, wait: float) -> None:
        self.wait = wait
        self.closed = False
        self._utilization = utilization
        self._queue: deque[Waiter] = deque()
        self._lock = threading.Lock()

    def enter(self, waiter: Callable[[], W]) -> W | None:
        """Take a slot (None), or queue a new waiter and return it to wait on."""
        with self._lock:
            if not self._queue and self._utilization.try_process():
                return None
            made = waiter()
            if self.closed:
                made.turn.set()  # no slot now, and none to wait for
            else:
                self._queue.append(made)
            return made

    def settle(self, waiter: Waiter) -> bool:
        """After the wait: whether `waiter` holds a slot (then `leave` it after the hook);
        one that waited in vain leaves the queue."""
        with self._lock:
            if not waiter.has_slot:
                with contextlib.suppress(ValueError):
                    self._queue.remove(waiter)
            return waiter.has_slot

    def leave(self) -> None:
        """A hook has ended: its slot goes to the first waiter, if any."""
        with self._lock:
            if self._queue:
                successor = self._queue.popleft()
                successor.has_slot = True
                successor.turn.set()
            else:
                self._utilization.done_processing()

    def close(self) -> None:
        """The server is stopping: every waiter goes on without a slot, none queues again."""
        with self._lock:
            self.closed = True
            while self._queue:
                self._queue.popleft().turn.set()
