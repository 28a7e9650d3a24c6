"""AUTH through the connection (RFC 4954): PLAIN, LOGIN and CRAM-MD5 exchanges, initial
responses, cancel, bad data, sequence errors, TLS rules, auth modes, secrets kept out of
reprs."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Final

import pytest

from smtp_proto import replies
from smtp_proto.config import AuthMode, ServerConfig, TlsMode
from smtp_proto.connection import ServerConnection
from smtp_proto.events import AuthCredentials, CommandRejected, Decision, MailFrom
from smtp_proto.replies import Reply
from smtp_proto.state import State
from tests.helpers import (
    CONFIG,
    EHLO,
    EHLO_REPLY,
    GREETING,
    answers,
    of_type,
    pump,
    session,
    started,
    wire,
)

AUTH: Final = replace(CONFIG, auth_mode=AuthMode.OPTIONAL)
PLAIN: Final = base64.b64encode(b"\0tim\0tanstaaftanstaaf")  # RFC 4616 example
TIM: Final = AuthCredentials(
    mechanism="PLAIN", authorization_id="", authentication_id="tim", secret="tanstaaftanstaaf"
)
EHLO_AUTH: Final = EHLO_REPLY.replace(b"250 HELP", b"250-AUTH PLAIN LOGIN\r\n250 HELP")


def nonce() -> str:
    return "1896.697170952"


def b64(text: bytes) -> bytes:
    return base64.b64encode(text)


def reject_all(conn: ServerConnection, event: Decision) -> None:
    conn.reject()


def test_ehlo_offers_auth_and_cram_md5_only_with_a_nonce_source() -> None:
    _, out = session(EHLO, config=AUTH)
    assert out == GREETING + EHLO_AUTH
    _, out = session(EHLO, config=AUTH, nonce=nonce)
    assert b"250-AUTH PLAIN LOGIN CRAM-MD5\r\n250 HELP\r\n" in out
    _, out = session(EHLO, config=replace(AUTH, auth_mechanisms=("LOGIN",)), nonce=nonce)
    assert b"250-AUTH LOGIN\r\n250 HELP\r\n" in out


def test_plain_with_initial_response() -> None:
    events, out = session(EHLO + b"AUTH PLAIN " + PLAIN + b"\r\nMAIL FROM:<>\r\n", config=AUTH)
    assert of_type(events, AuthCredentials) == [TIM]
    assert out == GREETING + EHLO_AUTH + b"235 2.7.0 Authentication successful\r\n" + wire(
        replies.SENDER_OK
    )


def test_plain_after_an_empty_challenge() -> None:
    conn = started(EHLO, config=AUTH)
    events = pump(conn, b"auth plain\r\n", PLAIN + b"\r\n")
    assert events == [TIM]
    assert conn.data_to_send() == b"334 \r\n" + wire(replies.AUTH_OK)


def test_plain_with_authorization_identity() -> None:
    events, _ = session(EHLO + b"AUTH PLAIN " + b64(b"admin\0tim\0pw") + b"\r\n", config=AUTH)
    (creds,) = of_type(events, AuthCredentials)
    assert (creds.authorization_id, creds.authentication_id, creds.secret) == ("admin", "tim", "pw")


def test_login_exchange() -> None:
    conn = started(EHLO, config=AUTH)
    events = pump(conn, b"AUTH LOGIN\r\n", b64(b"tim") + b"\r\n", b64(b"secret") + b"\r\n")
    assert events == [
        AuthCredentials(
            mechanism="LOGIN", authorization_id="", authentication_id="tim", secret="secret"
        )
    ]
    assert conn.data_to_send() == b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n" + wire(
        replies.AUTH_OK
    )


def test_login_with_initial_response() -> None:
    conn = started(EHLO, config=AUTH)
    events = pump(conn, b"AUTH LOGIN " + b64(b"tim") + b"\r\n" + b64(b"pw") + b"\r\n")
    assert [e.authentication_id for e in of_type(events, AuthCredentials)] == ["tim"]
    assert conn.data_to_send() == b"334 UGFzc3dvcmQ6\r\n" + wire(replies.AUTH_OK)


def test_cram_md5_against_the_rfc_2195_example() -> None:
    config = replace(AUTH, hostname="postoffice.reston.mci.net")
    conn = started(EHLO, config=config, nonce=nonce)
    events = pump(
        conn, b"AUTH CRAM-MD5\r\n", b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
    )
    assert conn.data_to_send() == (
        b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n" + wire(replies.AUTH_OK)
    )
    (creds,) = events
    assert isinstance(creds, AuthCredentials)
    assert creds.mechanism == "CRAM-MD5"
    assert creds.authentication_id == "tim"
    assert creds.challenge == b"<1896.697170952@postoffice.reston.mci.net>"
    assert creds.verify("tanstaaftanstaaf")
    assert not creds.verify("tanstaaftanstaafx")


def test_cram_md5_takes_a_fresh_nonce_per_exchange() -> None:
    nonces = iter(["1", "2"])
    conn = started(EHLO, config=AUTH, nonce=lambda: next(nonces))
    pump(conn, b"AUTH CRAM-MD5\r\n*\r\nAUTH CRAM-MD5\r\n")
    assert conn.data_to_send() == (
        b"334 " + b64(b"<1@mx.example.test>") + b"\r\n"
        b"501 5.0.0 Authentication cancelled\r\n"
        b"334 " + b64(b"<2@mx.example.test>") + b"\r\n"
    )


def test_cram_md5_without_a_nonce_source_is_unknown() -> None:
    conn = started(EHLO, config=AUTH)
    pump(conn, b"AUTH CRAM-MD5\r\n")
    assert conn.data_to_send() == b"504 5.5.4 Unrecognized authentication mechanism\r\n"


@pytest.mark.parametrize(
    ("lines", "reply"),
    [
        (b"AUTH PLAIN *\r\n", replies.AUTH_CANCELLED),
        (b"AUTH PLAIN\r\n*\r\n", replies.AUTH_CANCELLED),
        (b"AUTH LOGIN\r\n" + b64(b"tim") + b"\r\n*\r\n", replies.AUTH_CANCELLED),
        (b"AUTH PLAIN !!!!\r\n", replies.AUTH_BAD_BASE64),
        (b"AUTH PLAIN\r\nAHRpbQB0YW5zdGFhZnRhbnN0YWFm=\r\n", replies.AUTH_BAD_BASE64),
        (b"AUTH PLAIN =\r\n", replies.AUTH_MALFORMED),
        (b"AUTH PLAIN " + b64(b"tim:pw") + b"\r\n", replies.AUTH_MALFORMED),
        (b"AUTH GSSAPI\r\n", replies.AUTH_UNKNOWN_MECHANISM),
        (b"AUTH\r\n", replies.BAD_SYNTAX),
    ],
)
def test_a_failed_exchange_gets_its_reply(lines: bytes, reply: Reply) -> None:
    conn = started(EHLO, config=AUTH)
    events = pump(conn, lines + b"NOOP\r\n")
    assert conn.data_to_send().endswith(wire(reply, replies.NOOP_OK))
    assert events == [CommandRejected(command="AUTH", reply=reply)]
    assert conn.state is State.READY


def test_exact_cancel_and_bad_base64_replies() -> None:
    conn = started(EHLO, config=AUTH)
    pump(conn, b"AUTH PLAIN\r\n*\r\nAUTH PLAIN ***\r\n")
    assert conn.data_to_send() == (
        b"334 \r\n501 5.0.0 Authentication cancelled\r\n501 5.5.2 Invalid base64 data\r\n"
    )


def test_rejected_credentials_get_535_and_a_retry_is_allowed() -> None:
    conn = started(EHLO, config=AUTH)
    pump(conn, b"AUTH PLAIN " + PLAIN + b"\r\n", decide=reject_all)
    assert conn.data_to_send() == b"535 5.7.8 Authentication credentials invalid\r\n"
    pump(conn, b"AUTH PLAIN " + PLAIN + b"\r\n")
    assert conn.data_to_send() == wire(replies.AUTH_OK)


def test_cancels_do_not_spend_the_failure_budget() -> None:
    config = replace(AUTH, limits=replace(AUTH.limits, auth_failures=1))
    conn = started(EHLO, config=config)
    pump(conn, b"AUTH PLAIN *\r\n" * 3 + b"AUTH PLAIN " + PLAIN + b"\r\n", decide=reject_all)
    assert conn.data_to_send() == wire(replies.AUTH_CANCELLED) * 3 + wire(replies.AUTH_FAILED)
    pump(conn, b"AUTH PLAIN !\r\n")
    assert conn.data_to_send() == wire(replies.TOO_MANY_AUTH_FAILURES)
    assert conn.closed


def test_every_line_in_an_exchange_is_a_response_never_a_command() -> None:
    conn = started(EHLO, config=AUTH)
    mail = b"MAIL FROM:<a@example.test>\r\n"
    events = pump(conn, b"AUTH LOGIN\r\n", b"QUIT\r\n", mail, mail)
    # "QUIT" is valid base64 (the user name "AB\x13"); the MAIL line is not.
    assert conn.data_to_send() == b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n" + wire(
        replies.AUTH_BAD_BASE64, replies.SENDER_OK
    )
    assert not conn.closed
    assert events[0] == CommandRejected(command="AUTH", reply=replies.AUTH_BAD_BASE64)


# Sequence (RFC 4954 4) -------------------------------------------------------------------


def test_auth_before_ehlo_twice_and_in_a_transaction_get_503() -> None:
    conn = started(config=AUTH)
    pump(conn, b"AUTH PLAIN " + PLAIN + b"\r\nHELO client.example\r\nAUTH PLAIN\r\n")
    assert conn.data_to_send() == (
        b"503 5.5.1 Send HELO/EHLO first\r\n"
        b"250 mx.example.test Hello client.example\r\n"
        b"503 5.5.1 Bad sequence of commands\r\n"
    )
    conn = started(EHLO + b"AUTH PLAIN " + PLAIN + b"\r\n", config=AUTH)
    pump(conn, b"AUTH PLAIN " + PLAIN + b"\r\n")
    assert conn.data_to_send() == b"503 5.5.1 Already authenticated\r\n"
    conn = started(EHLO + b"MAIL FROM:<a@example.test>\r\n", config=AUTH)
    pump(conn, b"AUTH PLAIN " + PLAIN + b"\r\n")
    assert conn.data_to_send() == b"503 5.5.1 Bad sequence of commands\r\n"


def test_auth_forbidden_gets_502() -> None:
    conn = started(EHLO)
    pump(conn, b"AUTH PLAIN " + PLAIN + b"\r\n")
    assert conn.data_to_send() == b"502 5.5.1 AUTH not available\r\n"


def test_auth_required_refuses_mail_before_auth() -> None:
    config = replace(AUTH, auth_mode=AuthMode.REQUIRED)
    conn = started(EHLO, config=config)
    events = pump(conn, b"MAIL FROM:<a@example.test>\r\nAUTH PLAIN " + PLAIN + b"\r\n")
    pump(conn, b"MAIL FROM:<a@example.test>\r\n")
    assert conn.data_to_send() == b"530 5.7.0 Authentication required\r\n" + wire(
        replies.AUTH_OK, replies.SENDER_OK
    )
    assert events[0] == CommandRejected(command="MAIL", reply=replies.AUTH_REQUIRED)


# TLS rules (RFC 4954 4, RFC 3207) --------------------------------------------------------

TLS_AVAILABLE: Final = replace(AUTH, tls_mode=TlsMode.OPTIONAL)


def test_no_auth_while_tls_is_available_but_not_active() -> None:
    _, out = session(EHLO + b"AUTH PLAIN " + PLAIN + b"\r\n", config=TLS_AVAILABLE)
    assert b"AUTH" not in out.split(b"250 HELP\r\n")[0]
    assert out.endswith(
        b"250-STARTTLS\r\n250 HELP\r\n"
        b"538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    )


def test_auth_plaintext_allows_it_before_starttls() -> None:
    config = replace(TLS_AVAILABLE, auth_plaintext=True)
    events, out = session(EHLO + b"AUTH PLAIN " + PLAIN + b"\r\n", config=config)
    assert b"250-AUTH PLAIN LOGIN\r\n250-STARTTLS\r\n250 HELP\r\n" in out
    assert of_type(events, AuthCredentials) == [TIM]


@pytest.mark.parametrize("config", [TLS_AVAILABLE, AUTH])
def test_auth_offered_on_implicit_tls(config: ServerConfig) -> None:
    events, out = session(EHLO + b"AUTH PLAIN " + PLAIN + b"\r\n", config=config, encrypted=True)
    assert b"250-AUTH PLAIN LOGIN\r\n250 HELP\r\n" in out
    assert b"STARTTLS" not in out
    assert of_type(events, AuthCredentials) == [TIM]


def test_mail_auth_parameter_is_parsed_only_when_auth_is_offered() -> None:
    events, out = session(
        EHLO + b"MAIL FROM:<a@example.test> AUTH=tim+2Badmin@example.test\r\n", config=AUTH
    )
    assert of_type(events, CommandRejected) == []
    assert out.endswith(wire(replies.SENDER_OK))
    assert [e.params.auth for e in of_type(events, MailFrom)] == ["tim+admin@example.test"]
    _, out = session(EHLO + b"MAIL FROM:<a@example.test> AUTH=<>\r\n")
    assert out.endswith(wire(replies.UNKNOWN_PARAMETER))


# Secrets ---------------------------------------------------------------------------------


def test_secrets_never_appear_in_event_reprs() -> None:
    config = replace(AUTH, hostname="postoffice.reston.mci.net")
    events, _ = session(
        EHLO + b"AUTH PLAIN " + PLAIN + b"\r\n"
        b"AUTH LOGIN\r\n" + b64(b"tim") + b"\r\n" + b64(b"tanstaaftanstaaf") + b"\r\n"
        b"AUTH CRAM-MD5\r\ndGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n",
        config=config,
        nonce=nonce,
        decide=answers({AuthCredentials: None}),
    )
    assert len(of_type(events, AuthCredentials)) == 3
    text = repr(events) + str(events)
    for secret in ("tanstaaf", "b913a602c7eda7a495b4e6e7334d3890", "1896.697170952"):
        assert secret not in text
    assert PLAIN.decode() not in text


def test_the_auth_state_is_left_on_every_outcome() -> None:
    for lines in (b"AUTH LOGIN\r\n*\r\n", b"AUTH LOGIN\r\n!\r\n", b"AUTH PLAIN\r\n" + PLAIN):
        conn = started(EHLO, config=AUTH)
        pump(conn, lines + b"\r\n")
        assert conn.state is State.READY
