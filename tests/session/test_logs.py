"""Log records of a session carry its facts (client, AUTH user, TLS), and `SessionFormatter`
writes them after every line at INFO and above: a refusal or an accepted message says who
sent it, as whom, and whether encrypted, without -v. The Received header names the server
as its greeting did."""

from __future__ import annotations

import base64
import logging
import mailbox
from pathlib import Path

import pytest

from smtp_proto.config import AuthMode, ServerConfig
from smtp_proto.context import Context, Peer
from smtp_proto.errors import Smtpd550Error
from smtp_proto.handler import Handler
from smtp_proto.handlers import MaildirHandler
from smtp_proto.logs import SessionFormatter
from smtp_proto.session import Session
from tests.session.session_support import make_session, pump

CONFIG = ServerConfig(hostname="mx.example.test", auth_mode=AuthMode.OPTIONAL)
LOGIN = b"AUTH PLAIN " + base64.b64encode(b"\0alice\0pw") + b"\r\n"
FORMATTER = SessionFormatter("%(levelname)s %(message)s")


class Gateway(Handler):
    """Accepts alice's password; refuses recipients at elsewhere.example."""

    def on_auth_event(
        self, ctx: Context, authorization_id: str, authentication_id: str, authentication: str
    ) -> None:
        return None

    def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> None:
        if rcpt_to.endswith("@elsewhere.example"):
            raise Smtpd550Error("Relaying denied", enhanced=(5, 7, 1))


def info_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [FORMATTER.format(r) for r in caplog.records if r.levelno >= logging.INFO]


def test_refusals_and_accepted_messages_name_client_user_and_tls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="smtp_proto")
    transaction = (
        b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@elsewhere.example>\r\n"
        b"RCPT TO:<c@example.test>\r\nDATA\r\nhi\r\n.\r\n"
    )
    pump(make_session(Gateway(), CONFIG, encrypted=True), b"EHLO c.example\r\n", LOGIN, transaction)
    pump(make_session(Gateway(), CONFIG, session_id="S2"), b"EHLO c.example\r\n", transaction)
    assert info_lines(caplog) == [
        "INFO [S1] RCPT TO <b@elsewhere.example> refused: 550 5.7.1 Relaying denied"
        " client=client.example.test[127.0.0.2] user=alice tls=yes",
        "INFO [S1] accepted S1.1 from=<a@example.test> to=<c@example.test> size=4"
        " client=client.example.test[127.0.0.2] user=alice tls=yes",
        "INFO [S2] RCPT TO <b@elsewhere.example> refused: 550 5.7.1 Relaying denied"
        " client=client.example.test[127.0.0.2] tls=no",
        "INFO [S2] accepted S2.1 from=<a@example.test> to=<c@example.test> size=4"
        " client=client.example.test[127.0.0.2] tls=no",
    ]
    refusal = caplog.records[0]
    facts = (refusal.client, refusal.user, refusal.tls)  # type: ignore[attr-defined]
    assert facts == ("client.example.test[127.0.0.2]", "alice", True)


def test_a_client_without_a_name_is_its_address_in_brackets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="smtp_proto")
    session = make_session(Gateway(), CONFIG)
    session.ctx.server.remote_ip = session.ctx.server.remote_host = "192.0.2.7"  # no PTR name
    session.log(logging.WARNING, "something odd")
    assert info_lines(caplog) == ["WARNING [S1] something odd client=[192.0.2.7] tls=no"]


def test_debug_lines_and_lines_without_a_session_are_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="smtp_proto")
    pump(make_session(Gateway(), CONFIG), b"EHLO c.example\r\n")
    logging.getLogger("smtp_proto.transports").info("listening on 127.0.0.1:25")
    *debug, listening = caplog.records
    assert [FORMATTER.format(r) for r in debug] == [
        "DEBUG [S1] connection from client.example.test [127.0.0.2]:40000 to [127.0.0.1]:2525",
        "DEBUG [S1] EHLO c.example accepted",
    ]
    assert FORMATTER.format(listening) == "INFO listening on 127.0.0.1:25"


class Greeter(MaildirHandler):
    """A Maildir whose greeting a test may replace."""

    def __init__(self, path: Path, greeting: str | None) -> None:
        super().__init__(path)
        self.greeting = greeting

    def on_connect_event(self, ctx: Context) -> None:
        if self.greeting is not None:
            ctx.server.local_response = self.greeting


@pytest.mark.parametrize(
    ("greeting", "name"),
    [
        (None, "mx.example.test"),  # the config's hostname, as in the 220
        ("relay.example.test ESMTP welcome", "relay.example.test"),  # a hook's own greeting
        ("[192.0.2.1] ESMTP", "[192.0.2.1]"),
        ("Welcome, friend", "127.0.0.1"),  # no name in it: the address connected to
    ],
)
def test_received_names_the_server_as_its_greeting_did(
    tmp_path: Path, greeting: str | None, name: str
) -> None:
    handler = Greeter(tmp_path / "md", greeting)
    peer = Peer("127.0.0.1", 25, "127.0.0.1", "192.0.2.7", 40000, "192.0.2.7")
    session = Session(
        handler,
        ServerConfig(hostname="mx.example.test"),
        peer=peer,
        session_id="S1",
        clock=lambda: 0.0,
        cmd_timeout=300.0,
        data_timeout=600.0,
    )
    out = pump(
        session, b"HELO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nx\r\n.\r\n"
    )
    assert out.startswith(
        f"220 {greeting or 'mx.example.test ESMTP smtp-proto ready'}\r\n".encode()
    )
    [message] = mailbox.Maildir(tmp_path / "md", create=False)
    assert f"by {name} (smtp-proto)" in " ".join(message["Received"].split())


def test_the_cores_refusals_and_each_session_end_are_logged_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="smtp_proto")
    required = ServerConfig(hostname="mx.example.test", auth_mode=AuthMode.REQUIRED)
    pump(
        make_session(Gateway(), required),
        b"EHLO c.example\r\nMAIL FROM:<a@example.test>\r\n",
        LOGIN,
        b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nhi\r\n.\r\n"
        b"MAIL FROM:<a@example.test>\r\nRCPT TO:<oops\r\nQUIT\r\n",
    )
    facts = "client=client.example.test[127.0.0.2]"
    assert info_lines(caplog) == [
        f"INFO [S1] MAIL refused by the server: 530 5.7.0 Authentication required {facts} tls=no",
        "INFO [S1] accepted S1.1 from=<a@example.test> to=<b@example.test> size=4"
        f" {facts} user=alice tls=no",
        "INFO [S1] RCPT refused by the server: 501 5.5.4 Syntax error in parameters or arguments"
        f" {facts} user=alice tls=no",
        f"INFO [S1] connection closed by the server: data=1/1 errors=2 {facts} user=alice tls=no",
    ]
