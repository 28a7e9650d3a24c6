"""Mail over real sockets with the stdlib smtplib: plain, AUTH, SMTPUTF8, big, many, pipelined."""

from __future__ import annotations

import hashlib
import smtplib
import socket

import pytest

from smtp_proto.config import AuthMode, Limits, ServerConfig
from smtp_proto.context import Context
from smtp_proto.errors import Smtpd535Error
from tests.transports.transport_support import (
    TIMEOUT,
    RawClient,
    Recorder,
    ServerFactory,
    address_of,
)

BODY = b"Subject: hello\r\n\r\nHello there.\r\n.leading dot\r\n"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_plain_message_reaches_the_handler(server_factory: ServerFactory, host: str) -> None:
    handler = Recorder()
    server = server_factory(handler, hosts=host)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        refused = client.sendmail("a@example.test", ["b@example.test"], BODY)
    assert refused == {}
    [message] = handler.messages
    assert (message.mail_from, message.rcpt_to) == ("a@example.test", ["b@example.test"])
    assert message.data == BODY
    assert not message.encrypted
    assert handler.disconnects == 1


def test_several_messages_in_one_session(server_factory: ServerFactory) -> None:
    handler = Recorder()
    server = server_factory(handler)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        for n in range(5):
            client.sendmail(f"s{n}@example.test", ["r@example.test"], BODY)
    assert [m.mail_from for m in handler.messages] == [f"s{n}@example.test" for n in range(5)]


def test_every_port_on_every_host_serves(server_factory: ServerFactory) -> None:
    handler = Recorder()
    server = server_factory(handler, ports="0, 0:0", hosts="127.0.0.1, ::1")
    families = [item.family for item in server.listeners]
    assert families == [socket.AF_INET, socket.AF_INET6, socket.AF_INET6]
    assert [host for host, _ in server.addresses] == ["127.0.0.1", "::1", "::1"]
    for address in server.addresses:
        with smtplib.SMTP(*address, timeout=TIMEOUT) as client:
            client.sendmail("a@example.test", ["b@example.test"], BODY)
    assert [m.local_port for m in handler.messages] == [port for _, port in server.addresses]


def test_smtputf8_addresses_and_headers(server_factory: ServerFactory) -> None:
    handler = Recorder()
    server = server_factory(handler)
    body = "Subject: Grüße\r\n\r\nSchöne Grüße aus Köln\r\n".encode()
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        client.ehlo()
        assert client.has_extn("smtputf8")
        client.sendmail(
            "jöran@exämple.test",
            ["用户@例子.test"],
            body,
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
    [message] = handler.messages
    assert (message.mail_from, message.rcpt_to) == ("jöran@exämple.test", ["用户@例子.test"])
    assert message.encoding_utf8 == "utf8"
    assert message.data == body


def test_a_20_mib_message_arrives_whole(server_factory: ServerFactory) -> None:
    handler = Recorder()
    server = server_factory(handler)
    line = b"." + b"x" * 996 + b"\r\n"  # 999 octets, a leading dot to unstuff on each line
    body = b"Subject: big\r\n\r\n" + line * (20 * 1024 * 1024 // len(line) + 1)
    assert len(body) > 20 * 1024 * 1024
    with smtplib.SMTP(*address_of(server), timeout=60) as client:
        client.sendmail("a@example.test", ["b@example.test"], body)
    [message] = handler.messages
    assert len(message.data) == len(body)
    assert hashlib.sha256(message.data).digest() == hashlib.sha256(body).digest()


def test_message_size_limit_at_its_edge_and_one_past(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = Recorder()
    body = b"Subject: x\r\n\r\n" + b"y" * 86 + b"\r\n"  # 102 octets
    config = ServerConfig(limits=Limits(message_size=len(body)))
    server = server_factory(handler, config=config)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        client.sendmail("a@example.test", ["b@example.test"], body)  # SIZE=102
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("a@example.test", ["b@example.test"], body + b"z")  # SIZE=103
    assert refused.value.smtp_code == 552
    raw = RawClient(address_of(server))  # no SIZE: the content itself is one octet over
    clients.append(raw)
    raw.reply()
    raw.command(b"EHLO client.example.test")
    raw.send(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
    assert [raw.code() for _ in range(3)] == [250, 250, 354]
    assert (
        raw.command(body + b"z\r\n.")
        == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    )
    assert len(handler.messages) == 1


def test_100_recipients(server_factory: ServerFactory) -> None:
    handler = Recorder()
    server = server_factory(handler)
    recipients = [f"user{n}@example.test" for n in range(100)]
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        assert client.sendmail("a@example.test", recipients, BODY) == {}
    assert handler.messages[0].rcpt_to == recipients


def test_pipelined_sessions_get_every_reply_in_order(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = Recorder()
    server = server_factory(handler)
    client = RawClient(address_of(server))
    clients.append(client)
    assert client.code() == 220
    assert b"PIPELINING" in client.command(b"EHLO client.example.test")
    client.send(
        b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
        b"RCPT TO:<c@example.test>\r\nDATA\r\n"
    )
    assert [client.code() for _ in range(4)] == [250, 250, 250, 354]
    client.send(
        b"Subject: one\r\n\r\nfirst\r\n.\r\n"
        b"MAIL FROM:<d@example.test>\r\nRCPT TO:<e@example.test>\r\nDATA\r\n"
    )
    assert [client.code() for _ in range(4)] == [250, 250, 250, 354]
    client.send(b"Subject: two\r\n\r\nsecond\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    assert [client.code() for _ in range(4)] == [250, 250, 250, 221]
    assert client.closed()
    assert [(m.rcpt_to, m.data) for m in handler.messages] == [
        (["b@example.test", "c@example.test"], b"Subject: one\r\n\r\nfirst\r\n"),
        (["e@example.test"], b"Subject: two\r\n\r\nsecond\r\n"),
    ]


class Accounts(Recorder):
    """Accepts the user `alice` with the password `secret`, by every mechanism."""

    def on_auth_event(
        self, ctx: Context, authorization_id: str, authentication_id: str, authentication: str
    ) -> str | None:
        attempt = ctx.server.auth_credentials
        if authentication_id == "alice" and attempt is not None and attempt.verify("secret"):
            return None
        raise Smtpd535Error


AUTH_CONFIG = ServerConfig(auth_mode=AuthMode.REQUIRED)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_auth_mechanisms(server_factory: ServerFactory, mechanism: str) -> None:
    handler = Accounts()
    server = server_factory(handler, config=AUTH_CONFIG)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        client.ehlo()
        assert mechanism in client.esmtp_features["auth"].split()
        client.user, client.password = "alice", "secret"
        method = getattr(client, "auth_" + mechanism.lower().replace("-", "_"))
        code, _ = client.auth(mechanism, method)
        assert code == 235
        client.sendmail("alice@example.test", ["b@example.test"], BODY)
    assert handler.messages[0].authentication_id == "alice"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_wrong_password_gets_535(server_factory: ServerFactory, mechanism: str) -> None:
    handler = Accounts()
    server = server_factory(handler, config=AUTH_CONFIG)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        client.ehlo()
        client.user, client.password = "alice", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError) as denied:
            client.auth(mechanism, getattr(client, "auth_" + mechanism.lower()))
        assert denied.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("alice@example.test", ["b@example.test"], BODY)
        assert refused.value.smtp_code == 530
    assert handler.messages == []
