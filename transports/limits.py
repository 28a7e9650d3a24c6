"""Counting connections and processings (the seed's utilization), shared by every engine.

Only counts and admits; waiting for a free processing slot is each engine's business.
The lock is held for a few instructions and never across a wait, so greenlets and event
loops may use it too.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from typing import Any, Protocol


class Utilization:
    """Open connections and sessions being processed, against their limits.

    `max_connections` None means unlimited; a connection beyond it is refused with
    421 4.3.2 by the engine. `max_processings` bounds sessions processed at once; the
    rest wait for a slot before their greeting.
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
        """Sessions holding a processing slot now."""
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
    """A session as the slot queue sees it: whether it holds a slot, and its turn signal."""

    has_slot: bool

    @property
    def turn(self) -> Any:
        """An event whose `set()` lets the session go on (threading, gevent or anyio)."""


class Slots:
    """Processing slots handed out in accept order, so no client is starved by later ones.

    `enter` gives a new session a slot or queues it; `leave` passes an ended session's
    slot to the first one queued; `release_all` lets every queued session go on without
    one (a stopping server answers them 421). A session goes on once its `turn` is set.
    The lock is held for a few instructions and never across a wait.
    """

    def __init__(self, utilization: Utilization) -> None:
        self._utilization = utilization
        self._queue: deque[Waiter] = deque()
        self._lock = threading.Lock()

    def enter(self, session: Waiter, *, stopping: bool = False) -> None:
        """A new session: a slot now, or a place in the queue (none while stopping)."""
        with self._lock:
            if stopping:
                session.turn.set()  # without a slot: it gets 421
            elif not self._queue and self._utilization.try_process():
                session.has_slot = True
                session.turn.set()
            else:
                self._queue.append(session)

    def leave(self, session: Waiter) -> None:
        """The session has ended: its slot goes to the first queued session, if any."""
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
                self._utilization.done_processing()

    def release_all(self) -> None:
        """Let every queued session go on without a slot (the server is stopping)."""
        with self._lock:
            while self._queue:
                self._queue.popleft().turn.set()
