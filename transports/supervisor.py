"""Worker processes on one machine's cores, sharing the listening ports.

Each worker binds the same addresses with SO_REUSEPORT, so the system shares the
connections out. The supervising process only watches them: SIGTERM or SIGINT is passed
on to every worker, which stops gracefully with its grace; a worker that dies otherwise is
logged and replaced, unless it keeps dying as soon as it starts (a taken port, a bad
certificate), when the supervisor stops them all and fails rather than loop for ever.

Two front ends: `supervise`, for `serve --workers N` (each worker a `serve` process that
names itself in its log lines, "worker 2"); `run_workers`, for applications that build
their own server (each worker a process that calls the application's factory).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, Final, Protocol

from transports.base import ServerBase
from transports.options import STOP_GRACE

log = logging.getLogger("smtp_proto.transports")
_POLL: Final = 0.2  # seconds between looks at the workers
_RESTART_PAUSE: Final = 1.0  # a worker that keeps dying is restarted at most this often
_QUICK: Final = 10.0  # a worker dead this soon after its start died "at once"
_GIVE_UP: Final = 5  # deaths at once in a row, then the supervisor gives up


def worker_count(text: str) -> int:
    """`--workers`: a positive number, or "auto" for the number of CPUs this process may use."""
    if text == "auto":
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"--workers {text}: a positive number or auto")
    return count


class _Worker(Protocol):
    """A running worker process, as the supervisor watches it."""

    @property
    def pid(self) -> int | None:
        """Its process id."""

    def poll(self) -> int | None:
        """Its exit status once it ended (negative: killed by that signal), else None."""

    def terminate(self) -> None:
        """Ask it to stop gracefully (SIGTERM)."""

    def wait(self) -> int:
        """Wait for its end; its exit status."""


def supervise(count: int, worker_argv: Sequence[str], stop: threading.Event) -> int:
    """Run `count` workers (`serve` with `worker_argv` and their number) until `stop` is
    set, replacing any that dies; then stop them all. 0 when every worker ended cleanly."""

    def start(number: int) -> _Worker:
        command = [sys.executable, "-m", "transports", "serve", *worker_argv]
        command += ["--reuse-port", "--worker-id", str(number)]
        return subprocess.Popen(command)  # noqa: S603 (our own command)

    return _watch(count, start, stop)


def run_workers(
    make_server: Callable[[int], ServerBase],
    count: int,
    *,
    stop: threading.Event | None = None,
    grace: float = STOP_GRACE,
) -> int:
    """Serve from `count` processes until SIGTERM or SIGINT (or `stop` is set); 0 when
    every worker ended cleanly, 1 otherwise (also when one kept dying at its start).

    Each worker calls `make_server(number)` (numbers 1 to `count`), starts the server,
    serves until it is told to stop, then stops it with `grace`. Workers are started
    fresh ("spawn"), so `make_server` must be a module-level function, and it should set
    up the worker's logging itself. Build the server with `reuse_port=True` and fixed
    ports: every worker binds the same ones.
    """
    context = multiprocessing.get_context("spawn")

    def start(number: int) -> _Worker:
        process = context.Process(
            target=_worker_main, args=(make_server, number, grace), name=f"worker {number}"
        )
        process.start()
        return _Child(process)

    stop = stop or threading.Event()
    with stop_on_signals(stop):
        return _watch(count, start, stop)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set `stop` on SIGINT or SIGTERM while inside (from the main thread only; elsewhere
    nothing is installed); a second signal then acts as it did before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signum, previous[signum])

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handle)
    try:
        yield
    finally:
        for restore, old in previous.items():
            signal.signal(restore, old)


def _worker_main(make_server: Callable[[int], ServerBase], number: int, grace: float) -> None:
    stop = threading.Event()
    with stop_on_signals(stop):
        server = make_server(number)
        server.start()
        log.info("worker %d serving on %s", number, ", ".join(map(str, server.listeners)))
        stop.wait()
        server.stop(grace)


class _Child:
    """A `multiprocessing.Process` seen as a `_Worker`."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self.process = process

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.exitcode

    def terminate(self) -> None:
        self.process.terminate()

    def wait(self) -> int:
        self.process.join()
        return self.process.exitcode or 0


def _watch(count: int, start: Callable[[int], _Worker], stop: threading.Event) -> int:
    """Start workers 1 to `count` and keep them running until `stop`; then stop them all."""
    workers: dict[int, _Worker] = {}
    started: dict[int, float] = {}
    deaths: dict[int, int] = {}  # deaths at once in a row, per worker number

    def launch(number: int) -> None:
        workers[number] = start(number)
        started[number] = time.monotonic()
        log.info("worker %d started (pid %s)", number, workers[number].pid)

    for number in range(1, count + 1):
        launch(number)
        deaths[number] = 0
    failed = False
    while not failed and not stop.wait(_POLL):
        for number, worker in list(workers.items()):
            status = worker.poll()
            if status is None or stop.is_set():
                continue
            soon = time.monotonic() - started[number] < _QUICK
            deaths[number] = deaths[number] + 1 if soon else 1
            if deaths[number] >= _GIVE_UP:
                log.error("worker %d (pid %s) ended with status %d, %d times at its start: "
                          "giving up", number, worker.pid, status, deaths[number])  # fmt: skip
                failed = True
                break
            log.error("worker %d (pid %s) ended with status %d; starting another",
                      number, worker.pid, status)  # fmt: skip
            time.sleep(max(0.0, started[number] + _RESTART_PAUSE - time.monotonic()))
            launch(number)
    log.info("stopping %d workers", len(workers))
    for worker in workers.values():
        if worker.poll() is None:
            worker.terminate()
    statuses = [worker.wait() for worker in workers.values()]
    log.info("stopped")
    return 0 if not failed and all(status == 0 for status in statuses) else 1
