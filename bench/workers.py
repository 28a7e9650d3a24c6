"""`serve --workers`: messages/s and server CPU per message for 1 and 2 (or more) workers.

Each run starts `python -m transports serve --workers N` into a fresh Maildir on a free port,
sends the load with the benchmark client (20 sessions, 2,000-octet messages), and reads the
CPU the workers used from /proc before stopping them. The load generator runs on the same
machine, so it shares the cores: both figures are reported.

Run: python -m bench.workers [--workers 1,2] [--messages 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.load import Load, Message
from bench.report import machine
from bench.transport import pick_sender

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of `pid` so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(workers: int, load: Load, message: Message) -> tuple[float, float]:
    """(messages/s, server CPU microseconds per message) for one run."""
    send, _ = pick_sender("auto")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "transports", "serve", "--workers", str(workers)]
        command += ["--port", str(port), "--maildir", str(Path(tmp) / "mail")]
        command += ["--max-processings", "64"]
        log = Path(tmp) / "serve.log"
        with log.open("w") as sink:  # a file, not a pipe: serve logs every message
            proc = subprocess.Popen(command, cwd=ROOT, stderr=sink)
        pids, serving = [], 0
        while serving < workers:
            if proc.poll() is not None:
                raise RuntimeError(f"serve ended: {log.read_text()}")
            text = log.read_text()
            pids = [int(p) for p in re.findall(r"worker \d+ started \(pid (\d+)\)", text)]
            serving = text.count("serving on")
            time.sleep(0.05)
        pids = pids or [proc.pid]
        before = sum(cpu_seconds(pid) for pid in pids)
        seconds = send(port, load, message)
        used = sum(cpu_seconds(pid) for pid in pids) - before
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return load.messages / seconds, used / load.messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    _, client = pick_sender("auto")
    print(machine(client, args.runs, "python -m bench.workers " + " ".join(sys.argv[1:])))
    message = Message.of_size(2000)
    counts = [int(n) for n in args.workers.split(",")]
    for per_connection, name in ((False, "one message per connection"), (True, "many")):
        load = Load(20, args.messages, per_connection)
        results: dict[int, list[tuple[float, float]]] = {n: [] for n in counts}
        for _ in range(args.runs):
            for n in counts:  # interleaved, so a slow minute hurts every count alike
                results[n].append(one_run(n, load, message))
        print(f"\n{name}, into a Maildir\n")
        print("| workers | messages/s (min-max) | server CPU per message | x 1 worker |")
        print("| --- | --- | --- | --- |")
        base = statistics.median(r for r, _ in results[counts[0]])
        for n in counts:
            rates = [r for r, _ in results[n]]
            cpu = statistics.median(c for _, c in results[n])
            rate = statistics.median(rates)
            print(
                f"| {n} | {rate:,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | {cpu:,.0f} us "
                f"| {rate / base:.2f} |"
            )


if __name__ == "__main__":
    main()
