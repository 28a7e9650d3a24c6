"""ESMTP parameters of MAIL and RCPT: typed values out, exact replies for bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtp_proto import replies
from smtp_proto.params import (
    Body,
    MailParams,
    Notify,
    Orcpt,
    ParamError,
    RcptParams,
    Ret,
    parse_mail_params,
    parse_rcpt_params,
    xtext_decode,
)
from smtp_proto.replies import Reply

ALL: frozenset[str] = frozenset({"SIZE", "8BITMIME", "BINARYMIME", "SMTPUTF8", "AUTH", "DSN"})
NONE: frozenset[str] = frozenset()


def _mail_reply(text: str, enabled: frozenset[str] = ALL) -> Reply:
    with pytest.raises(ParamError) as info:
        parse_mail_params(text, enabled)
    return info.value.reply


def _rcpt_reply(text: str, enabled: frozenset[str] = ALL) -> Reply:
    with pytest.raises(ParamError) as info:
        parse_rcpt_params(text, enabled)
    return info.value.reply


# MAIL: accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", MailParams()),
        ("   ", MailParams()),
        ("SIZE=0", MailParams(size=0)),
        ("SIZE=100", MailParams(size=100)),
        ("size=100", MailParams(size=100)),
        ("SIZE=00042", MailParams(size=42)),
        ("SIZE=" + "9" * 20, MailParams(size=10**20 - 1)),
        ("BODY=7BIT", MailParams(body=Body.SEVEN_BIT)),
        ("BODY=8BITMIME", MailParams(body=Body.EIGHT_BIT_MIME)),
        ("body=8bitmime", MailParams(body=Body.EIGHT_BIT_MIME)),
        ("BODY=BINARYMIME", MailParams(body=Body.BINARY_MIME)),
        ("Body=BinaryMime", MailParams(body=Body.BINARY_MIME)),
        ("SMTPUTF8", MailParams(smtputf8=True)),
        ("smtputf8", MailParams(smtputf8=True)),
        ("AUTH=<>", MailParams(auth="<>")),
        ("AUTH=e+3Dmc2@example.com", MailParams(auth="e=mc2@example.com")),
        ("auth=a+2Bb@example.com", MailParams(auth="a+b@example.com")),
        ("RET=FULL", MailParams(ret=Ret.FULL)),
        ("ret=hdrs", MailParams(ret=Ret.HDRS)),
        ("ENVID=QQ314159", MailParams(envid="QQ314159")),
        ("ENVID=a+20b+2Bc", MailParams(envid="a b+c")),
        ("ENVID=" + "e" * 100, MailParams(envid="e" * 100)),
        (
            "SIZE=1  BODY=8BITMIME SMTPUTF8   AUTH=<> RET=HDRS ENVID=x ",
            MailParams(
                size=1,
                body=Body.EIGHT_BIT_MIME,
                smtputf8=True,
                auth="<>",
                ret=Ret.HDRS,
                envid="x",
            ),
        ),
    ],
)
def test_mail_params_parsed(text: str, expected: MailParams) -> None:
    assert parse_mail_params(text, ALL) == expected


@pytest.mark.parametrize(
    ("text", "extension"),
    [
        ("SIZE=1", "SIZE"),
        ("BODY=7BIT", "8BITMIME"),
        ("BODY=8BITMIME", "8BITMIME"),
        ("BODY=BINARYMIME", "BINARYMIME"),
        ("SMTPUTF8", "SMTPUTF8"),
        ("AUTH=<>", "AUTH"),
        ("RET=FULL", "DSN"),
        ("ENVID=x", "DSN"),
    ],
)
def test_mail_param_needs_only_its_extension(text: str, extension: str) -> None:
    parse_mail_params(text, frozenset({extension}))  # does not raise
    assert _mail_reply(text, ALL - {extension}) == replies.UNKNOWN_PARAMETER
    assert _mail_reply(text, NONE) == replies.UNKNOWN_PARAMETER


# MAIL: refused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "FOO",
        "FOO=bar",
        "X-CUSTOM=1",
        "NOTIFY=NEVER",  # a RCPT parameter
        "ORCPT=rfc822;a@b",
        "SIZE=1 FOO=2",
        "FOO=2 SIZE=x",  # the unknown keyword is met first
    ],
)
def test_mail_unknown_keyword_gets_555(text: str) -> None:
    reply = _mail_reply(text)
    assert reply == replies.UNKNOWN_PARAMETER
    assert reply.to_bytes() == b"555 5.5.4 Unsupported MAIL/RCPT parameter\r\n"


@pytest.mark.parametrize(
    "text",
    [
        "SIZE",
        "SIZE=",
        "SIZE=x",
        "SIZE=-1",
        "SIZE=+1",
        "SIZE=1.0",
        "SIZE=" + "9" * 21,
        "SIZE=1 SIZE=1",
        "SIZE=1 size=2",
        "SIZE=1=2",
        "BODY",
        "BODY=",
        "BODY=8BIT",
        "BODY=BINARY",
        "BODY=7BIT BODY=7BIT",
        "SMTPUTF8=",
        "SMTPUTF8=YES",
        "SMTPUTF8 SMTPUTF8",
        "AUTH",
        "AUTH=",
        "AUTH=a+2",
        "AUTH=a+zz",
        "AUTH=a+",
        "AUTH=a+FF",  # not UTF-8 once decoded
        "RET",
        "RET=",
        "RET=NONE",
        "RET=FULL RET=HDRS",
        "ENVID",
        "ENVID=",
        "ENVID=" + "e" * 101,
        "ENVID=a+0Ab",  # decodes to a control character
        "ENVID=a+C3+A9",  # decodes to non-ASCII
        "ENVID=x+",
        "=1",
        "-SIZE=1",
        "SI_ZE=1",
        "SIZE\t=1",
        "SIZE=1\t",
        "SIZE=\x7f",
        "SIZE=1 =",
        "SIZE=é",
        "SMTPUTF8 ENVID=é",
        "ÉNVID=1",
        "SIZE=1\udcff",
    ],
)
def test_mail_malformed_gets_501(text: str) -> None:
    reply = _mail_reply(text)
    assert reply == replies.BAD_PARAMETER
    assert reply.to_bytes() == b"501 5.5.4 Syntax error in MAIL/RCPT parameter\r\n"


@pytest.mark.parametrize(
    ("text", "enabled", "reply"),
    [
        ("BODY=BINARYMIME", frozenset({"8BITMIME"}), replies.UNKNOWN_PARAMETER),
        ("BODY=8BITMIME", frozenset({"BINARYMIME"}), replies.UNKNOWN_PARAMETER),
        ("BODY=7BIT", frozenset({"BINARYMIME"}), replies.UNKNOWN_PARAMETER),
        ("BODY=FOO", frozenset({"BINARYMIME"}), replies.BAD_PARAMETER),
        ("BODY=FOO", frozenset({"8BITMIME"}), replies.BAD_PARAMETER),
        ("BODY=FOO", frozenset({"SIZE"}), replies.UNKNOWN_PARAMETER),
    ],
)
def test_body_value_needs_its_own_extension(
    text: str, enabled: frozenset[str], reply: Reply
) -> None:
    assert _mail_reply(text, enabled) == reply


# RCPT ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", RcptParams()),
        ("NOTIFY=NEVER", RcptParams(notify=frozenset({Notify.NEVER}))),
        ("notify=never", RcptParams(notify=frozenset({Notify.NEVER}))),
        ("NOTIFY=SUCCESS", RcptParams(notify=frozenset({Notify.SUCCESS}))),
        (
            "NOTIFY=Success,failure,DELAY",
            RcptParams(notify=frozenset({Notify.SUCCESS, Notify.FAILURE, Notify.DELAY})),
        ),
        ("NOTIFY=DELAY,FAILURE", RcptParams(notify=frozenset({Notify.DELAY, Notify.FAILURE}))),
        ("ORCPT=rfc822;a@example.com", RcptParams(orcpt=Orcpt("rfc822", "a@example.com"))),
        ("orcpt=RFC822;a+2Bb@example.com", RcptParams(orcpt=Orcpt("RFC822", "a+b@example.com"))),
        ("ORCPT=x-type;semi;colon", RcptParams(orcpt=Orcpt("x-type", "semi;colon"))),
        ("ORCPT=rfc822;" + "o" * 500, RcptParams(orcpt=Orcpt("rfc822", "o" * 500))),
        (
            "  NOTIFY=FAILURE   ORCPT=rfc822;b@example.org  ",
            RcptParams(notify=frozenset({Notify.FAILURE}), orcpt=Orcpt("rfc822", "b@example.org")),
        ),
    ],
)
def test_rcpt_params_parsed(text: str, expected: RcptParams) -> None:
    assert parse_rcpt_params(text, frozenset({"DSN"})) == expected


@pytest.mark.parametrize(
    "text",
    [
        "NOTIFY",
        "NOTIFY=",
        "NOTIFY=NEVER,SUCCESS",
        "NOTIFY=FAILURE,NEVER",
        "NOTIFY=NEVER,NEVER",
        "NOTIFY=SUCCESS,SUCCESS",
        "NOTIFY=SUCCESS,",
        "NOTIFY=,SUCCESS",
        "NOTIFY=SUCCESS,,DELAY",
        "NOTIFY=ALWAYS",
        "NOTIFY=SUCCESS NOTIFY=DELAY",
        "ORCPT",
        "ORCPT=",
        "ORCPT=rfc822",
        "ORCPT=rfc822;",
        "ORCPT=;a@b",
        "ORCPT=rf(c);a@b",
        "ORCPT=rfc822;a+",
        "ORCPT=rfc822;a+G0",
        "ORCPT=rfc822;" + "o" * 501,
        "ORCPT=rfc822;a ORCPT=rfc822;b",
        "NOTIFY=SUCCESS\x00",
    ],
)
def test_rcpt_malformed_gets_501(text: str) -> None:
    assert _rcpt_reply(text) == replies.BAD_PARAMETER


@pytest.mark.parametrize(
    ("text", "enabled"),
    [
        ("NOTIFY=NEVER", ALL - {"DSN"}),
        ("ORCPT=rfc822;a@b", ALL - {"DSN"}),
        ("NOTIFY=NEVER", NONE),
        ("SIZE=1", ALL),  # a MAIL parameter
        ("SMTPUTF8", ALL),
        ("FOO", ALL),
    ],
)
def test_rcpt_unknown_or_disabled_gets_555(text: str, enabled: frozenset[str]) -> None:
    assert _rcpt_reply(text, enabled) == replies.UNKNOWN_PARAMETER


def test_after_helo_every_parameter_is_refused() -> None:
    assert _mail_reply("SIZE=1", NONE) == replies.UNKNOWN_PARAMETER
    assert _rcpt_reply("NOTIFY=NEVER", NONE) == replies.UNKNOWN_PARAMETER
    assert parse_mail_params("", NONE) == MailParams()
    assert parse_rcpt_params("", NONE) == RcptParams()


# xtext ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("plain", "plain"),
        ("+2B", "+"),
        ("+3D", "="),
        ("a+20b", "a b"),
        ("+2b+3d", "+="),  # lower-case hex is taken too
        ("+C3+A9", "é"),
        ('!~<>"\\', '!~<>"\\'),
    ],
)
def test_xtext_decode(text: str, expected: str) -> None:
    assert xtext_decode(text) == expected


@pytest.mark.parametrize(
    "text", ["+", "+2", "a+G1", "=", "a=b", "a b", "\x7f", "é", "+C3", "+FF", "\udcff"]
)
def test_xtext_decode_refuses(text: str) -> None:
    with pytest.raises(ParamError) as info:
        xtext_decode(text)
    assert info.value.reply == replies.BAD_PARAMETER


def _xtext_encode(text: str) -> str:
    """RFC 3461 4 encoding, written independently of the decoder under test."""
    out = []
    for octet in text.encode("utf-8"):
        char = chr(octet)
        out.append(char if 33 <= octet <= 126 and char not in "+=" else f"+{octet:02X}")
    return "".join(out)


@given(st.text().filter(lambda s: not any("\ud800" <= c <= "\udfff" for c in s)))
def test_xtext_round_trip(text: str) -> None:
    encoded = _xtext_encode(text)
    assert xtext_decode(encoded) == text
    assert parse_mail_params(f"SIZE=1 AUTH={encoded}" if encoded else "", ALL).auth == (
        text or None
    )


@given(st.text(max_size=200))
def test_mail_params_raise_only_param_error(text: str) -> None:
    try:
        parse_mail_params(text, ALL)
    except ParamError as err:
        reply: Reply | None = err.reply
    else:
        reply = None
    assert reply in (None, replies.BAD_PARAMETER, replies.UNKNOWN_PARAMETER)


@given(st.text(max_size=200))
def test_rcpt_params_raise_only_param_error(text: str) -> None:
    try:
        parse_rcpt_params(text, ALL)
    except ParamError as err:
        reply: Reply | None = err.reply
    else:
        reply = None
    assert reply in (None, replies.BAD_PARAMETER, replies.UNKNOWN_PARAMETER)
