"""One thread that waits for many sockets at once: the threaded engine's listeners, and
its sessions while they wait for the client (see `transports.threaded`).

A thread blocked in `recv` per session costs two hand-overs of the interpreter lock for
every command: the woken thread waits for the lock, the one holding it is pushed off.
Sockets parked here are polled together, and what becomes readable is handled in this
thread, which keeps the lock while there is work. Linux only (epoll); elsewhere
`AVAILABLE` is False and the engine blocks in its session threads as before.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
from collections.abc import Callable
from typing import Final

AVAILABLE: Final = hasattr(select, "epoll")

log = logging.getLogger("smtp_proto.transports")


class Reactor:
    """Calls `ready()` in the reactor thread when a registered file descriptor is readable.

    `add` may be called from any thread (the kernel's epoll set is thread-safe); `remove`
    and `run` only from the reactor thread. Level-triggered: a socket stays reported
    until it is read or removed.
    """

    def __init__(self) -> None:
        self._poll = select.epoll()
        self._targets: dict[int, Callable[[], None]] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.add(self._wake_r.fileno(), self._drain)

    def add(self, fd: int, ready: Callable[[], None]) -> None:
        """Call `ready()` whenever `fd` is readable, until `remove(fd)`."""
        self._targets[fd] = ready  # first: the reactor may see the fd at once
        self._poll.register(fd, select.EPOLLIN)

    def remove(self, fd: int) -> None:
        """Stop watching `fd` (before it is closed, or handed to another thread)."""
        if self._targets.pop(fd, None) is not None:
            with contextlib.suppress(OSError):  # already closed: the kernel dropped it
                self._poll.unregister(fd)

    def wake(self) -> None:
        """Make a `run_once` waiting now return (from any thread)."""
        with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
            self._wake_w.send(b"!")

    def run_once(self, timeout: float | None) -> None:
        """Wait up to `timeout` seconds (None: no limit) and handle what is readable."""
        targets = self._targets
        for fd, _ in self._poll.poll(-1 if timeout is None else timeout):
            ready = targets.get(fd)
            if ready is None:  # removed by an earlier callback of this round
                continue
            try:
                ready()
            except Exception:  # a bug in one callback must not strand every other socket
                log.exception("a reactor callback failed")

    def _drain(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass

    def close(self) -> None:
        """Release the epoll set and the wake-up sockets."""
        self._poll.close()
        self._wake_r.close()
        self._wake_w.close()
