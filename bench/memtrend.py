"""Where a long run's memory goes: RSS against Python's own memory, batch by batch.

One engine serves in this process into a Maildir under the benchmark load (20 sessions,
2,000-octet messages, many per connection). After each batch of 20,000 messages: RSS,
the memory tracemalloc sees (with --trace) and the number of objects the collector
tracks. At the end, glibc's `malloc_trim(0)` shows how much RSS the C allocator held.
Python memory that stays flat while RSS grows points at the allocator, not a leak.

Run: python -m bench.memtrend ENGINE BATCHES [--trace]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import tempfile
import tracemalloc
from pathlib import Path
from typing import Final

from bench.load import Load, Message
from bench.servers import _ours
from bench.transport import pick_sender
from transports.engines import server_class

BATCH: Final = 20_000


def rss_mb() -> float:
    """This process's resident set size in MB (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("no VmRSS line")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engine", choices=("threads", "asyncio", "trio", "gevent"))
    parser.add_argument("batches", type=int)
    parser.add_argument("--trace", action="store_true", help="count memory with tracemalloc")
    args = parser.parse_args()
    if args.trace:
        tracemalloc.start(1)
    server = _ours(server_class(args.engine), Path(tempfile.mkdtemp()) / "memtrend", "none")
    send, _ = pick_sender("auto")
    message = Message.of_size(2000)
    with server:
        port = server.addresses[0][1]
        send(port, Load(20, 5000, True), message)  # warm-up
        for i in range(1, args.batches + 1):
            send(port, Load(20, BATCH, True), message)
            gc.collect()
            traced = f"{tracemalloc.get_traced_memory()[0] / 1e6:.2f} MB" if args.trace else "-"
            print(
                f"{i * BATCH:,} messages: RSS {rss_mb():.1f} MB, Python {traced}, "
                f"objects {len(gc.get_objects()):,}",
                flush=True,
            )
        libc = ctypes.util.find_library("c")
        if libc is not None and hasattr(ctypes.CDLL(libc), "malloc_trim"):
            ctypes.CDLL(libc).malloc_trim(0)
            print(f"after malloc_trim(0): RSS {rss_mb():.1f} MB")


if __name__ == "__main__":
    main()
