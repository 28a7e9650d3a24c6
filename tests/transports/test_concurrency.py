"""Sessions do not hold each other up: a hook that blocks in one session leaves the others
running, and replies the client has not read yet wait for it without stalling anyone."""

from __future__ import annotations

import functools
import random
import threading

from smtp_proto.context import Context
from smtp_proto.errors import Smtpd550Error
from tests.transports.transport_support import (
    TIMEOUT,
    Gate,
    RawClient,
    Recorder,
    ServerFactory,
    address_of,
    start_in_thread,
    wait_in_hook,
)

SLOW = "slow@example.org"
MESSAGE = b"Subject: hi\r\n\r\nbody\r\n.\r\n"


class _GatedSender(Recorder):
    """Holds MAIL FROM of `SLOW` until the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = Gate()

    def on_mail_from_event(self, ctx: Context, mail_from: str) -> str | None:
        if mail_from == SLOW:
            self.gate.wait()
        return None


def _transaction(client: RawClient, sender: str) -> None:
    assert client.command(f"MAIL FROM:<{sender}>".encode()).startswith(b"250")
    assert client.command(b"RCPT TO:<rcpt@example.org>").startswith(b"250")
    assert client.command(b"DATA").startswith(b"354")
    client.send(MESSAGE)
    assert client.code() == 250


def test_a_hook_blocked_in_one_session_holds_up_no_other(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = _GatedSender()
    server = server_factory(handler)
    slow, fast = RawClient(address_of(server)), RawClient(address_of(server))
    clients += [slow, fast]
    for client in (slow, fast):
        assert client.code() == 220
        assert client.command(b"EHLO client.example.org").startswith(b"250")
    slow.send(f"MAIL FROM:<{SLOW}>\r\n".encode())
    assert handler.gate.reached()
    _transaction(fast, "fast@example.org")  # while the other session's hook is blocked
    handler.gate.released.set()
    assert slow.code() == 250
    assert slow.command(b"RCPT TO:<rcpt@example.org>").startswith(b"250")
    assert slow.command(b"DATA").startswith(b"354")
    slow.send(MESSAGE)
    assert slow.code() == 250
    _transaction(slow, "again@example.org")  # the session waits for its client as before
    assert [m.mail_from for m in handler.messages] == [
        "fast@example.org",
        SLOW,
        "again@example.org",
    ]


def test_replies_beyond_the_socket_buffers_all_arrive_once_the_client_reads(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    server = server_factory(Recorder())
    client = RawClient(address_of(server), receive_buffer=131072)
    clients.append(client)
    assert client.code() == 220
    count = 30_000  # some 6 MB of EHLO replies: more than the sockets buffer
    sent = threading.Event()

    def send_all() -> None:
        client.send(b"EHLO client.example.org\r\n" * count)
        sent.set()

    sender = start_in_thread(send_all)
    try:
        sent.wait(0.5)  # reading nothing meanwhile: the server's sends must wait
        for _ in range(count):
            assert client.reply().startswith(b"250-")
        assert client.command(b"QUIT").startswith(b"221")  # the session waits as before
        assert client.closed()
    finally:
        sender.join(TIMEOUT)
    assert sent.is_set()


class _Mixed(Recorder):
    """Records messages; a hook that takes a moment for some of them, and refuses others."""

    def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> str | None:
        if rcpt_to.startswith("refused"):
            raise Smtpd550Error()
        return None

    def on_message_data_event(self, ctx: Context) -> None:
        if b"Subject: slow" in ctx.message.data:
            wait_in_hook(threading.Event(), 0.002)  # a hook that takes its time
        super().on_message_data_event(ctx)


def _client_run(address: tuple[str, int], index: int, accepted: list[bytes]) -> None:
    """One client's session of mixed work; the subjects answered 250 go to `accepted`."""
    rng = random.Random(index)
    with RawClient(address) as client:
        assert client.code() == 220
        assert client.command(b"EHLO client.example.org").startswith(b"250")
        for number in range(rng.randint(1, 6)):
            subject = f"{'slow' if rng.random() < 0.3 else 'fast'} {index}.{number}".encode()
            body = (b"x" * 70 + b"\r\n") * rng.choice((1, 30, 1000))  # up to 72 kB
            message = b"Subject: " + subject + b"\r\n\r\n" + body + b".\r\n"
            rcpt = b"refused@example.org" if rng.random() < 0.1 else b"rcpt@example.org"
            if rng.random() < 0.5:  # pipelined (RFC 2920): the whole transaction at once
                client.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<" + rcpt + b">\r\nDATA\r\n")
                codes = [client.code() for _ in range(3)]
                if codes[2] == 354:
                    client.send(message)
                    codes.append(client.code())
            else:
                codes = []
                codes.append(int(client.command(b"MAIL FROM:<a@example.org>")[:3]))
                codes.append(int(client.command(b"RCPT TO:<" + rcpt + b">")[:3]))
                codes.append(int(client.command(b"DATA")[:3]))
                if codes[2] == 354:
                    client.send(message)
                    codes.append(client.code())
            if codes[-1] == 250 and len(codes) == 4:
                accepted.append(subject)
            elif codes[2] != 354:
                assert client.command(b"RSET").startswith(b"250")
            if rng.random() < 0.1:  # gone in the middle of the next message
                client.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<r@example.org>\r\nDATA\r\n")
                client.send(b"Subject: lost\r\n\r\nhalf a messa")
                return
        assert client.command(b"QUIT").startswith(b"221")


def test_many_clients_of_mixed_work_lose_no_message_and_never_hang(
    server_factory: ServerFactory,
) -> None:
    handler = _Mixed()
    server = server_factory(handler, max_processings=8)
    accepted: list[bytes] = []
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            _client_run(address_of(server), index, accepted)
        except BaseException as err:  # reported below, in the test's own thread
            failures.append(err)

    threads = [start_in_thread(functools.partial(run, i)) for i in range(48)]
    for thread in threads:
        thread.join(TIMEOUT * 3)
    assert not any(t.is_alive() for t in threads), "a client hangs"
    assert failures == []
    recorded = sorted(
        m.data.split(b"\r\n", 1)[0].removeprefix(b"Subject: ") for m in handler.messages
    )
    assert recorded == sorted(accepted)  # every 250 was stored, nothing else was
    assert len(accepted) > 48
