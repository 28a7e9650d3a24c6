"""Reusable threads for the threaded engine: a connection goes to an idle thread.

Starting a thread per connection costs more than serving a short session: `start()`
waits until the new thread runs, which under load means waiting for the interpreter
lock. Threads that finish a session wait a while for the next one instead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Final

_KEEP: Final = 30.0  # seconds an idle thread waits for work before it ends


class Workers:
    """Runs each job in a thread of its own, reusing threads that have become idle."""

    def __init__(self, name: str, *, keep: float = _KEEP) -> None:
        self._name = name
        self._keep = keep
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        # Idle threads not yet promised a job: never more jobs queued than threads for them.
        self._idle = 0
        self._threads: set[threading.Thread] = set()
        self._closed = False

    def run(self, job: Callable[[], None]) -> None:
        """Run `job` in an idle thread, or in a new one; RuntimeError once closed."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the workers are closed")
            reuse = self._idle > 0
            if reuse:
                self._idle -= 1
        if reuse:
            self._jobs.put(job)
            return
        thread = threading.Thread(target=self._work, args=(job,), name=self._name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def close(self) -> None:
        """Let idle threads end; running jobs finish. No job is taken after this."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, 0
        for _ in range(idle):
            self._jobs.put(None)

    def join(self) -> None:
        """Wait for every thread but the calling one to end (after `close()`)."""
        me = threading.current_thread()
        with self._lock:
            threads = [t for t in self._threads if t is not me]
        for thread in threads:
            thread.join()

    def _work(self, job: Callable[[], None] | None) -> None:
        try:
            while job is not None:
                job()
                job = self._next()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _next(self) -> Callable[[], None] | None:
        with self._lock:
            if self._closed:
                return None
            self._idle += 1
        try:
            return self._jobs.get(timeout=self._keep)
        except queue.Empty:
            with self._lock:
                if self._idle > 0:  # no job was promised to an idle thread: leave
                    self._idle -= 1
                    return None
            return self._jobs.get()  # one was promised (or close() sent None): take it
