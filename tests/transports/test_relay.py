"""`RelayHandler` in front of a second server of ours: what reaches the upstream, and how its
refusals, its silence and its TLS reach the client."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from smtp_proto.config import ServerConfig
from smtp_proto.context import Context
from smtp_proto.errors import Smtpd452Error, Smtpd554Error
from smtp_proto.handlers import RelayHandler, RelayTls, SinkHandler
from tests.transports.transport_support import TIMEOUT, free_port
from transports import tls
from transports.base import ServerBase
from transports.engines import server_class
from transports.pytest_plugin import SmtpTestServer

Factory = Callable[..., SmtpTestServer]
MAIL = "Subject: relayed\r\nFrom: a@example.org\r\n\r\nHello\r\n"
RELAY_CONFIG = ServerConfig(hostname="relay.example.test", binarymime=False)


@pytest.fixture
def servers() -> Iterator[Callable[..., ServerBase]]:
    """Start servers for a test (threads unless told; 127.0.0.1, port 0); each stops after."""
    started: list[ServerBase] = []

    def start(
        handler: SinkHandler | RelayHandler,
        config: ServerConfig = RELAY_CONFIG,
        engine: str = "threads",
        **options: Any,
    ) -> ServerBase:
        server = server_class(engine)(handler, "0", "127.0.0.1", config=config, **options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(grace=0)


def relay_to(servers: Callable[..., ServerBase], port: int, **options: object) -> tuple[str, int]:
    options.setdefault("tls", RelayTls.OFF)
    options.setdefault("timeout", TIMEOUT)
    handler = RelayHandler("127.0.0.1", port, hostname="relay.example.test", **options)  # type: ignore[arg-type]
    return servers(handler).addresses[0]


def test_a_message_reaches_the_upstream_with_our_received_header(
    smtp_server: SmtpTestServer, servers: Callable[..., ServerBase]
) -> None:
    relay = relay_to(servers, smtp_server.port)
    with smtplib.SMTP(*relay, local_hostname="client.example", timeout=TIMEOUT) as client:
        assert client.sendmail("a@example.org", ["b@example.test", "c@example.test"], MAIL) == {}
        assert client.sendmail("<>", ["d@example.test"], MAIL) == {}  # the same upstream session
    first, second = smtp_server.wait_for(2)
    assert (first.mail_from, first.rcpt_to) == (
        "a@example.org",
        ("b@example.test", "c@example.test"),
    )
    assert (second.mail_from, second.rcpt_to) == ("", ("d@example.test",))
    assert first.helo == "relay.example.test"
    assert first.session_id == second.session_id
    received = first.message.get_all("Received")
    assert received is not None
    assert received[0].startswith("from client.example ([127.0.0.1])\tby relay.example.test ")
    assert first.data.endswith(MAIL.encode())


def test_upstream_refusals_reach_the_client_per_recipient(
    smtp_server_factory: Factory, servers: Callable[..., ServerBase]
) -> None:
    upstream = smtp_server_factory(
        refuse={"gone@example.test": (550, "No such user"), "later@example.test": (450, "Later")}
    )
    relay = relay_to(servers, upstream.port)
    rcpts = ["b@example.test", "gone@example.test", "later@example.test"]
    with smtplib.SMTP(*relay, timeout=TIMEOUT) as client:
        refused = client.sendmail("a@example.org", rcpts, MAIL)
    assert refused == {
        "gone@example.test": (550, b"5.0.0 No such user"),
        "later@example.test": (451, b"4.4.0 Upstream server deferred: 450 4.0.0 Later"),
    }
    [mail] = upstream.wait_for(1)
    assert mail.rcpt_to == ("b@example.test",)


def test_a_size_the_upstream_refuses_is_refused_at_mail(
    smtp_server_factory: Factory, servers: Callable[..., ServerBase]
) -> None:
    upstream = smtp_server_factory(message_size=100)
    relay = relay_to(servers, upstream.port)
    with smtplib.SMTP(*relay, timeout=TIMEOUT) as client:
        client.ehlo()
        assert client.mail("a@example.org", ["SIZE=101"]) == (
            552,
            b"5.3.4 Message size exceeds fixed maximum message size",
        )
        assert client.mail("a@example.org", ["SIZE=100"])[0] == 250


class Refusing(SinkHandler):
    """Takes every recipient, then refuses messages whose subject names a reply."""

    def on_message_data_event(self, ctx: Context) -> None:
        if b"Subject: 452" in ctx.message.data:
            raise Smtpd452Error
        if b"Subject: 554" in ctx.message.data:
            raise Smtpd554Error("5.7.1 Spam", enhanced=(5, 7, 1))
        self.keep(ctx)


@pytest.mark.parametrize(
    ("subject", "reply"),
    [
        (
            "452",
            (
                451,
                b"4.4.0 Upstream server deferred: 452 4.3.1 Requested action not taken:"
                b" insufficient system storage",
            ),
        ),
        ("554", (554, b"5.7.1 5.7.1 Spam")),
    ],
)
def test_an_upstream_refusal_after_data_is_the_clients(
    servers: Callable[..., ServerBase], subject: str, reply: tuple[int, bytes]
) -> None:
    upstream = Refusing()
    relay = relay_to(servers, servers(upstream, ServerConfig()).addresses[0][1])
    with smtplib.SMTP(*relay, timeout=TIMEOUT) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.org", ["b@example.test"], f"Subject: {subject}\r\n\r\nx\r\n")
        assert (refused.value.smtp_code, refused.value.smtp_error) == reply
        assert client.sendmail("a@example.org", ["b@example.test"], MAIL) == {}  # RSET upstream
    assert len(upstream.messages) == 1


def test_an_upstream_that_is_down_is_451_4_4_1(
    servers: Callable[..., ServerBase], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    relay = relay_to(servers, port)
    with caplog.at_level(logging.INFO, "smtp_proto"), smtplib.SMTP(*relay, timeout=TIMEOUT) as c:
        c.ehlo()
        assert c.mail("a@example.org") == (
            451,
            b"4.4.1 Upstream server unreachable, try again later",
        )
    assert f"upstream 127.0.0.1:{port} unreachable: ConnectionRefusedError" in caplog.text


def test_starttls_upstream_verifies_its_certificate(
    smtp_server_factory: Factory, servers: Callable[..., ServerBase]
) -> None:
    upstream = smtp_server_factory(starttls=True, users={"relay": "pw"})
    trusting = relay_to(
        servers,
        upstream.port,
        tls=RelayTls.STARTTLS,
        ssl_context=upstream.ssl_context,
        auth=("relay", "pw"),
    )
    verifying = relay_to(servers, upstream.port, tls="starttls")  # the system's CAs
    wrong_password = relay_to(
        servers,
        upstream.port,
        tls="starttls",
        ssl_context=upstream.ssl_context,
        auth=("relay", "x"),
    )
    with smtplib.SMTP(*trusting, timeout=TIMEOUT) as client:
        assert client.sendmail("a@example.org", ["b@example.test"], MAIL) == {}
    [mail] = upstream.wait_for(1)
    assert (mail.encrypted, mail.authorization_id) == (True, "relay")
    for relay, reply in [
        (verifying, (451, b"4.4.2 TLS with the upstream server failed, try again later")),
        (wrong_password, (451, b"4.4.0 Upstream server refused our login, try again later")),
    ]:
        with smtplib.SMTP(*relay, timeout=TIMEOUT) as client:
            client.ehlo()
            assert client.mail("a@example.org") == reply


def test_starttls_is_required_of_the_upstream_unless_turned_off(
    smtp_server: SmtpTestServer, servers: Callable[..., ServerBase]
) -> None:
    relay = relay_to(servers, smtp_server.port, tls=RelayTls.STARTTLS)
    with smtplib.SMTP(*relay, timeout=TIMEOUT) as client:
        client.ehlo()
        assert client.mail("a@example.org") == (
            451,
            b"4.4.0 Upstream server offers no STARTTLS, try again later",
        )


class LmtpMailbox(SinkHandler):
    """An LMTP server that keeps messages but has no room for full@."""

    def on_lmtp_delivery_event(self, ctx: Context, rcpt_to: str, index: int) -> None:
        if rcpt_to.startswith("full@"):
            raise Smtpd452Error("Mailbox full", enhanced=(4, 2, 2))


def test_an_lmtp_upstream_answers_each_recipient(servers: Callable[..., ServerBase]) -> None:
    upstream = LmtpMailbox()
    lmtp = servers(upstream, ServerConfig(lmtp=True)).addresses[0][1]
    relay = relay_to(servers, lmtp, lmtp=True)
    with smtplib.SMTP(*relay, timeout=TIMEOUT) as client:
        assert client.sendmail("a@example.org", ["b@example.test", "c@example.test"], MAIL) == {}
        # Some took it, one did not: the client must send it again (a duplicate, not a loss).
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.org", ["b@example.test", "full@example.test"], MAIL)
        assert refused.value.smtp_code == 451
    lmtp_handler = RelayHandler("127.0.0.1", lmtp, lmtp=True, tls="off", timeout=TIMEOUT)
    lmtp_relay = servers(lmtp_handler, ServerConfig(lmtp=True)).addresses[0]
    with smtplib.LMTP(*lmtp_relay, timeout=TIMEOUT) as client:  # an LMTP client hears each one
        client.ehlo()
        client.mail("a@example.org")
        client.rcpt("b@example.test")
        client.rcpt("full@example.test")
        assert client.data(MAIL.encode()) == (250, b"2.1.5 Delivered")
        assert client.getreply() == (451, b"4.4.0 Upstream server deferred: 452 4.2.2 Mailbox full")
    assert len(upstream.messages) == 3


def test_bad_relay_settings_are_refused_at_once() -> None:
    with pytest.raises(ValueError, match="not implicit TLS"):
        RelayHandler("127.0.0.1", lmtp=True, tls="implicit")
    with pytest.raises(ValueError, match="'tcp' is not a valid RelayTls"):
        RelayHandler("127.0.0.1", tls="tcp")
    with pytest.raises(ValueError, match="bad upstream port 70000"):
        RelayHandler("127.0.0.1", 70000)
    assert RelayHandler("mx.example.test", tls=RelayTls.IMPLICIT).address == "mx.example.test:465"


def test_binarymime_is_refused_at_mail(
    smtp_server: SmtpTestServer, servers: Callable[..., ServerBase]
) -> None:
    handler = RelayHandler("127.0.0.1", smtp_server.port, tls="off", timeout=TIMEOUT)
    relay = servers(handler, ServerConfig()).addresses[0]
    with smtplib.SMTP(*relay, timeout=TIMEOUT) as client:
        client.ehlo()
        assert client.mail("a@example.org", ["BODY=BINARYMIME"]) == (
            555,
            b"5.5.4 BODY=BINARYMIME cannot be relayed",
        )


def test_tls_to_the_upstream_verifies_by_default() -> None:
    handler = RelayHandler("mx.example.test", tls="implicit")
    assert handler.ssl_context.verify_mode is ssl.CERT_REQUIRED
    assert handler.ssl_context.check_hostname


@pytest.mark.parametrize("engine", ["asyncio", "trio"])
def test_the_relay_runs_on_anyio_in_worker_threads(
    smtp_server_factory: Factory, servers: Callable[..., ServerBase], engine: str
) -> None:
    upstream = smtp_server_factory(refuse={"gone@example.test": (550, "No such user")})
    handler = RelayHandler("127.0.0.1", upstream.port, tls="off", timeout=TIMEOUT)
    relay = servers(handler, engine=engine)
    with smtplib.SMTP(*relay.addresses[0], timeout=TIMEOUT) as client:
        refused = client.sendmail("a@example.org", ["b@example.test", "gone@example.test"], MAIL)
    assert refused == {"gone@example.test": (550, b"5.0.0 No such user")}
    assert upstream.wait_for(1)[0].rcpt_to == ("b@example.test",)


class Forgetful(SinkHandler):
    """Keeps messages and says when a session of it ended."""

    def __init__(self) -> None:
        super().__init__()
        self.gone = threading.Event()

    def on_disconnect_event(self, ctx: Context) -> None:
        self.gone.set()


def test_an_upstream_that_dropped_an_idle_connection_is_dialled_again(
    servers: Callable[..., ServerBase],
) -> None:
    upstream = Forgetful()
    port = servers(upstream, ServerConfig(), io_cmd_timeout=0.2).addresses[0][1]
    relay = relay_to(servers, port)
    with smtplib.SMTP(*relay, timeout=TIMEOUT) as client:
        assert client.sendmail("a@example.org", ["b@example.test"], MAIL) == {}
        assert upstream.gone.wait(TIMEOUT)  # the upstream timed our idle connection out
        assert client.sendmail("a@example.org", ["c@example.test"], MAIL) == {}
    first, second = upstream.messages
    assert first.session_id != second.session_id


def test_an_upstream_that_never_greets_times_out_with_451_4_4_2(
    servers: Callable[..., ServerBase],
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as mute:  # connects, never accepted
        relay = relay_to(servers, mute.getsockname()[1], timeout=0.2)
        with smtplib.SMTP(*relay, timeout=TIMEOUT) as client:
            client.ehlo()
            assert client.mail("a@example.org") == (
                451,
                b"4.4.2 Upstream server timed out, try again later",
            )


def test_an_implicit_tls_upstream(servers: Callable[..., ServerBase]) -> None:
    cert, key = tls.generate_certificate("localhost", ["localhost"])
    upstream = SinkHandler()
    smtps = servers(
        upstream,
        ServerConfig(),
        tls_implicit_ports="0",
        ssl_context=tls.context_from_pem(cert, key),
    )
    [port] = [item.port for item in smtps.listeners if item.tls]
    trusting = ssl.create_default_context(cadata=cert.decode("ascii"))
    handler = RelayHandler(
        "localhost", port, tls=RelayTls.IMPLICIT, ssl_context=trusting, timeout=TIMEOUT
    )
    with smtplib.SMTP(*servers(handler).addresses[0], timeout=TIMEOUT) as client:
        assert client.sendmail("a@example.org", ["b@example.test"], MAIL) == {}
    [mail] = upstream.messages
    assert mail.encrypted


class Closed(SinkHandler):
    """Greets every client with 554: it takes mail from no one."""

    def on_connect_event(self, ctx: Context) -> None:
        raise Smtpd554Error("No SMTP service here")


def test_an_upstream_that_refuses_the_relay_itself_is_451_not_5xx(
    servers: Callable[..., ServerBase],
) -> None:
    relay = relay_to(servers, servers(Closed(), ServerConfig()).addresses[0][1])
    with smtplib.SMTP(*relay, timeout=TIMEOUT) as client:  # a setting to fix: try later
        client.ehlo()
        assert client.mail("a@example.org") == (
            451,
            b"4.4.0 Upstream server refused the connection: 554 No SMTP service here",
        )


def test_sessions_at_once_each_have_their_own_upstream_connection(
    smtp_server: SmtpTestServer, servers: Callable[..., ServerBase]
) -> None:
    relay = relay_to(servers, smtp_server.port)
    failures: list[BaseException] = []

    def send(n: int) -> None:
        try:
            with smtplib.SMTP(*relay, timeout=TIMEOUT) as client:
                for m in range(3):
                    client.sendmail(f"s{n}@example.org", [f"r{m}@example.test"], MAIL)
        except (OSError, smtplib.SMTPException) as err:
            failures.append(err)

    senders = [threading.Thread(target=send, args=(n,)) for n in range(10)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert failures == []
    mails = smtp_server.wait_for(30)
    by_session: dict[str, set[str]] = {}
    for mail in mails:
        by_session.setdefault(mail.session_id, set()).add(mail.mail_from)
    assert [len(froms) for froms in by_session.values()] == [1] * 10  # never crossed
