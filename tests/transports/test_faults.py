"""Faults lose nothing: clients that vanish at any point, `kill -9` and SIGTERM of `serve`.

- A client that vanishes anywhere (mid-command, mid-DATA, mid-BDAT, mid-AUTH, mid-TLS
  handshake, while its message is stored) leaves the server's file descriptors and threads
  where they were, some hundreds of times on every engine.
- `kill -9` of `smtp-proto serve` while messages arrive leaves every message that got its
  250 in new/, and only whole messages there.
- SIGTERM while clients are slow in DATA: each gets a 421, or its 250 with the file stored.

The Maildir handler's own faults (a full disk, an unwritable folder) are in
tests/session/test_maildir_faults.py; a stop with grace in-process in test_lifecycle.py.
"""

from __future__ import annotations

import contextlib
import email
import logging
import mailbox
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest

from smtp_proto.config import AuthMode, ServerConfig, TlsMode
from smtp_proto.context import Context
from tests.transports.flood_support import (
    ACCEPTED,
    bystander,
    open_fds,
    senders,
    sessions_ended,
    wait_until,
)
from tests.transports.transport_support import (
    TIMEOUT,
    Gate,
    RawClient,
    Recorder,
    ServerFactory,
    address_of,
    start_in_thread,
)
from transports import engines
from transports.base import ServerBase

ROUNDS: Final = 30  # of every way to vanish: 330 sessions per engine
ENVELOPE: Final = b"MAIL FROM:<gone@example.test>\r\nRCPT TO:<b@example.test>\r\n"
SHUTTING_DOWN: Final = b"421 4.3.2 Service shutting down, closing transmission channel\r\n"
TIMED_OUT: Final = b"421 4.4.2 Timeout, closing transmission channel\r\n"
LISTENING: Final = re.compile(r"listening on 127\.0\.0\.1:(\d+)$")


