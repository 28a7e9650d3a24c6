"""SASL exchanges for AUTH: PLAIN, LOGIN and CRAM-MD5, cancel, bad base64, misuse."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtp_proto import replies
from smtp_proto.events import AuthCredentials
from smtp_proto.replies import Reply
from smtp_proto.sasl import Challenge, SaslError, SaslExchange

HOST = "mx.example.test"
NONCE = "1896.697170952"


def b64(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def exchange(mechanism: str) -> SaslExchange:
    return SaslExchange(mechanism, hostname=HOST, nonce=NONCE)


def failure(mechanism: str, initial: str | None, *lines: str) -> Reply:
    """The reply of the SaslError raised somewhere along begin(initial), respond(lines...)."""
    sasl = exchange(mechanism)
    try:
        sasl.begin(initial)
        for line in lines:
            sasl.respond(line)
    except SaslError as err:
        return err.reply
    pytest.fail("no SaslError raised")


def test_unknown_mechanism_is_a_value_error() -> None:
    for name in ("GSSAPI", "plain", "XOAUTH2", ""):
        with pytest.raises(ValueError, match="unsupported SASL mechanism"):
            exchange(name)


# PLAIN (RFC 4616) ---------------------------------------------------------------------------


def test_plain_with_initial_response() -> None:
    creds = exchange("PLAIN").begin(b64("\0tim\0tanstaaftanstaaf"))
    assert creds == AuthCredentials(
        mechanism="PLAIN", authorization_id="", authentication_id="tim", secret="tanstaaftanstaaf"
    )
    assert isinstance(creds, AuthCredentials)
    assert creds.verify("tanstaaftanstaaf")
    assert not creds.verify("tanstaaftanstaafX")


def test_plain_without_initial_response_gets_empty_challenge() -> None:
    sasl = exchange("PLAIN")
    assert sasl.begin(None) == Challenge("")
    creds = sasl.respond(b64("admin\0tim\0s3cr\u00e9t"))
    assert creds == AuthCredentials(
        mechanism="PLAIN", authorization_id="admin", authentication_id="tim", secret="s3cr\u00e9t"
    )


@pytest.mark.parametrize(
    "message",
    ["", "tim", "\0tim", "tim\0pw", "\0\0pw", "\0tim\0", "\0tim\0pw\0", "a\0b\0c\0d"],
)
def test_plain_malformed_message(message: str) -> None:
    reply = failure("PLAIN", b64(message))
    assert reply == replies.AUTH_MALFORMED
    assert reply.to_bytes() == b"501 5.5.2 Malformed authentication data\r\n"
    assert failure("PLAIN", None, b64(message)) == replies.AUTH_MALFORMED


def test_plain_empty_initial_response_is_malformed() -> None:
    # "=" is an empty initial response (RFC 4954 4), which PLAIN cannot take.
    assert failure("PLAIN", "=") == replies.AUTH_MALFORMED


# LOGIN --------------------------------------------------------------------------------------


def test_login_full_exchange() -> None:
    sasl = exchange("LOGIN")
    assert sasl.begin(None) == Challenge("VXNlcm5hbWU6")
    assert base64.b64decode("VXNlcm5hbWU6") == b"Username:"
    assert sasl.respond(b64("tim")) == Challenge("UGFzc3dvcmQ6")
    assert base64.b64decode("UGFzc3dvcmQ6") == b"Password:"
    creds = sasl.respond(b64("pa ss"))
    assert creds == AuthCredentials(
        mechanism="LOGIN", authorization_id="", authentication_id="tim", secret="pa ss"
    )


def test_login_initial_response_is_the_username() -> None:
    sasl = exchange("LOGIN")
    assert sasl.begin(b64("tim")) == Challenge("UGFzc3dvcmQ6")
    creds = sasl.respond(b64("pw"))
    assert isinstance(creds, AuthCredentials)
    assert (creds.authentication_id, creds.secret) == ("tim", "pw")


@pytest.mark.parametrize(
    ("initial", "lines"),
    [
        ("=", ()),
        (None, ("",)),
        (None, (b64("tim"), "")),
        (None, (b64("t\0m"),)),
        (None, (b64("tim"), b64("p\0w"))),
    ],
)
def test_login_empty_or_nul_values_are_malformed(initial: str | None, lines: tuple[str]) -> None:
    assert failure("LOGIN", initial, *lines) == replies.AUTH_MALFORMED


# CRAM-MD5 (RFC 2195) ------------------------------------------------------------------------


def test_cram_md5_rfc_2195_example() -> None:
    sasl = SaslExchange("CRAM-MD5", hostname="postoffice.reston.mci.net", nonce=NONCE)
    challenge = sasl.begin(None)
    assert challenge == Challenge("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")
    assert base64.b64decode(challenge.text) == b"<1896.697170952@postoffice.reston.mci.net>"
    creds = sasl.respond("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw")
    assert isinstance(creds, AuthCredentials)
    assert creds.mechanism == "CRAM-MD5"
    assert creds.authorization_id == ""
    assert creds.authentication_id == "tim"
    assert creds.secret == "b913a602c7eda7a495b4e6e7334d3890"
    assert creds.challenge == b"<1896.697170952@postoffice.reston.mci.net>"
    assert creds.verify("tanstaaftanstaaf")
    assert not creds.verify("tanstaaftanstaaF")


def test_cram_md5_upper_case_digest_and_user_with_space() -> None:
    sasl = exchange("CRAM-MD5")
    challenge = sasl.begin(None)
    assert isinstance(challenge, Challenge)
    raw = base64.b64decode(challenge.text)
    assert raw == f"<{NONCE}@{HOST}>".encode()
    digest = hmac.new(b"pw", raw, hashlib.md5).hexdigest().upper()
    creds = sasl.respond(b64(f"tim smith {digest}"))
    assert isinstance(creds, AuthCredentials)
    assert (creds.authentication_id, creds.secret) == ("tim smith", digest)
    assert creds.verify("pw")


@pytest.mark.parametrize(
    "message",
    [
        "",
        "tim",
        "b913a602c7eda7a495b4e6e7334d3890",
        " b913a602c7eda7a495b4e6e7334d3890",
        "tim b913a602c7eda7a495b4e6e7334d389",  # 31 digits
        "tim b913a602c7eda7a495b4e6e7334d38900",  # 33 digits
        "tim b913a602c7eda7a495b4e6e7334d389g",
        "tim  b913a602c7eda7a495b4e6e7334d3890 ",
        "t\0m b913a602c7eda7a495b4e6e7334d3890",
    ],
)
def test_cram_md5_malformed_response(message: str) -> None:
    assert failure("CRAM-MD5", None, b64(message)) == replies.AUTH_MALFORMED


@pytest.mark.parametrize("initial", ["=", b64("tim b913a602c7eda7a495b4e6e7334d3890"), "x"])
def test_cram_md5_refuses_an_initial_response(initial: str) -> None:
    assert failure("CRAM-MD5", initial) == replies.AUTH_MALFORMED


# Cancel, base64, UTF-8 ------------------------------------------------------------------------

MECHANISMS = ["PLAIN", "LOGIN", "CRAM-MD5"]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_star_cancels_as_initial_response_and_as_response(mechanism: str) -> None:
    reply = failure(mechanism, "*")
    assert reply == replies.AUTH_CANCELLED
    assert reply.to_bytes() == b"501 5.0.0 Authentication cancelled\r\n"
    assert failure(mechanism, None, "*") == replies.AUTH_CANCELLED


def test_login_cancel_after_username() -> None:
    assert failure("LOGIN", None, b64("tim"), "*") == replies.AUTH_CANCELLED


@pytest.mark.parametrize(
    "line",
    [
        "dGlt=",
        "dGlt====",
        "dGltdA=",
        "dGl",
        "dG l",
        "dGltCg==\n",
        "YQ===",
        "YW=Jj",
        "=",
        "**",
        "é",
        "dGlt\udcff",
    ],
)
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_bad_base64_response(mechanism: str, line: str) -> None:
    reply = failure(mechanism, None, line)
    assert reply == replies.AUTH_BAD_BASE64
    assert reply.to_bytes() == b"501 5.5.2 Invalid base64 data\r\n"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_bad_base64_initial_response(mechanism: str) -> None:
    assert failure(mechanism, "dGl") == replies.AUTH_BAD_BASE64


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_decoded_bytes_must_be_utf8(mechanism: str) -> None:
    assert failure(mechanism, None, b64(b"\0tim\0\xff")) == replies.AUTH_BAD_BASE64


# Misuse and secrecy ---------------------------------------------------------------------------


def test_calls_after_credentials_raise_runtime_error() -> None:
    sasl = exchange("PLAIN")
    assert isinstance(sasl.begin(b64("\0tim\0pw")), AuthCredentials)
    with pytest.raises(RuntimeError):
        sasl.respond(b64("\0tim\0pw"))
    with pytest.raises(RuntimeError):
        sasl.begin(None)


def test_calls_after_failure_raise_runtime_error() -> None:
    sasl = exchange("LOGIN")
    sasl.begin(None)
    with pytest.raises(SaslError):
        sasl.respond("*")
    with pytest.raises(RuntimeError):
        sasl.respond(b64("tim"))


def test_respond_before_begin_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError):
        exchange("PLAIN").respond(b64("\0tim\0pw"))


def test_begin_twice_raises_runtime_error() -> None:
    sasl = exchange("LOGIN")
    sasl.begin(None)
    with pytest.raises(RuntimeError):
        sasl.begin(None)


def test_secrets_stay_out_of_reprs_and_messages() -> None:
    sasl = exchange("LOGIN")
    sasl.begin(b64("tim"))
    assert repr(sasl) == "<SaslExchange LOGIN WAITING>"
    creds = sasl.respond(b64("hunter2"))
    assert "hunter2" not in repr(creds)
    assert "hunter2" not in repr(sasl)
    for line in (b64("\0tim"), "hunter2=", b64(b"hunter2\xff")):
        with pytest.raises(SaslError) as info:
            exchange("PLAIN").begin(line)
        assert "hunter2" not in str(info.value)
        assert info.value.__context__ is None  # no chained error carrying the input
        assert "tim" not in str(info.value)
        assert str(info.value) in ("501 Malformed authentication data", "501 Invalid base64 data")


_LINE = st.text(max_size=60) | st.binary(max_size=60).map(b64)


@given(
    st.sampled_from(MECHANISMS),
    st.none() | st.just("=") | _LINE,
    st.lists(_LINE, max_size=3),
)
def test_arbitrary_input_gives_challenges_credentials_or_sasl_error(
    mechanism: str, initial: str | None, lines: list[str]
) -> None:
    sasl = exchange(mechanism)
    reply: Reply | None = None
    try:
        result = sasl.begin(initial)
        for line in lines:
            if isinstance(result, AuthCredentials):
                break
            result = sasl.respond(line)
    except SaslError as err:
        reply = err.reply
    assert reply in (None, replies.AUTH_CANCELLED, replies.AUTH_BAD_BASE64, replies.AUTH_MALFORMED)
