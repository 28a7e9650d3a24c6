"""Waiting without time-outs: every engine reads with no time-out of its own.

A time-out on each read costs a poll (threads), a timer (gevent) or a cancel scope
(anyio). Instead a watchdog sweeps the sessions a few times a second and ends a wait
that is over (its time-out ran out, or the server is stopping) by shutting the socket's
reading side; the session then answers 421 itself. Sends get the same watch. Here: the
bookkeeping and the sweep; each engine does its own sleeping.
"""

from __future__ import annotations

import contextlib
import math
import socket
import time
from collections.abc import Iterable
from typing import Final

from smtp_proto.session import Session

# The watchdog's period: this fraction of the shortest time-out, within these bounds.
_TICK_SHARE: Final = 0.05
_TICK_MIN: Final = 0.005
_TICK_MAX: Final = 1.0


def tick(*timeouts: float) -> float:
    """Seconds between sweeps for these time-outs (a wait ends at most this late)."""
    return min(_TICK_MAX, max(_TICK_MIN, min(timeouts) * _TICK_SHARE))


class Stopping:
    """A server's stop as its sessions see it: `at` is the grace deadline once stopping."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at: float | None = None

    @property
    def deadline(self) -> float:
        """The grace deadline, or infinity while not stopping."""
        return math.inf if self.at is None else self.at


class Watched:
    """What a watchdog needs of one session: what it is blocked in, and its socket.

    `reading` and `send_by` say what the session waits in; `woken` is set once a wait was
    ended from outside, after which the socket is never read again.
    """

    def __init__(self, stopping: Stopping) -> None:
        self.stopping = stopping
        self.steps: Session | None = None  # set once the session is being processed
        self.reading = False
        self.woken = False
        self.send_by = math.inf  # the deadline of a send in progress

    def shutdown(self, how: int) -> None:
        """Shut the plain socket under any TLS layer (`socket.shutdown` semantics)."""
        raise NotImplementedError

    def wake(self) -> None:
        """End a blocked read for good: shut the reading side (the reply can still go)."""
        if not self.woken:
            self.woken = True
            with contextlib.suppress(OSError):
                self.shutdown(socket.SHUT_RD)

    def cut(self) -> None:
        """Shut both directions under a blocked read, send or handshake."""
        self.woken = True
        with contextlib.suppress(OSError):
            self.shutdown(socket.SHUT_RDWR)

    def wait_ended(self, steps: Session) -> bool:
        """Whether a wait for bytes must not start (or go on); if so, queue the 421.

        Call it with `reading` already set, so a sweep in between is never missed.
        """
        stop_at = self.stopping.at
        if stop_at is not None and (self.woken or steps.idle or time.monotonic() >= stop_at):
            steps.shut_down()
            return True
        if self.woken or steps.timeout() <= 0:
            steps.timed_out()
            return True
        return False


def overdue(session: Watched, now: float) -> bool:
    """Whether the watchdog must end what `session` is blocked in now."""
    if session.send_by < now:
        return True
    steps = session.steps
    if not session.reading or steps is None:
        return False
    stop_at = session.stopping.at
    if stop_at is not None and (steps.idle or now >= stop_at):
        return True
    return steps.timeout() <= 0


def sweep(sessions: Iterable[Watched]) -> None:
    """End every wait that is over: reads are woken, a stalled send is cut off."""
    now = time.monotonic()
    for session in sessions:
        if overdue(session, now):
            if session.send_by < now:
                session.cut()
            else:
                session.wake()


def next_sweep(period: float, stop_at: float | None) -> float:
    """Seconds until the next sweep: a period, or sooner to meet the stop's deadline."""
    if stop_at is None:
        return period
    left = stop_at - time.monotonic()
    return min(period, left) if left > 0 else period
