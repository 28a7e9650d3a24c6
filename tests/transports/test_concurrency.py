"""Sessions do not hold each other up: a hook that blocks in one session leaves the others
running, and replies the client has not read yet wait for it without stalling anyone."""

from __future__ import annotations

import threading

from smtp_proto.context import Context
from tests.transports.transport_support import (
    TIMEOUT,
    Gate,
    RawClient,
    Recorder,
    ServerFactory,
    address_of,
    start_in_thread,
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
