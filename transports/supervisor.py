"""`serve --workers N`: N processes on one machine's cores, sharing the listening ports.

Each worker is a `serve` process of its own that binds the same addresses with
SO_REUSEPORT, so the system shares the connections out; all store into the one Maildir
(Maildir needs no lock). This process only watches them: SIGTERM or SIGINT is passed on
to every worker, which stops gracefully with its grace; a worker that dies otherwise is
logged and replaced. Each worker names itself in its log lines ("worker 2").
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Final

log = logging.getLogger("smtp_proto.transports")
_POLL: Final = 0.2  # seconds between looks at the workers
_RESTART_PAUSE: Final = 1.0  # a worker that keeps dying is restarted at most this often


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


def supervise(count: int, worker_argv: Sequence[str], stop: threading.Event) -> int:
    """Run `count` workers (`serve` with `worker_argv` and their number) until `stop` is
    set, replacing any that dies; then stop them all. 0 when every worker ended cleanly."""
    workers: dict[int, subprocess.Popen[bytes]] = {}
    last_start: dict[int, float] = {}

    def start(number: int) -> None:
        command = [sys.executable, "-m", "transports", "serve", *worker_argv]
        command += ["--reuse-port", "--worker-id", str(number)]
        workers[number] = subprocess.Popen(command)  # noqa: S603 (our own command)
        last_start[number] = time.monotonic()
        log.info("worker %d started (pid %d)", number, workers[number].pid)

    for number in range(1, count + 1):
        start(number)
    while not stop.wait(_POLL):
        for number, proc in list(workers.items()):
            status = proc.poll()
            if status is None or stop.is_set():
                continue
            log.error("worker %d (pid %d) ended with status %d; starting another",
                      number, proc.pid, status)  # fmt: skip
            time.sleep(max(0.0, last_start[number] + _RESTART_PAUSE - time.monotonic()))
            start(number)
    log.info("stopping %d workers", len(workers))
    for proc in workers.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    statuses = [proc.wait() for proc in workers.values()]
    log.info("stopped")
    return 0 if all(status == 0 for status in statuses) else 1
