"""Paths of MAIL and RCPT: splitting the argument and validating the mailbox."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtp_proto import address, replies
from smtp_proto.address import AddressError, parse_mailbox, split_path
from smtp_proto.replies import Reply

# split_path ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "keyword", "expected"),
    [
        ("FROM:<a@b.example> SIZE=100", "FROM", ("a@b.example", "SIZE=100")),
        ("TO:<postmaster>", "TO", ("postmaster", "")),
        ("FROM:<>", "FROM", ("", "")),
        ("from:<a@b.example>", "FROM", ("a@b.example", "")),
        ("To:<a@b.example>", "TO", ("a@b.example", "")),
        ("FROM: <a@b.example>", "FROM", ("a@b.example", "")),
        ("FROM:   <a@b.example>", "FROM", ("a@b.example", "")),
        ("FROM:<a@b.example>   SIZE=1  BODY=7BIT  ", "FROM", ("a@b.example", "SIZE=1  BODY=7BIT")),
        ("FROM:<a@b.example> ", "FROM", ("a@b.example", "")),
        ('FROM:<"a>b"@c.example> SIZE=1', "FROM", ('"a>b"@c.example', "SIZE=1")),
        ('TO:<"a\\">b"@c.example>', "TO", ('"a\\">b"@c.example', "")),
        ('TO:<"a\\\\">', "TO", ('"a\\\\"', "")),
        ("TO:<@a.example,@b.example:u@c.example>", "TO", ("@a.example,@b.example:u@c.example", "")),
        ("FROM:<a b>", "FROM", ("a b", "")),
    ],
)
def test_split_path(argument: str, keyword: str, expected: tuple[str, str]) -> None:
    assert split_path(argument, keyword) == expected


@pytest.mark.parametrize(
    ("argument", "keyword"),
    [
        ("", "FROM"),
        ("FROM", "FROM"),
        ("FROM<a@b.example>", "FROM"),
        ("FROM :<a@b.example>", "FROM"),
        (" FROM:<a@b.example>", "FROM"),
        ("TO:<a@b.example>", "FROM"),
        ("FRO:<a@b.example>", "FROM"),
        ("FROM:a@b.example", "FROM"),
        ("FROM:", "FROM"),
        ("FROM:<a@b.example", "FROM"),
        ("FROM:<a@b.example>SIZE=1", "FROM"),
        ("FROM:<a@b.example>>", "FROM"),
        ('FROM:<"a>b@c.example>', "FROM"),
        ('FROM:<"a\\">', "FROM"),
        ("FROM:a@b.example>", "FROM"),
    ],
)
def test_split_path_refuses(argument: str, keyword: str) -> None:
    with pytest.raises(AddressError) as info:
        split_path(argument, keyword)
    assert info.value.reply == replies.BAD_SYNTAX
    assert info.value.reply.to_bytes() == b"501 5.5.4 Syntax error in parameters or arguments\r\n"


# parse_mailbox: accepted ---------------------------------------------------------------------

Kind = Literal["MAIL", "RCPT"]


@pytest.mark.parametrize(
    ("path", "kind", "expected"),
    [
        ("", "MAIL", ""),
        ("postmaster", "RCPT", "postmaster"),
        ("PostMaster", "RCPT", "PostMaster"),
        ("POSTMASTER", "RCPT", "POSTMASTER"),
        ("postmaster@x.example", "MAIL", "postmaster@x.example"),
        ("User.Name@Example.COM", "MAIL", "User.Name@Example.COM"),
        ("a@b", "RCPT", "a@b"),
        ("!#$%&'*+-/=?^_`{|}~@x.example", "RCPT", "!#$%&'*+-/=?^_`{|}~@x.example"),
        ('""@x.example', "RCPT", '""@x.example'),
        ('"a b"@x.example', "RCPT", '"a b"@x.example'),
        ('"a>b"@x.example', "RCPT", '"a>b"@x.example'),
        ('"a\\"b"@x.example', "RCPT", '"a\\"b"@x.example'),
        ('"a\\\\b"@x.example', "RCPT", '"a\\\\b"@x.example'),
        ('"a@b"@x.example', "RCPT", '"a@b"@x.example'),
        ('"a..b."@x.example', "RCPT", '"a..b."@x.example'),
        ("a@[192.0.2.1]", "RCPT", "a@[192.0.2.1]"),
        ("a@[255.255.255.255]", "RCPT", "a@[255.255.255.255]"),
        ("a@[IPv6:2001:db8::1]", "RCPT", "a@[IPv6:2001:db8::1]"),
        ("a@[ipv6:::1]", "RCPT", "a@[ipv6:::1]"),
        ("a@[IPv6:::ffff:192.0.2.1]", "RCPT", "a@[IPv6:::ffff:192.0.2.1]"),
        ("a@[x-tag:any!content]", "RCPT", "a@[x-tag:any!content]"),
        # Without "IPv6:" this is still a General-address-literal by the grammar (tag "2001").
        ("a@[2001:db8::1]", "RCPT", "a@[2001:db8::1]"),
        ("a@x-y.example", "RCPT", "a@x-y.example"),
        ("a@1.example", "RCPT", "a@1.example"),
        ("a@123", "RCPT", "a@123"),
        ("@a.example:u@c.example", "RCPT", "u@c.example"),
        ("@a.example,@b.example:u@c.example", "RCPT", "u@c.example"),
        ("@a.example,@b.example:U@C.example", "MAIL", "U@C.example"),
    ],
)
def test_parse_mailbox_accepts(path: str, kind: Kind, expected: str) -> None:
    assert parse_mailbox(path, kind=kind, utf8=False) == expected
    assert parse_mailbox(path, kind=kind, utf8=True) == expected


# parse_mailbox: refused ----------------------------------------------------------------------

BAD_BOTH = [
    "a",
    "@",
    "a@",
    "@x.example",
    "a@@x.example",
    "a@b@x.example",
    ".a@x.example",
    "a.@x.example",
    "a..b@x.example",
    "a b@x.example",
    "a(b)@x.example",
    "a,b@x.example",
    "a\\b@x.example",
    'a"b"@x.example',
    '"a"b@x.example',
    '"a"x.example',
    '"a"',
    '"a\x01"@x.example',
    '"a\\\x01"@x.example',
    '"a\\"@x.example',
    '"a"b"@x.example',
    "a@-x.example",
    "a@x-.example",
    "a@x..example",
    "a@.x.example",
    "a@x.example.",
    "a@x_y.example",
    "a@x y.example",
    "a@[192.0.2.256]",
    "a@[192.0.2]",
    "a@[192.0.2.01]",
    "a@[192.0.2.1",
    "a@[]",
    "a@[foo]",
    "a@[IPv6:2001:db8::g]",
    "a@[IPv6:fe80::1%eth0]",
    "a@[IPv6:192.0.2.1]",
    "a@[-tag:x]",
    "a@[tag:]",
    "a@[tag:a[b]",
    "a@[tag:a\\b]",
    "a@[tag:a b]",
    "a@[192.0.2.1]x",
    "@a.example",
    "@a.example:",
    "@a.example,u@c.example",
    "@a.example;u@c.example",
    "@-a.example:u@c.example",
    "@a.example,b.example:u@c.example",
    "@[192.0.2.1]:u@c.example",
    "@a.example:@b.example:u@c.example",
    "postmaster@",
]


@pytest.mark.parametrize("path", BAD_BOTH)
@pytest.mark.parametrize("utf8", [False, True])
def test_parse_mailbox_refuses_bad_syntax(path: str, utf8: bool) -> None:
    with pytest.raises(AddressError) as info:
        parse_mailbox(path, kind="MAIL", utf8=utf8)
    assert info.value.reply == replies.BAD_SENDER_SYNTAX
    assert info.value.reply.to_bytes() == b"501 5.1.7 Bad sender address syntax\r\n"
    with pytest.raises(AddressError) as info:
        parse_mailbox(path, kind="RCPT", utf8=utf8)
    assert info.value.reply == replies.BAD_RECIPIENT_SYNTAX
    assert info.value.reply.to_bytes() == b"501 5.1.3 Bad destination mailbox address syntax\r\n"


def test_null_path_refused_for_rcpt() -> None:
    with pytest.raises(AddressError) as info:
        parse_mailbox("", kind="RCPT", utf8=False)
    assert info.value.reply == replies.BAD_RECIPIENT_SYNTAX


@pytest.mark.parametrize("path", ["postmaster", "Postmaster", "postmaster "])
def test_bare_postmaster_refused_for_mail(path: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_mailbox(path, kind="MAIL", utf8=False)
    assert info.value.reply == replies.BAD_SENDER_SYNTAX


def test_postmaster_with_trailing_space_refused_for_rcpt() -> None:
    with pytest.raises(AddressError):
        parse_mailbox("postmaster ", kind="RCPT", utf8=False)


# Length limits (RFC 5321 4.5.3.1) -----------------------------------------------------------


def _domain_of(octets: int) -> str:
    """A valid domain of exactly `octets` octets (62-octet labels, then the rest)."""
    labels: list[str] = []
    while octets > 63:
        labels.append("d" * 62)
        octets -= 63  # the label and its dot
    return ".".join([*labels, "d" * octets])


def _outcome(path: str, kind: Kind = "RCPT", utf8: bool = True) -> str | Reply:
    """The mailbox parse_mailbox returns, or the reply of the AddressError it raises."""
    try:
        return parse_mailbox(path, kind=kind, utf8=utf8)
    except AddressError as err:
        return err.reply


def _ok(path: str) -> bool:
    result = _outcome(path)
    assert result in (path, replies.BAD_RECIPIENT_SYNTAX) or path.startswith("@")
    return isinstance(result, str)


def test_local_part_limit_64_octets() -> None:
    assert _ok("a" * 64 + "@x.example")
    assert not _ok("a" * 65 + "@x.example")


def test_quoted_local_part_limit_counts_quotes() -> None:
    assert _ok('"' + "a" * 62 + '"@x.example')
    assert not _ok('"' + "a" * 63 + '"@x.example')


def test_local_part_limit_counts_utf8_octets() -> None:
    assert _ok("é" * 32 + "@x.example")  # 64 octets
    assert not _ok("é" * 32 + "a@x.example")  # 65 octets


def test_label_limit_63_octets() -> None:
    assert _ok("a@" + "l" * 63 + ".example")
    assert not _ok("a@" + "l" * 64 + ".example")


def test_u_label_limit_is_its_a_label_length() -> None:
    # "ü" + 55 ASCII letters encodes as "xn--" + 55 letters + "-" + 3 chars = 63 octets.
    label = "ü" + "a" * 55
    assert len("xn--" + label.encode("punycode").decode()) == 63
    assert _ok(f"a@{label}.example")
    assert not _ok(f"a@{label}a.example")


def test_path_limit_256_octets_with_brackets() -> None:
    # local 64 + "@" + domain 189 = 254 octets, plus "<" and ">" = 256.
    assert _ok("a" * 64 + "@" + _domain_of(189))
    assert not _ok("a" * 64 + "@" + _domain_of(190))


def test_path_limit_includes_source_route() -> None:
    mailbox = "a" * 64 + "@" + _domain_of(180)  # 245 octets
    assert _ok("@r.example:" + mailbox[:-2])  # 11 + 243 = 254
    assert not _ok("@r.example:" + mailbox[:-1])  # 11 + 244 = 255


def test_domain_limit_255_octets_in_source_route() -> None:
    # The path limit binds first for a mailbox; a route hop alone checks the domain limit.
    assert not _ok("@" + _domain_of(256) + ":a@x.example")


# Non-ASCII (RFC 6531) -----------------------------------------------------------------------

UTF8_GOOD = [
    "josé@example.com",
    "用户@例子.广告",
    "a@bücher.example",
    '"jo sé"@example.com',
    "δοκιμή@παράδειγμα.δοκιμή",
    "@bücher.example:a@x.example",
]


@pytest.mark.parametrize("path", UTF8_GOOD)
def test_utf8_address_accepted_with_smtputf8(path: str) -> None:
    expected = path.split(":", 1)[1] if path.startswith("@") else path
    assert parse_mailbox(path, kind="MAIL", utf8=True) == expected
    assert parse_mailbox(path, kind="RCPT", utf8=True) == expected


@pytest.mark.parametrize("path", [*UTF8_GOOD, "bad..é@x.example", "é"])
@pytest.mark.parametrize("kind", ["MAIL", "RCPT"])
def test_utf8_address_without_smtputf8_gets_553(path: str, kind: Kind) -> None:
    with pytest.raises(AddressError) as info:
        parse_mailbox(path, kind=kind, utf8=False)
    assert info.value.reply == replies.NEED_SMTPUTF8
    assert info.value.reply.to_bytes() == b"553 5.6.7 Address needs the SMTPUTF8 parameter\r\n"


@pytest.mark.parametrize(
    "path",
    [
        "a@b\u00a0c.example",  # no-break space in a label
        "a@b\u200bc.example",  # zero-width space (a format character)
        "a@[IPv6:2001:db8::é]",
        "a@[tag:é]",
        "a@é-.example",
    ],
)
def test_bad_utf8_domains_refused(path: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_mailbox(path, kind="RCPT", utf8=True)
    assert info.value.reply == replies.BAD_RECIPIENT_SYNTAX


@pytest.mark.parametrize("utf8", [False, True])
@pytest.mark.parametrize(
    ("kind", "reply"),
    [("MAIL", replies.BAD_SENDER_SYNTAX), ("RCPT", replies.BAD_RECIPIENT_SYNTAX)],
)
def test_undecodable_bytes_are_a_syntax_error(utf8: bool, kind: Kind, reply: Reply) -> None:
    path = b"a\xff@x.example".decode("utf-8", "surrogateescape")
    with pytest.raises(AddressError) as info:
        parse_mailbox(path, kind=kind, utf8=utf8)
    assert info.value.reply == reply


# Together, and properties ---------------------------------------------------------------------


def test_split_then_parse() -> None:
    path, params = split_path('TO: <@a.example:"x>y"@B.example> NOTIFY=NEVER', "TO")
    assert parse_mailbox(path, kind="RCPT", utf8=False) == '"x>y"@B.example'
    assert params == "NOTIFY=NEVER"


def test_error_message_names_the_reply() -> None:
    err = AddressError(replies.BAD_SENDER_SYNTAX)
    assert str(err) == "501 Bad sender address syntax"


@given(st.text(max_size=300), st.sampled_from(["MAIL", "RCPT"]), st.booleans())
def test_parse_mailbox_raises_only_address_error(path: str, kind: Kind, utf8: bool) -> None:
    result = _outcome(path, kind, utf8)
    if isinstance(result, Reply):
        assert result.code in (501, 553)
    else:
        assert result == path or path.endswith(":" + result)


@given(st.text(max_size=300), st.sampled_from(["FROM", "TO"]))
def test_split_path_raises_only_address_error(argument: str, keyword: str) -> None:
    try:
        path, params = split_path(argument, keyword)
    except AddressError as err:
        reply: Reply | None = err.reply
    else:
        reply = None
        assert f"<{path}>" in argument
        assert params == params.strip(" ")
    assert reply in (None, replies.BAD_SYNTAX)


_ATOM = st.text(alphabet="abcXYZ019!#$%&'*+-/=?^_`{|}~", min_size=1, max_size=8)
_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@given(st.lists(_ATOM, min_size=1, max_size=4), st.lists(_LABEL, min_size=1, max_size=4))
def test_generated_valid_mailboxes_round_trip(atoms: list[str], labels: list[str]) -> None:
    mailbox = ".".join(atoms) + "@" + ".".join(labels)
    assert split_path(f"TO:<{mailbox}> X=1", "TO") == (mailbox, "X=1")
    assert parse_mailbox(mailbox, kind="RCPT", utf8=False) == mailbox


@given(
    local=st.text(alphabet='ab.-+_"@', min_size=0, max_size=70),
    labels=st.lists(
        st.one_of(st.text(alphabet="a0-_", min_size=0, max_size=6), st.just("l" * 63)),
        max_size=5,
    ),
)
def test_the_quick_path_takes_only_what_the_full_checks_take(local: str, labels: list[str]) -> None:
    """The one-regex path for plain addresses agrees with the full RFC 5321 checks."""
    path = local + "@" + ".".join(labels)
    try:
        taken = parse_mailbox(path, kind="MAIL", utf8=False) == path
    except AddressError:
        taken = False
    full = len(path) <= 254 and address._valid_mailbox(path)
    assert taken is full
