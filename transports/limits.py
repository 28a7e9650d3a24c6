"""Counting connections and processings (the seed's utilization), shared by every engine.

Only counts and admits; waiting for a free processing slot is each engine's business.
The lock is held for a few instructions and never across a wait, so greenlets and event
loops may use it too.
"""

from __future__ import annotations

import threading


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
