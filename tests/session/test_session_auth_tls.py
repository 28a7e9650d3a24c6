"""AUTH, STARTTLS and LMTP through the session session; AUTH secrets never reach a log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import mailbox
from datetime import timedelta
from pathlib import Path

import pytest

from smtp_proto.config import AuthMode, TlsMode
from smtp_proto.context import Context
from smtp_proto.errors import Smtpd535Error, Smtpd552Error, Smtpd554Error, SmtpError
from smtp_proto.handler import Handler
from smtp_proto.handlers import MaildirHandler, SinkHandler
from tests.session.session_support import CONFIG, START, lines, make_session, pump

AUTH_CONFIG = CONFIG.__class__(hostname="mx.example.test", auth_mode=AuthMode.OPTIONAL)
PASSWORD = "s3cret-Pa55"
NONCE = "4711.1541073600"
CHALLENGE = f"<{NONCE}@mx.example.test>".encode()
AUTH_OK = b"235 2.7.0 Authentication successful\r\n"
AUTH_FAILED = b"535 5.7.8 Authentication credentials invalid\r\n"


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def plain(authzid: str, user: str, password: str) -> bytes:
    return b"AUTH PLAIN " + b64(f"{authzid}\0{user}\0{password}".encode()) + b"\r\n"


def cram_response(user: str, password: str) -> bytes:
    digest = hmac.new(password.encode(), CHALLENGE, hashlib.md5).hexdigest()
    return b64(f"{user} {digest}".encode()) + b"\r\n"


class Users(SinkHandler):
    """Checks passwords the way the seed suggests, through AuthCredentials.verify."""

    def on_auth_event(
        self, ctx: Context, authorization_id: str, authentication_id: str, authentication: str
    ) -> str | None:
        credentials = ctx.server.auth_credentials
        assert credentials is not None
        if authentication_id == "user" and credentials.verify(PASSWORD):
            return "role" if authorization_id == "admin" else None
        raise Smtpd535Error(log=f"bad password for {authentication_id}")


def auth_session(handler: Handler, *commands: bytes) -> tuple[bytes, Context]:
    session = make_session(handler, AUTH_CONFIG, nonce=NONCE)
    out = pump(session, b"EHLO c.example\r\n", *commands)
    return out, session.ctx


def test_default_handler_denies_auth() -> None:
    out, ctx = auth_session(Handler(), plain("", "user", PASSWORD))
    assert lines(out)[-1] == AUTH_FAILED
    assert ctx.server.authenticated is None
    assert ctx.server.exceptions == 1


def test_seed_auth_example_accepts_and_fills_ctx() -> None:
    class Seed(Handler):
        def on_auth_event(
            self, ctx: Context, authorization_id: str, authentication_id: str, authentication: str
        ) -> str:
            if authentication_id == "test" and authentication == "demo":
                return authentication_id
            raise Smtpd535Error

    out, ctx = auth_session(Seed(), plain("", "test", "demo"))
    assert lines(out)[-1] == AUTH_OK
    assert (ctx.server.authorization_id, ctx.server.authentication_id) == ("test", "test")
    assert ctx.server.authenticated == START + timedelta(seconds=1)
    assert ctx.server.auth_credentials is None
    assert Handler.authenticated(ctx)


@pytest.mark.parametrize(
    ("authzid", "expected"), [("", "user"), ("other", "other"), ("admin", "role")]
)
def test_authorization_id_kept_defaulted_or_replaced(authzid: str, expected: str) -> None:
    out, ctx = auth_session(Users(), plain(authzid, "user", PASSWORD))
    assert lines(out)[-1] == AUTH_OK
    assert ctx.server.authorization_id == expected
    assert ctx.server.authentication_id == "user"


def test_login_mechanism() -> None:
    out, ctx = auth_session(
        Users(), b"AUTH LOGIN\r\n", b64(b"user") + b"\r\n", b64(PASSWORD.encode()) + b"\r\n"
    )
    assert lines(out)[-3:] == [b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n", AUTH_OK]
    assert ctx.server.authentication_id == "user"


def test_cram_md5_is_checked_with_verify() -> None:
    out, ctx = auth_session(Users(), b"AUTH CRAM-MD5\r\n", cram_response("user", PASSWORD))
    assert lines(out)[-2:] == [b"334 " + b64(CHALLENGE) + b"\r\n", AUTH_OK]
    assert ctx.server.authentication_id == "user"


def test_cram_md5_with_a_wrong_password_fails_once() -> None:
    out, ctx = auth_session(Users(), b"AUTH CRAM-MD5\r\n", cram_response("user", "wrong"))
    assert lines(out)[-1] == AUTH_FAILED
    assert ctx.server.exceptions == 1
    assert ctx.server.auth_credentials is None


def test_auth_secrets_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    class Crashy(Users):
        def on_auth_event(
            self, ctx: Context, authorization_id: str, authentication_id: str, authentication: str
        ) -> str | None:
            if authorization_id == "crash":
                raise RuntimeError("backend unavailable")
            return super().on_auth_event(ctx, authorization_id, authentication_id, authentication)

    commands = [
        plain("", "user", PASSWORD),
        plain("", "user", PASSWORD + "x"),
        plain("crash", "user", PASSWORD),
        b"AUTH LOGIN\r\n" + b64(b"user") + b"\r\n" + b64(PASSWORD.encode()) + b"\r\n",
        b"AUTH CRAM-MD5\r\n" + cram_response("user", PASSWORD),
    ]
    for command in commands:
        out, _ = auth_session(Crashy(), command)
        assert out.count(b"\r\n") > 2
    text = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    assert "AUTH PLAIN for 'user' refused" in text  # the log did record the attempts
    assert "backend unavailable" in text
    forbidden = [PASSWORD, b64(PASSWORD.encode()).decode()]
    forbidden += [plain(a, "user", p)[11:-2].decode() for a in ("", "crash") for p in (PASSWORD,)]
    forbidden += [cram_response("user", PASSWORD)[:-2].decode()]
    forbidden += [hmac.new(PASSWORD.encode(), CHALLENGE, hashlib.md5).hexdigest()]
    for secret in forbidden:
        assert secret not in text


TLS_CONFIG = CONFIG.__class__(
    hostname="mx.example.test",
    tls_mode=TlsMode.OPTIONAL,
    auth_mode=AuthMode.OPTIONAL,
    auth_plaintext=True,
)


def test_starttls_records_encryption_and_resets_helo_and_auth() -> None:
    session = make_session(Users(), TLS_CONFIG)
    out = pump(session, b"EHLO c.example\r\n" + plain("", "user", PASSWORD) + b"STARTTLS\r\n")
    assert lines(out)[-2:] == [AUTH_OK, b"220 2.0.0 Ready to start TLS\r\n"]
    server = session.ctx.server
    assert server.encrypted == START + timedelta(seconds=2)
    assert (server.helo, server.helo_verb) == ("", "")
    assert (server.authenticated, server.authorization_id, server.authentication_id) == (
        None,
        "",
        "",
    )
    assert not session.closed


def test_starttls_hook_may_refuse() -> None:
    class NoTls(Handler):
        def on_starttls_event(self, ctx: Context) -> None:
            raise SmtpError(454, "TLS not available due to temporary reason", enhanced=(4, 7, 0))

    session = make_session(NoTls(), TLS_CONFIG)
    out = pump(session, b"EHLO c.example\r\nSTARTTLS\r\n")
    assert lines(out)[-1] == b"454 4.7.0 TLS not available due to temporary reason\r\n"
    assert session.ctx.server.encrypted is None


LMTP_CONFIG = CONFIG.__class__(hostname="mx.example.test", lmtp=True)
LMTP_SESSION = (
    b"LHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<one@d.test>\r\n"
    b"RCPT TO:<full@d.test>\r\nRCPT TO:<three@d.test>\r\nDATA\r\nx\r\n.\r\n"
)


def test_lmtp_answers_per_recipient() -> None:
    seen: list[tuple[str, int, str, bytes]] = []

    class Boxes(Handler):
        def on_lmtp_delivery_event(self, ctx: Context, rcpt_to: str, index: int) -> None:
            seen.append((rcpt_to, index, ctx.server.helo_verb, bytes(ctx.message.data)))
            if rcpt_to.startswith("full"):
                raise Smtpd552Error("Mailbox full")

    session = make_session(Boxes(), LMTP_CONFIG)
    out = pump(session, LMTP_SESSION)
    assert lines(out)[-3:] == [
        b"250 2.1.5 Delivered\r\n",
        b"552 5.3.4 Mailbox full\r\n",
        b"250 2.1.5 Delivered\r\n",
    ]
    assert seen == [
        ("one@d.test", 0, "LHLO", b"x\r\n"),
        ("full@d.test", 1, "LHLO", b"x\r\n"),
        ("three@d.test", 2, "LHLO", b"x\r\n"),
    ]
    assert session.ctx.envelope.rcpt_to == []
    assert session.ctx.message.data == b""
    assert session.ctx.server.exceptions == 1


def test_lmtp_message_refusal_is_repeated_per_recipient_and_counted_once() -> None:
    class No(Handler):
        def on_message_data_event(self, ctx: Context) -> None:
            raise Smtpd554Error("Content refused")

    session = make_session(No(), LMTP_CONFIG)
    out = pump(session, LMTP_SESSION)
    assert lines(out)[-3:] == [b"554 5.0.0 Content refused\r\n"] * 3
    assert session.ctx.server.exceptions == 1


def test_maildir_handler_through_a_whole_authenticated_session(tmp_path: Path) -> None:
    class Store(MaildirHandler, Users):
        pass

    handler = Store(tmp_path / "mail", hostname="store.example.test")
    out, _ = auth_session(
        handler,
        plain("", "user", PASSWORD)
        + b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
        + b"DATA\r\nSubject: stored\r\n\r\nhi\r\n.\r\n",
    )
    assert lines(out)[-1] == b"250 2.6.0 Message accepted\r\n"
    box = mailbox.Maildir(tmp_path / "mail", create=False)
    (message,) = list(box)
    assert message["Subject"] == "stored"
    assert message["Received"] == (
        "from c.example (client.example.test [127.0.0.2])\n"
        "\tby store.example.test (smtp-proto) with ESMTPA id S1.1\n"
        "\tfor <c@d.test>; Thu, 01 Nov 2018 12:00:03 +0000"
    )
    assert message.get_payload() == "hi\n"
