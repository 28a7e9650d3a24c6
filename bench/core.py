"""Throughput of `ServerConnection` alone: complete sessions per second, and MB/s for large
messages per CRLF mode, beside one `bytes.count(b"\\n")` pass over the same data (the
practical ceiling for pure Python here).

Run: python -m bench.core [--repeat N]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial

from smtp_proto import (
    NEED_DATA,
    ConnectionClosed,
    CrlfMode,
    Decision,
    Limits,
    MessageChunk,
    ServerConfig,
    ServerConnection,
)

READ = 64 * 1024


def message(size: int) -> bytes:
    """A CRLF-clean message of about `size` octets with 78-octet lines."""
    head = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: bench\r\n\r\n"
    line = b"abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789!\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


def session_bytes(body: bytes) -> bytes:
    return (
        b"EHLO client.example.test\r\nMAIL FROM:<a@example.test>\r\n"
        b"RCPT TO:<b@example.test>\r\nDATA\r\n" + body + b".\r\nQUIT\r\n"
    )


def bdat_session_bytes(body: bytes, chunk: int) -> bytes:
    """The same session as `session_bytes`, the message sent with BDAT in `chunk`-sized parts."""
    parts = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    out = [
        b"EHLO client.example.test\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
    ]
    for i, part in enumerate(parts):
        last = b" LAST" if i == len(parts) - 1 else b""
        out.append(b"BDAT %d%s\r\n" % (len(part), last) + part)
    out.append(b"QUIT\r\n")
    return b"".join(out)


def run_session(config: ServerConfig, wire: bytes) -> int:
    """Drive one whole session, feeding `wire` in READ-sized slices; returns content octets."""
    conn = ServerConnection(config)
    view = memoryview(wire)
    offset = 0
    size = 0
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            conn.data_to_send()
            conn.receive_data(bytes(view[offset : offset + READ]))
            offset += READ
        elif isinstance(event, Decision):
            conn.accept()
        elif isinstance(event, MessageChunk):
            size += len(event.data)
        elif isinstance(event, ConnectionClosed):
            return size


def best(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sessions", type=int, default=5000)
    args = parser.parse_args()
    print(f"# {platform.python_implementation()} {platform.python_version()}, {platform.machine()}")
    config = ServerConfig(limits=Limits(message_size=64 * 1024 * 1024))
    small = session_bytes(message(1024))
    n = args.sessions
    secs = best(lambda: [run_session(config, small) for _ in range(n)], args.repeat)
    print(f"1 KiB sessions: {n / secs:,.0f} sessions/s")
    for size in (100 * 1024, 10 * 1024 * 1024):
        body = message(size)
        wire = session_bytes(body)
        count = best(partial(body.count, b"\n"), args.repeat * 3)
        print(f"{size // 1024:>6} KiB count(b'\\n') pass: {len(body) / count / 1e6:8.0f} MB/s")
        for mode in CrlfMode:
            cfg = ServerConfig(limits=config.limits, crlf_mode=mode)
            secs = best(partial(run_session, cfg, wire), args.repeat)
            ratio = count / secs
            print(
                f"{size // 1024:>6} KiB {mode.name:<6}: {len(body) / secs / 1e6:8.0f} MB/s"
                f"  ({ratio:.2f} of the count pass)"
            )
    body = message(10 * 1024 * 1024)
    wire = bdat_session_bytes(body, 1024 * 1024)
    secs = best(partial(run_session, config, wire), args.repeat)
    count = best(partial(body.count, b"\n"), args.repeat * 3)
    print(
        f" 10240 KiB BDAT, 1 MiB chunks: {len(body) / secs / 1e6:8.0f} MB/s"
        f"  ({count / secs:.2f} of the count pass)"
    )


if __name__ == "__main__":
    main()
