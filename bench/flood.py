"""Floods and vanishing clients against `smtp-proto serve` on each engine.

Floods: each flood of a gigabyte or so goes to a fresh server process (`python -m transports
serve`, storing into a Maildir) while a bystander client runs whole sessions beside it.
The table gives the server's reply to the flood, the peak RSS growth (VmHWM after the flood
against VmRSS before it, the high-water mark reset first through /proc/PID/clear_refs) and
how many bystander sessions were served while the flood ran.

Vanishing clients (`--vanish N`): N clients each vanish at some point of a session (before
the greeting, mid-command, mid-DATA, mid-BDAT, mid-AUTH after STARTTLS, mid-TLS handshake,
right after the end of data) against one server process; its open descriptors and threads
(/proc/PID/fd, /proc/PID/status) after a warm-up and after all N sessions have ended.

Run: python -m bench.flood [--engines threads,asyncio,trio,gevent] [--size 1000000000]
         [--floods line,auth,rcpt,data-long,data,data-headers,bdat,bdat-headers]
     python -m bench.flood --vanish 10000 [--engines ...]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bench.report import load_average

ENGINES: Final = ("threads", "asyncio", "trio", "gevent")
LIMIT: Final = 32 * 1024 * 1024  # serve's default message size
BLOCK: Final = 1024 * 1024  # octets per sendall
TIMEOUT: Final = 60.0
LISTENING: Final = re.compile(r"listening on 127\.0\.0\.1:(\d+)( \(tls\))?$")
ENVELOPE: Final = b"MAIL FROM:<flood@example.test>\r\nRCPT TO:<b@example.test>\r\n"
HEADERS: Final = b"Subject: a flood\r\n\r\n"
LEGAL_LINE: Final = b"y" * 998 + b"\r\n"  # 1,000 octets, the longest text line allowed
RCPT: Final = b"RCPT TO:<r@example.test>\r\n"


# A server process -----------------------------------------------------------------------------


class Serve:
    """`python -m transports serve` on `engine`, port 0, into a Maildir under `root`."""

    def __init__(self, engine: str, root: Path, *options: str) -> None:
        command = [sys.executable, "-m", "transports", "serve", "--port", "0"]
        command += ["--transport", engine, "--maildir", str(root / engine), *options]
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        self.port = self.tls_port = 0
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if found := LISTENING.search(line.strip()):
                if found.group(2):
                    self.tls_port = int(found.group(1))
                else:
                    self.port = int(found.group(1))
            if "serving on" in line:
                break
        if not self.port:
            self.close()
            raise RuntimeError(f"serve on {engine} did not start")
        # Drain the log, so a chatty server never blocks on a full pipe.
        self._drain = threading.Thread(target=self.proc.stderr.read, daemon=True)
        self._drain.start()

    def status(self, key: str) -> int:
        """A number from /proc/PID/status (kB values in octets)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name == key:
                number, *unit = value.split()
                return int(number) * (1024 if unit == ["kB"] else 1)
        raise KeyError(key)

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (Linux 4.0+); False when not allowed."""
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def close(self) -> None:
        """SIGTERM, then a kill after 30 s."""
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Client:
    """A byte-level client: send, read whole replies, see the close."""

    def __init__(self, port: int, *, tls: ssl.SSLContext | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="localhost")
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def reset(self) -> None:
        """Close with an RST."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def reply(self) -> bytes:
        """The next whole reply; b"" once the server closed."""
        out = b""
        while True:
            while b"\n" not in self.buffer:
                try:
                    chunk = self.sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    return out
                self.buffer += chunk
            line, _, self.buffer = self.buffer.partition(b"\n")
            out += line + b"\n"
            if line[3:4] != b"-":
                return out

    def command(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()


def insecure() -> ssl.SSLContext:
    """A client context for the server's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def bystander(port: int) -> bool:
    """One whole session with one message; whether every reply was the expected one."""
    client = Client(port)
    try:
        ok = client.reply().startswith(b"220 ")
        ok = ok and client.command(b"EHLO bystander.example.test").startswith(b"250")
        ok = ok and client.command(b"MAIL FROM:<by@example.test>").startswith(b"250")
        ok = ok and client.command(b"RCPT TO:<b@example.test>").startswith(b"250")
        ok = ok and client.command(b"DATA").startswith(b"354")
        ok = ok and client.command(b"Subject: beside\r\n\r\nserved\r\n.").startswith(b"250")
        return ok and client.command(b"QUIT").startswith(b"221")
    finally:
        client.close()


# Floods ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flood:
    """`head`, then `unit` repeated to `total` octets, then `end`; `expect` starts the reply
    the flood should get last. `before` octets go out before the bystander starts; `hold`:
    then wait for one bystander session before going on (floods the server cuts short)."""

    name: str
    head: bytes
    unit: bytes
    total: int
    end: bytes
    expect: bytes
    before: int
    hold: bool


def floods(size: int) -> dict[str, Flood]:
    """Every flood, about `size` octets each (200,000 recipients for `rcpt`)."""

    def whole(unit: bytes) -> int:
        return size // len(unit) * len(unit)

    ehlo = b"EHLO flood.example.test\r\n"
    bdat = size - len(HEADERS)
    return {
        f.name: f
        for f in [
            Flood("line", ehlo + b"NOOP ", b"x" * 4096, whole(b"x" * 4096), b"", b"421 4.7.0",
                  8192, True),
            Flood("auth", ehlo + b"AUTH PLAIN ", b"QUFB" * 1024, whole(b"QUFB" * 1024), b"",
                  b"421 4.7.0", 8192, True),
            Flood("rcpt", ehlo + b"MAIL FROM:<flood@example.test>\r\n", RCPT,
                  200_000 * len(RCPT), b"QUIT\r\n", b"421 4.7.0", 500 * len(RCPT), True),
            Flood("data-long", ehlo + ENVELOPE + b"DATA\r\n" + HEADERS,
                  b"z" * 65534 + b"\r\n", whole(b"z" * 65536), b".\r\nQUIT\r\n", b"500 5.5.6",
                  BLOCK, False),
            Flood("data", ehlo + ENVELOPE + b"DATA\r\n", LEGAL_LINE, whole(LEGAL_LINE),
                  b".\r\nQUIT\r\n", b"552 5.3.4", BLOCK, False),
            Flood("data-headers", ehlo + ENVELOPE + b"DATA\r\n" + HEADERS, LEGAL_LINE,
                  whole(LEGAL_LINE), b".\r\nQUIT\r\n", b"552 5.3.4", BLOCK, False),
            Flood("bdat", ehlo + ENVELOPE + b"BDAT %d LAST\r\n" % size, b"\0" * 4096,
                  size // 4096 * 4096, b"\0" * (size % 4096) + b"QUIT\r\n", b"552 5.3.4",
                  BLOCK, False),
            Flood("bdat-headers", ehlo + ENVELOPE + b"BDAT %d LAST\r\n" % size + HEADERS,
                  b"\0" * 4096, bdat // 4096 * 4096, b"\0" * (bdat % 4096) + b"QUIT\r\n",
                  b"552 5.3.4", BLOCK, False),
        ]
    }  # fmt: skip


@dataclass
class Outcome:
    """What one flood did to one server."""

    sent: int = 0
    replies: list[bytes] = field(default_factory=list)
    seconds: float = 0.0
    served: int = 0  # bystander sessions completed while the flood ran
    failed: int = 0  # bystander sessions that got a wrong reply
    slowest: float = 0.0  # the longest bystander session, seconds
    growth: int = 0  # peak RSS over RSS before the flood, octets
    rss_after: int = 0


def send_flood(port: int, flood: Flood, out: Outcome, started: threading.Event,
               go_on: threading.Event) -> None:  # fmt: skip
    client = Client(port)
    block = memoryview(flood.unit * max(1, BLOCK // len(flood.unit)))
    begun = time.perf_counter()
    try:
        client.sock.sendall(flood.head)
        while out.sent < flood.total:
            if out.sent >= flood.before and not started.is_set():
                started.set()
                if flood.hold:
                    go_on.wait(TIMEOUT)
            piece = block[: min(len(block), flood.total - out.sent)]
            client.sock.sendall(piece)
            out.sent += len(piece)
        client.sock.sendall(flood.end)
    except (ConnectionResetError, BrokenPipeError):
        pass  # cut off by the server: its reply tells why
    finally:
        started.set()
        with contextlib.suppress(OSError):
            while reply := client.reply():
                out.replies.append(reply)
        out.seconds = time.perf_counter() - begun
        client.close()


def run_flood(engine: str, flood: Flood, root: Path) -> Outcome:
    """`flood` against a fresh server of `engine`, with bystanders beside it."""
    server = Serve(engine, root, "--auth", "flood:secret")
    out = Outcome()
    try:
        bystander(server.port)  # warm-up: every path of a plain message has run
        before = server.status("VmRSS")
        if not server.reset_peak():
            raise RuntimeError("cannot reset VmHWM through /proc/PID/clear_refs")
        started, go_on = threading.Event(), threading.Event()
        sender = threading.Thread(target=send_flood, args=(server.port, flood, out, started, go_on))
        sender.start()
        started.wait(TIMEOUT)
        while sender.is_alive():
            begun = time.perf_counter()
            if bystander(server.port):
                out.served += 1
            else:
                out.failed += 1
            out.slowest = max(out.slowest, time.perf_counter() - begun)
            go_on.set()
        sender.join()
        out.growth = server.status("VmHWM") - before
        out.rss_after = server.status("VmRSS")
    finally:
        server.close()
    return out


def flood_row(engine: str, flood: Flood, out: Outcome) -> str:
    answers = [r for r in out.replies if r != b"221 2.0.0 Bye\r\n"] or [b"(none)"]
    last = answers[-1]
    reply = last.decode(errors="replace").strip().split("\r\n")[-1]
    ok = last.startswith(flood.expect) and out.served > 0 and out.failed == 0
    verdict = "met" if ok and out.growth < 5 * 1024 * 1024 else "MISSED"
    return (
        f"| {engine} | {flood.name} | {out.sent / 1e6:,.1f} MB | {out.seconds:.1f} s | {reply} "
        f"| {out.growth / 1e6:.1f} MB | {out.served} ({out.failed} failed), slowest "
        f"{out.slowest * 1000:.0f} ms | {verdict} |"
    )


# Vanishing clients ----------------------------------------------------------------------------


def _greeted(port: int) -> Client:
    client = Client(port)
    client.reply()
    client.command(b"EHLO gone.example.test")
    return client


def _hello() -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = insecure().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


HELLO: Final = _hello()


def _at_connect(server: Serve) -> None:
    Client(server.port).close()


def _mid_command(server: Serve) -> None:
    client = Client(server.port)
    client.reply()
    client.sock.sendall(b"MAIL FROM:<half@exa")
    client.close()


def _mid_data(server: Serve) -> None:
    client = _greeted(server.port)
    client.sock.sendall(ENVELOPE + b"DATA\r\n")
    for _ in range(3):
        client.reply()
    client.sock.sendall(b"Subject: gone\r\n\r\n" + b"line\r\n" * 1000)
    client.reset()


def _mid_bdat(server: Serve) -> None:
    client = _greeted(server.port)
    client.sock.sendall(ENVELOPE + b"BDAT 100000 LAST\r\n" + HEADERS + b"\0" * 5000)
    client.reply()
    client.reply()
    client.close()


def _mid_auth(server: Serve) -> None:
    client = _greeted(server.port)
    client.command(b"STARTTLS")
    client.sock = insecure().wrap_socket(client.sock, server_hostname="localhost")
    client.command(b"EHLO gone.example.test")
    client.command(b"AUTH LOGIN")
    client.close()


def _mid_starttls(server: Serve) -> None:
    client = _greeted(server.port)
    client.command(b"STARTTLS")
    client.sock.sendall(HELLO[: len(HELLO) // 2])
    client.close()


def _mid_implicit_tls(server: Serve) -> None:
    client = Client(server.tls_port)
    client.sock.sendall(HELLO)
    client.sock.recv(1)  # the server's flight has begun
    client.reset()


def _after_data(server: Serve) -> None:
    client = _greeted(server.port)
    client.sock.sendall(ENVELOPE + b"DATA\r\n")
    for _ in range(3):
        client.reply()
    client.sock.sendall(b"Subject: stored\r\n\r\nwhole\r\n.\r\n")
    client.reset()


VANISHINGS: Final[list[Callable[[Serve], None]]] = [
    _at_connect,
    _mid_command,
    _mid_data,
    _mid_bdat,
    _mid_auth,
    _mid_starttls,
    _mid_implicit_tls,
    _after_data,
]


def _settled(server: Serve, timeout: float = 60.0) -> float:
    """Seconds until the server's descriptor count has held still for half a second."""
    begun = last_change = time.perf_counter()
    count = server.fds()
    while time.perf_counter() - last_change < 0.5 and time.perf_counter() - begun < timeout:
        time.sleep(0.02)
        if (now := server.fds()) != count:
            count, last_change = now, time.perf_counter()
    return last_change - begun


def vanish(engine: str, count: int, root: Path) -> str:
    """`count` vanishing clients against one server; a Markdown table row."""
    server = Serve(engine, root, "--tls", "optional", "--tls-implicit", "0", "--auth", "u:p")
    try:
        for vanishing in VANISHINGS * 3:  # warm-up
            vanishing(server)
        _settled(server)
        fds, threads = server.fds(), server.status("Threads")
        begun = time.perf_counter()
        for n in range(count):
            VANISHINGS[n % len(VANISHINGS)](server)
        seconds = time.perf_counter() - begun
        wait = _settled(server)
        fds_after, threads_after = server.fds(), server.status("Threads")
        served = bystander(server.port)
    finally:
        server.close()
    verdict = "met" if fds_after <= fds and threads_after <= threads and served else "MISSED"
    return (
        f"| {engine} | {count:,} | {seconds:.1f} s | {fds} -> {fds_after} "
        f"| {threads} -> {threads_after} | {wait:.1f} s | {'yes' if served else 'NO'} "
        f"| {verdict} |"
    )


# The command line -----------------------------------------------------------------------------


def header(command: str) -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    return (
        f"command: `{command}`\n"
        f"machine: nproc {os.cpu_count()}, {cpu}, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; load average at start: {load_average()}\n"
    )


@contextlib.contextmanager
def maildirs() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="flood-") as folder:
        yield Path(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--size", type=int, default=1_000_000_000, help="octets per flood")
    parser.add_argument("--floods", default=",".join(floods(1 << 20)))
    parser.add_argument("--vanish", type=int, default=0, help="vanishing clients instead")
    args = parser.parse_args()
    print(header("python -m bench.flood " + " ".join(sys.argv[1:])))
    engines = args.engines.split(",")
    with maildirs() as root:
        if args.vanish:
            print("| engine | clients | time | fds (warm -> end) | threads | settled after "
                  "| bystander served | fds and threads back |")  # fmt: skip
            print("| --- | --- | --- | --- | --- | --- | --- | --- |")
            for engine in engines:
                print(vanish(engine, args.vanish, root), flush=True)
            return
        chosen = floods(args.size)
        print("| engine | flood | sent | time | last reply | peak RSS growth | bystander "
              "sessions during it | < 5 MB, right reply, others served |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for name in args.floods.split(","):
            for engine in engines:
                out = run_flood(engine, chosen[name], root)
                print(flood_row(engine, chosen[name], out), flush=True)


if __name__ == "__main__":
    main()
