"""A soak: many messages through each engine into a Maildir; none lost, memory flat.

Each engine serves in its own process (as `bench.transport --maildir` runs it) and gets a
warm-up, then batches of the benchmark load (20 sessions, 2,000-octet messages, many per
connection). After every batch: the server's RSS, and the files in its Maildir's new/
against the messages the load generator saw answered (it fails on any other reply).

Run: python -m bench.soak [--engines threads,asyncio,trio,gevent] [--messages 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from bench.load import Load, Message
from bench.report import machine
from bench.transport import ServerProcess, pick_sender

SESSIONS: Final = 20
SIZE: Final = 2000
WARM_UP: Final = 5000
BATCH: Final = 10_000


def soak(engine: str, messages: int, root: Path, client: str) -> str:
    """One engine's soak; a Markdown table row."""
    send, _ = pick_sender(client)
    message = Message.of_size(SIZE)
    proc = ServerProcess(engine, root)
    new = root / engine / "new"
    try:
        started = time.perf_counter()
        send(proc.port, Load(SESSIONS, WARM_UP, True), message)
        sent = WARM_UP
        warm_rss = proc.rss()
        peak = warm_rss
        while sent < WARM_UP + messages:
            batch = min(BATCH, WARM_UP + messages - sent)
            send(proc.port, Load(SESSIONS, batch, True), message)
            sent += batch
            peak = max(peak, proc.rss())
            print(f"  {engine}: {sent:,} sent, RSS {proc.rss() / 1e6:.1f} MB", file=sys.stderr)
        elapsed = time.perf_counter() - started
        end_rss = proc.rss()
    finally:
        proc.close()
    stored = sum(1 for _ in new.iterdir())
    growth = (end_rss - warm_rss) / warm_rss * 100
    verdict = "met" if stored == sent and abs(growth) <= 10 else "MISSED"
    return (
        f"| {engine} | {sent:,} | {stored:,} | {sent - stored:,} | {warm_rss / 1e6:.1f} MB "
        f"| {end_rss / 1e6:.1f} MB ({growth:+.1f}%) | {peak / 1e6:.1f} MB "
        f"| {sent / elapsed:,.0f} | {verdict} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="threads,asyncio,trio,gevent")
    parser.add_argument("--messages", type=int, default=100_000, help="after the warm-up")
    parser.add_argument("--client", choices=("auto", "smtp-source", "lean"), default="auto")
    args = parser.parse_args()
    _, generator = pick_sender(args.client)
    print(machine(generator, 1, "python -m bench.soak " + " ".join(sys.argv[1:])))
    print(f"warm-up {WARM_UP:,} messages, then batches of {BATCH:,}; {SESSIONS} sessions\n")
    print(
        "| engine | sent | files | sent - files | RSS after warm-up | RSS at the end | peak "
        "| msg/s | 0 lost, RSS within 10% |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        for engine in args.engines.split(","):
            print(soak(engine, args.messages, Path(folder), args.client), flush=True)


if __name__ == "__main__":
    main()
