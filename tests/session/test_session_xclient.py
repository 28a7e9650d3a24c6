"""XCLIENT through the session layer: the trusted front end (`xclient_trusted`) is offered
it and names the client, whom ctx, the hooks and the Received header then see; others get
550 5.7.0; `on_xclient_event` decides for itself when a handler has its own."""

from __future__ import annotations

from dataclasses import replace

from smtp_proto.context import Context
from smtp_proto.errors import Smtpd550Error
from smtp_proto.handler import Handler
from smtp_proto.handlers import received_header
from tests.session.session_support import CONFIG, PEER, make_session, pump

TRUSTED = replace(CONFIG, xclient_trusted=("127.0.0.0/8",))  # PEER is 127.0.0.2
ELSEWHERE = replace(CONFIG, xclient_trusted=("10.0.0.0/8",))
EHLO = b"EHLO front.example\r\n"
XCLIENT = (
    b"XCLIENT NAME=mx.client.example ADDR=192.0.2.9 PORT=56324 HELO=client.example"
    b" DESTADDR=198.51.100.2 DESTPORT=25\r\n"
)
MAIL = (
    b"EHLO client.example\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
    b"DATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n"
)
OFFER = b"250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT\r\n"


class Seen(Handler):
    """Who each MAIL FROM came from, and each message's Received header as `serve` writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.clients: list[tuple[str, str, int, str, int, str, int]] = []
        self.received: list[bytes] = []

    def on_message_data_event(self, ctx: Context) -> None:
        self.received.append(received_header(ctx, hostname="mx.example.test"))

    def on_mail_from_event(self, ctx: Context, mail_from: str) -> None:
        s = ctx.server
        seen = (s.remote_host, s.remote_ip, s.remote_port, s.local_ip, s.local_port)
        self.clients.append((*seen, s.xclient_ip, s.xclient_port))


def test_a_trusted_front_end_is_offered_xclient_and_names_the_client() -> None:
    handler = Seen()
    session = make_session(handler, TRUSTED)
    out = pump(session, EHLO + XCLIENT + MAIL)
    assert OFFER in out
    assert out.count(b"220 mx.example.test ESMTP smtp-proto ready\r\n") == 2
    assert handler.clients == [
        ("mx.client.example", "192.0.2.9", 56324, "198.51.100.2", 25, "127.0.0.2", 40000)
    ]
    assert session.ctx.server.xclient[0] == ("NAME", "mx.client.example")
    [received] = handler.received
    assert received.startswith(b"Received: from client.example (mx.client.example [192.0.2.9])")


def test_an_untrusted_peer_is_not_offered_it_and_gets_550() -> None:
    handler = Seen()
    out = pump(make_session(handler, ELSEWHERE), EHLO + XCLIENT + MAIL)
    assert OFFER not in out
    assert b"550 5.7.0 XCLIENT not authorized\r\n" in out
    assert handler.clients == [
        ("client.example.test", "127.0.0.2", 40000, "127.0.0.1", 2525, "", 0)
    ]


def test_without_a_trusted_list_or_a_hook_it_is_an_unknown_command() -> None:
    out = pump(make_session(Handler(), CONFIG), EHLO + XCLIENT)
    assert OFFER not in out
    assert out.endswith(b"500 5.5.2 Command unrecognized\r\n")


def test_a_second_xclient_is_judged_by_the_front_end_not_the_named_client() -> None:
    handler = Seen()
    narrow = replace(CONFIG, xclient_trusted=(f"{PEER.remote_ip}/32",))
    second = b"XCLIENT ADDR=192.0.2.10 PORT=1\r\n"
    pump(make_session(handler, narrow), EHLO + XCLIENT + second + MAIL)
    assert handler.clients[0][1:3] == ("192.0.2.10", 1)  # 192.0.2.9 is not in the list
    assert handler.clients[0][5] == "127.0.0.2"


class OwnPolicy(Seen):
    """Takes XCLIENT from anyone who names a client in 192.0.2.0/24, from no one else."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[dict[str, str]] = []

    def on_xclient_event(self, ctx: Context, attributes: dict[str, str]) -> None:
        self.asked.append(attributes)
        if not attributes.get("ADDR", "").startswith("192.0.2."):
            raise Smtpd550Error("Not you", enhanced=(5, 7, 0))


def test_a_handlers_own_hook_decides_for_every_peer() -> None:
    handler = OwnPolicy()
    out = pump(make_session(handler, CONFIG), EHLO + XCLIENT + b"XCLIENT ADDR=10.1.1.1\r\n")
    assert OFFER not in out  # offered only to the configured front ends
    assert handler.asked[0]["ADDR"] == "192.0.2.9"
    assert out.endswith(b"550 5.7.0 Not you\r\n")
    assert out.count(b"220 ") == 2  # the first XCLIENT was taken


def test_unavailable_attributes_leave_what_was_known() -> None:
    handler = Seen()
    line = b"XCLIENT NAME=[TEMPUNAVAIL] ADDR=192.0.2.9 PORT=[UNAVAILABLE]\r\n"
    pump(make_session(handler, TRUSTED), EHLO + line + MAIL)
    assert handler.clients[0][:3] == ("192.0.2.9", "192.0.2.9", 40000)