def client_hello() -> bytes:
    """The first flight of a TLS client: a ClientHello for "localhost"."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


HELLO: Final = client_hello()


# Ways to vanish --------------------------------------------------------------------------------


def greeted(server: ServerBase, *, tls: bool = False) -> RawClient:
    client = RawClient(address_of(server, tls=tls))
    if not tls:
        assert client.code() == 220
    return client


def ehlo(client: RawClient) -> None:
    assert client.command(b"EHLO gone.example.test").startswith(b"250-")


def reset(client: RawClient) -> None:
    """Close with a reset (RST) instead of a FIN."""
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


def at_connect(server: ServerBase) -> None:
    RawClient(address_of(server)).close()  # before even the greeting was read


def mid_command(server: ServerBase) -> None:
    client = greeted(server)
    client.send(b"MAIL FROM:<half@exa")
    client.close()


def mid_data(server: ServerBase) -> None:
    client = greeted(server)
    ehlo(client)
    client.send(ENVELOPE + b"DATA\r\n")
    assert [client.code() for _ in range(3)] == [250, 250, 354]
    client.send(b"Subject: gone\r\n\r\nhalf a li")
    client.close()


def mid_data_reset(server: ServerBase) -> None:
    client = greeted(server)
    ehlo(client)
    client.send(ENVELOPE + b"DATA\r\n")
    assert [client.code() for _ in range(3)] == [250, 250, 354]
    client.send(b"Subject: gone\r\n\r\n" + b"line\r\n" * 1000)
    reset(client)


def mid_bdat(server: ServerBase) -> None:
    client = greeted(server)
    ehlo(client)
    client.send(ENVELOPE + b"BDAT 100000 LAST\r\nSubject: gone\r\n\r\n" + b"\0" * 5000)
    assert [client.code() for _ in range(2)] == [250, 250]
    client.close()


def mid_auth(server: ServerBase) -> None:
    client = greeted(server)
    ehlo(client)
    assert client.command(b"AUTH LOGIN").startswith(b"334 ")
    client.send(b"dXNlcg==\r\n")  # the user name, then gone before the password
    assert client.code() == 334
    client.close()


def mid_starttls(server: ServerBase) -> None:
    client = greeted(server)
    ehlo(client)
    assert client.command(b"STARTTLS").startswith(b"220 ")
    client.send(HELLO[: len(HELLO) // 2])
    client.close()


def mid_implicit_tls(server: ServerBase) -> None:
    client = greeted(server, tls=True)
    client.send(HELLO[: len(HELLO) // 2])
    reset(client)


def after_server_hello(server: ServerBase) -> None:
    client = greeted(server, tls=True)
    client.send(HELLO)
    assert client.sock.recv(1) == b"\x16"  # the server's handshake flight has begun
    client.close()


def while_stored(server: ServerBase) -> None:
    """Gone right after the end of data: the hook runs and its reply finds no one."""
    client = greeted(server)
    ehlo(client)
    client.send(ENVELOPE + b"DATA\r\n")
    assert [client.code() for _ in range(3)] == [250, 250, 354]
    client.send(b"Subject: stored\r\n\r\nwhole\r\n.\r\n")
    reset(client)


VANISHINGS: Final[list[Callable[[ServerBase], None]]] = [
    at_connect,
    mid_command,
    mid_data,
    mid_data_reset,
    mid_bdat,
    mid_auth,
    mid_starttls,
    mid_implicit_tls,
    after_server_hello,
    while_stored,
]


IMPLICIT_TLS: Final = 2  # of the ways above: mid_implicit_tls, after_server_hello


def vanish_all(server: ServerBase, rounds: int) -> None:
    """Each way to vanish `rounds` times, one session at a time."""
    for _ in range(rounds):
        for vanish in VANISHINGS:
            vanish(server)
            sessions_ended(server)


@dataclass
class Held(Recorder):
    """A Recorder whose message hook waits at `gate` while one is set."""

    gate: Gate | None = None

    def on_message_data_event(self, ctx: Context) -> None:
        if self.gate is not None:
            self.gate.wait()
        super().on_message_data_event(ctx)


def fill_hook_threads(server: ServerBase, handler: Held, count: int) -> None:
    """Have `count` message hooks run at once, so every pool of hook threads an engine
    keeps has grown as far as one session at a time could ever make it grow."""
    handler.gate = gate = Gate()
    clients = [greeted(server) for _ in range(count)]
    try:
        for client in clients:
            ehlo(client)
            client.send(ENVELOPE + b"DATA\r\nSubject: held\r\n\r\nheld\r\n.\r\n")
        for _ in clients:
            assert gate.reached()
        handler.gate = None
        gate.released.set()
        for client in clients:
            assert [client.code() for _ in range(4)] == [250, 250, 354, 250]
    finally:
        gate.released.set()
        for client in clients:
            client.close()
    sessions_ended(server)


def test_clients_vanishing_anywhere_leave_descriptors_and_threads_as_they_were(
    server_factory: ServerFactory,
) -> None:
    config = ServerConfig(auth_mode=AuthMode.OPTIONAL, auth_plaintext=True)
    handler = Held()
    server = server_factory(
        handler,
        config=config,
        tls_mode=TlsMode.OPTIONAL,
        tls_implicit_ports="0",
        max_processings=16,  # room for every held hook below
    )
    fill_hook_threads(server, handler, 8)
    vanish_all(server, 1)  # what an engine starts on first use (pools, loops) is there now
    fds, threads = open_fds(), threading.active_count()
    vanish_all(server, ROUNDS)
    # A TLS handshake may still be unwinding when its connection is no longer counted.
    wait_until(lambda: open_fds() <= fds, f"descriptors back to {fds}")
    assert open_fds() == fds
    assert threading.active_count() <= threads  # idle pool threads may end, none is added
    bystander(address_of(server))  # and the server still serves
    assert "bystander@example.test" in senders(handler)
    # Every session that began ran its disconnect hook (a failed implicit-TLS handshake
    # never begins one), the bystander's too.
    assert handler.disconnects == (ROUNDS + 1) * (len(VANISHINGS) - IMPLICIT_TLS) + 8 + 1


# `smtp-proto serve` in a subprocess ------------------------------------------------------------


@dataclass
class Serve:
    """A running `python -m transports serve`, its port and what it logged."""

    proc: subprocess.Popen[str]
    port: int = 0
    log: list[str] = field(default_factory=list)

    def read_until(self, text: str) -> str:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            if text in line:
                return line
        raise AssertionError(f"serve ended without logging {text!r}: {self.log}")

    def rest_of_log(self) -> list[str]:
        assert self.proc.stderr is not None
        self.log += self.proc.stderr.read().splitlines()
        return self.log


@contextlib.contextmanager
def serve(engine: str, maildir: Path, *options: str) -> Iterator[Serve]:
    command = [sys.executable, "-m", "transports", "serve", "--port", "0"]
    command += ["--transport", engine, "--maildir", str(maildir), *options]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as proc:  # noqa: S603
        running = Serve(proc)
        try:
            found = LISTENING.search(running.read_until("listening on").strip())
            assert found is not None
            running.port = int(found.group(1))
            yield running
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(TIMEOUT)


def body_of(number: int) -> bytes:
    """A line that says which message it is in; 1,500 of them make some 360 kB."""
    return f"message {number:06d} ".encode() * 16 + b"\r\n"


def content(sender: int, number: int) -> bytes:
    return (
        f"Subject: {sender}-{number}\r\nMessage-Id: <{sender}.{number}@example.test>\r\n\r\n"
    ).encode() + body_of(number) * 1500


@dataclass
class Sender:
    """A client sending message after message on one connection until it is cut off."""

    number: int
    port: int
    accepted: list[str] = field(default_factory=list)  # Subjects that got their 250

    def run(self) -> None:
        with contextlib.suppress(OSError), RawClient(("127.0.0.1", self.port)) as client:
            assert client.code() == 220
            ehlo(client)
            for n in range(1_000_000):
                client.send(ENVELOPE + b"DATA\r\n")
                if [client.code() for _ in range(3)] != [250, 250, 354]:
                    return
                client.send(content(self.number, n) + b".\r\n")
                if client.reply() != ACCEPTED:
                    return
                self.accepted.append(f"{self.number}-{n}")


def stored(maildir: Path) -> dict[str, bytes]:
    """Subject -> file content of every message in new/."""
    found = {}
    for path in (maildir / "new").iterdir():
        raw = path.read_bytes()
        subject = email.message_from_bytes(raw)["Subject"]
        assert subject is not None, f"{path.name} has no Subject: a partial file"
        found[str(subject)] = raw
    return found


@pytest.mark.parametrize("engine", engines.ENGINES)
def test_kill_9_mid_delivery_loses_no_accepted_message_and_leaves_no_partial_file(
    engine: str, tmp_path: Path
) -> None:
    maildir = tmp_path / "mail"
    with serve(engine, maildir) as server:
        senders_ = [Sender(n, server.port) for n in range(4)]
        threads = [start_in_thread(s.run) for s in senders_]
        try:
            # Let a few dozen messages through, then kill while every sender is mid-message.
            # Every sender must be under way: one still waiting for its EHLO would see the
            # kill as a broken greeting, not as a cut delivery.
            wait_until(lambda: all(len(s.accepted) >= 6 for s in senders_), "6 messages each")
            server.proc.send_signal(signal.SIGKILL)
            assert server.proc.wait(TIMEOUT) == -signal.SIGKILL
        finally:
            for thread in threads:
                thread.join()
    files = stored(maildir)
    accepted = [subject for s in senders_ for subject in s.accepted]
    assert set(accepted) <= set(files)  # every 250 has its file
    for subject, raw in files.items():  # and every file is whole
        sender, number = map(int, subject.split("-"))
        expected = content(sender, number).replace(b"\r\n", b"\n")
        assert raw.endswith(expected), f"{subject} is not whole"
    assert list(mailbox.Maildir(maildir, create=False).keys())  # readable as a Maildir


@pytest.mark.parametrize("engine", engines.ENGINES)
def test_sigterm_during_slow_data_gives_421_or_250_with_the_file_stored(
    engine: str, tmp_path: Path
) -> None:
    maildir = tmp_path / "mail"
    with serve(engine, maildir, "--data-timeout", "1") as server:
        address = ("127.0.0.1", server.port)
        slow, stalled = RawClient(address), RawClient(address)
        try:
            for n, client in enumerate((slow, stalled)):
                assert client.code() == 220
                ehlo(client)
                client.send(ENVELOPE + b"DATA\r\n")
                assert [client.code() for _ in range(3)] == [250, 250, 354]
                client.send(f"Subject: slow-{n}\r\n\r\nfirst line\r\n".encode())
            server.proc.send_signal(signal.SIGTERM)
            server.read_until("stopping")
            for line in range(10):  # the slow client goes on sending while the server stops
                time.sleep(0.05)
                slow.send(b"line %d\r\n" % line)
            slow.send(b".\r\n")
            finished = slow.reply()
            gave_up = stalled.reply()  # never finished: cut off by the data time-out
        finally:
            slow.close()
            stalled.close()
        assert server.proc.wait(TIMEOUT) == 0
        log = server.rest_of_log()
    files = stored(maildir)
    assert finished in (ACCEPTED, SHUTTING_DOWN, TIMED_OUT)
    assert ("slow-0" in files) is (finished == ACCEPTED)  # a 250 has its file, else none
    assert gave_up in (SHUTTING_DOWN, TIMED_OUT)
    assert "slow-1" not in files
    assert any("stopped" in line for line in log)


def test_a_client_that_resets_at_once_is_no_error(
    server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # As a load balancer's TCP health check does: connect, then reset before a byte.
    caplog.set_level(logging.INFO, logger="smtp_proto")
    handler = Recorder()
    server = server_factory(handler)
    for _ in range(20):
        sock = socket.create_connection(address_of(server), timeout=TIMEOUT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    wait_until(lambda: handler.disconnects == 20, "20 sessions ended")
    assert [r.getMessage() for r in caplog.records if r.levelno > logging.INFO] == []
