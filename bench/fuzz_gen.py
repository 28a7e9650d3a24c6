"""Seeded generation of fuzz cases for `bench.fuzz`: configs with every switch and tiny
limits, client sessions built from every verb and parameter, then mutated at the byte
level, and the answers the application gives to each decision.

Everything comes from the `random.Random` passed in, so a seed gives the same cases.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from smtp_proto.config import MECHANISMS, Limits

Json = dict[str, object]


@dataclass(frozen=True)
class Case:
    """One fuzz case: everything a run needs, JSON-able (see `bench.fuzz.case_to_json`).

    `segments`: the client's bytes; each one after the first is sent once the previous
    STARTTLS handshake is done (what the client pipelined before it is dropped).
    `answers`: how the application answers each decision in turn (see `ANSWERS`; past the
    end: accept). `hooks`: with `driver`, how the Handler's hooks end (see bench.fuzz).
    `splits`: the seed of the random reads.
    """

    config: Json = field(default_factory=dict)
    segments: tuple[bytes, ...] = (b"",)
    answers: tuple[int, ...] = ()
    encrypted: bool = False
    nonce: bool = True
    driver: bool = False
    hooks: tuple[int, ...] = ()
    splits: int = 0


# Answers to decisions, by index: what bench.fuzz does with each.
ANSWERS: Final = (
    "accept",
    "accept-custom",
    "reject",
    "reject-5xx",
    "reject-4xx-multiline",
    "reject-421",
    "abort",
)
_ANSWER_WEIGHTS: Final = (176, 8, 8, 4, 2, 1, 1)
HOOK_OUTCOMES: Final = 8  # hook plan values are taken modulo this (see bench.fuzz)

_DOMAINS: Final = (
    "c.example",
    "[192.0.2.1]",
    "[IPv6:2001:db8::1]",
    "[300.1.1.1]",
    "x",
    "\u00fcn\u00ef.example",
    "bad domain",
    "a" * 70 + ".example",
    "-bad-.example",
    "c.example ",
    "",
)
_ADDRESSES: Final = (
    "<a@b.example>",
    "<>",
    "<@route.example:a@b.example>",
    '<"q u"@b.example>',
    "<\u00fc@b.example>",
    "a@b.example",
    "<a@[192.0.2.1]>",
    "<postmaster>",
    "<Postmaster@b.example>",
    "<a@b",
    "<" + "l" * 70 + "@b.example>",
    "<a@b.example> ",
    "<a b@c.example>",
    "<a@b.example>x",
    ":<a@b.example>",
    "",
)
_MAIL_PARAMS: Final = (
    "SIZE=10",
    "SIZE=0",
    "SIZE=99999999999",
    "SIZE=x",
    "SIZE",
    "BODY=7BIT",
    "BODY=8BITMIME",
    "BODY=BINARYMIME",
    "body=binarymime",
    "BODY=x",
    "SMTPUTF8",
    "SMTPUTF8=1",
    "RET=FULL",
    "RET=HDRS",
    "RET=x",
    "ENVID=abc+2B",
    "ENVID=+ZZ",
    "ENVID=" + "e" * 101,
    "AUTH=<>",
    "AUTH=a+40b.example",
    "XFOO=1",
    "=x",
    "SIZE=1 SIZE=2",
    "\u00fc=1",
)
_GOOD_MAIL_PARAMS: Final = (
    "SIZE=10",
    "BODY=7BIT",
    "BODY=8BITMIME",
    "BODY=BINARYMIME",
    "SMTPUTF8",
    "RET=HDRS",
    "ENVID=abc+2B",
    "AUTH=<>",
)
_RCPT_PARAMS: Final = (
    "NOTIFY=NEVER",
    "NOTIFY=SUCCESS,FAILURE,DELAY",
    "NOTIFY=NEVER,SUCCESS",
    "NOTIFY=SUCCESS,SUCCESS",
    "NOTIFY=x",
    "ORCPT=rfc822;a@b.example",
    "ORCPT=rfc822;a+2Bb",
    "ORCPT=rfc822;+C3+BC",
    "ORCPT=;x",
    "ORCPT=rfc822",
    "XBAR",
)
_TOKENS: Final = (
    b"\r",
    b"\n",
    b"\r\n",
    b".",
    b"..",
    b"\r\n.\r\n",
    b"\r\n.",
    b".\r\n",
    b"\n.\n",
    b"\r.\r",
    b"\x00",
    b"\xff",
    b"\xc3\xbc",
    b" ",
    b"\r\n\r\n",
    b"\n\n",
)
_SMALL: Final = {
    "command_line": (6, 80),
    "auth_line": (2, 100),
    "line_buffer": (6, 700),
    "text_line": (2, 40),
    "message_size": (1, 300),
    "recipients": (1, 4),
    "unknown_commands": (1, 5),
    "errors": (1, 10),
    "auth_failures": (1, 4),
}
_FLAGS: Final = (
    "lmtp",
    "pipelining",
    "size",
    "eightbitmime",
    "smtputf8",
    "enhanced_status_codes",
    "chunking",
    "binarymime",
    "dsn",
    "vrfy",
    "auth_plaintext",
)
_FLAG_DEFAULTS: Final = {"lmtp": False, "auth_plaintext": False}
_PROXY_V2: Final = b"\r\n\r\n\x00\r\nQUIT\n"
_PROXY_HEADERS: Final = (
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n",
    b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 2525\r\n",
    b"PROXY UNKNOWN\r\n",
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 99999\r\n",
    _PROXY_V2 + b"\x21\x11\x00\x0c\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x00\x19",
    _PROXY_V2
    + b"\x21\x11\x00\x12\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x00\x19"
    + b"\x01\x00\x03smt",
    _PROXY_V2 + b"\x20\x00\x00\x00",
    _PROXY_V2 + b"\x21\x11\xff\xff",
)


@dataclass
class Plan:
    """What a generated session is like, so that its lines fit its config."""

    config: Json
    rng: random.Random
    limits: dict[str, int]
    lines: list[bytes] = field(default_factory=list)  # pieces of the current segment
    segments: list[bytes] = field(default_factory=list)

    def limit(self, name: str) -> int:
        value = self.limits.get(name)
        return int(getattr(Limits(), name)) if value is None else value


def gen_case(rng: random.Random, *, driver_share: float = 0.0) -> Case:
    """A new case from `rng`."""
    config = gen_config(rng)
    plan = Plan(config, rng, dict(config.get("limits", {})))  # type: ignore[call-overload]
    _opening(plan)
    for _ in range(rng.randint(1, 8)):
        _gen_command(plan)
        if plan.lines and plan.lines[-1].upper() == b"STARTTLS\r\n" and rng.random() < 0.8:
            _new_segment(plan)
    plan.segments.append(b"".join(plan.lines))
    segments = [mutate(rng, s) if rng.random() < 0.3 else s for s in plan.segments]
    answers = tuple(rng.choices(range(len(ANSWERS)), _ANSWER_WEIGHTS, k=rng.randint(0, 40)))
    driver = rng.random() < driver_share
    hooks = tuple(rng.randrange(HOOK_OUTCOMES * 4) for _ in range(8)) if driver else ()
    return Case(
        config=config,
        segments=tuple(segments),
        answers=answers,
        encrypted=rng.random() < 0.1,
        nonce=rng.random() < 0.8,
        driver=driver,
        hooks=hooks,
        splits=rng.randrange(1 << 30),
    )


def _opening(plan: Plan) -> None:
    """What a client usually does first: EHLO, STARTTLS when offered, AUTH when offered;
    behind a load balancer, its PROXY header before all."""
    rng = plan.rng
    if "proxy_protocol" in plan.config and rng.random() < 0.9:
        plan.lines.append(rng.choice(_PROXY_HEADERS))
    if rng.random() < 0.9:
        _helo(plan)
    if plan.config.get("tls_mode", "forbidden") != "forbidden" and rng.random() < 0.7:
        _line(plan, "STARTTLS")
        _new_segment(plan)
    if plan.config.get("auth_mode", "forbidden") != "forbidden" and rng.random() < 0.7:
        _auth(plan, valid=True)


def _new_segment(plan: Plan) -> None:
    """What follows is sent after the TLS handshake, usually starting with EHLO again."""
    plan.segments.append(b"".join(plan.lines))
    plan.lines = []
    if plan.rng.random() < 0.9:
        _helo(plan)


def gen_config(rng: random.Random) -> Json:
    """The non-default fields of a ServerConfig, as JSON values."""
    config: Json = {}
    if rng.random() < 0.6:
        config["crlf_mode"] = rng.choice(["ensure", "leave", "strict"])
    for flag in _FLAGS:
        if rng.random() < 0.12:
            config[flag] = not _FLAG_DEFAULTS.get(flag, True)
    if config.get("chunking") is False:
        config["binarymime"] = False
    if rng.random() < 0.4:
        config["auth_mode"] = rng.choice(["forbidden", "optional", "required"])
        if rng.random() < 0.3:
            config["auth_mechanisms"] = rng.sample(MECHANISMS, rng.randint(1, len(MECHANISMS)))
    if rng.random() < 0.3:
        config["tls_mode"] = rng.choice(["forbidden", "optional", "required"])
    config.update(_gen_gateway(rng))
    limits = gen_limits(rng)
    if limits:
        config["limits"] = limits
    return config


def _gen_gateway(rng: random.Random) -> Json:
    """What a server behind a load balancer or with its own verbs sets."""
    config: Json = {}
    if rng.random() < 0.3:
        config["extension_verbs"] = rng.choice([["XYZZY"], ["*"], ["XYZZY", "XCLIENT"]])
    if rng.random() < 0.1:
        config["proxy_protocol"] = rng.choice(["v1", "v2", "any"])
        if rng.random() < 0.3:
            config["proxy_max_tlvs"] = rng.randint(0, 40)
        if rng.random() < 0.7:  # the driver's peer is 198.51.100.7: trusted, or not
            config["proxy_trusted"] = rng.choice([["198.51.100.0/24"], ["10.0.0.0/8", "::1"]])
    if rng.random() < 0.15:  # XCLIENT taken from the peer, or refused to it
        config["xclient_trusted"] = rng.choice([["198.51.100.0/24"], ["10.0.0.0/8"]])
    return config


def gen_limits(rng: random.Random) -> dict[str, int]:
    """Limits that differ from the defaults: often tiny, sometimes near the RFC minimum."""
    limits: dict[str, int] = {}
    if rng.random() < 0.6:
        for name, (low, high) in _SMALL.items():
            if rng.random() < (0.4 if name in ("text_line", "message_size") else 0.15):
                limits[name] = rng.randint(low, high)
    if rng.random() < 0.1:
        limits["text_line"] = rng.randint(990, 1010)
    return limits


# Commands ---------------------------------------------------------------------------------


def _verb(rng: random.Random, verb: str) -> bytes:
    roll = rng.random()
    if roll < 0.08:
        verb = verb.lower()
    elif roll < 0.1:
        verb = verb.capitalize()
    return verb.encode()


def _line(plan: Plan, verb: str, arg: str = "") -> None:
    rng = plan.rng
    text = _verb(rng, verb) + ((b" " * rng.choice((1, 1, 1, 2)) + arg.encode()) if arg else b"")
    end = b"\r\n" if rng.random() < 0.97 else rng.choice((b"\n", b"\r", b" \r\n"))
    plan.lines.append(text + end)


def _pick(rng: random.Random, good: str, odd: tuple[str, ...], share: float = 0.2) -> str:
    """Usually the well-formed value, sometimes an odd one."""
    return rng.choice(odd) if rng.random() < share else good


def _helo(plan: Plan) -> None:
    rng = plan.rng
    lmtp = bool(plan.config.get("lmtp"))
    if rng.random() < 0.9:
        verb = "LHLO" if lmtp else "EHLO" if rng.random() < 0.85 else "HELO"
    else:
        verb = rng.choice(("EHLO", "HELO", "LHLO"))
    _line(plan, verb, _pick(rng, "c.example", _DOMAINS))


def _mail(plan: Plan) -> None:
    rng = plan.rng
    pool = _MAIL_PARAMS if rng.random() < 0.3 else _GOOD_MAIL_PARAMS
    params = " ".join(rng.sample(pool, rng.choice((0, 0, 0, 0, 1, 1, 2, 3))))
    if rng.random() < 0.2:
        params = f"SIZE={rng.randint(0, plan.limit('message_size') + 5)} {params}"
    path = _pick(rng, "<a@b.example>", _ADDRESSES, 0.1)
    keyword = _pick(rng, "FROM:", ("from:", "FROM: ", "FROM", "TO:"), 0.05)
    _line(plan, "MAIL", f"{keyword}{path} {params}".rstrip() if params else keyword + path)


def _rcpt(plan: Plan) -> None:
    rng = plan.rng
    for _ in range(rng.choice((1, 1, 1, 2, 3, 6))):
        params = " ".join(rng.sample(_RCPT_PARAMS, rng.choice((0, 0, 0, 0, 0, 1, 2))))
        path = _pick(rng, "<c@d.example>", _ADDRESSES, 0.1)
        _line(plan, "RCPT", f"TO:{path} {params}".rstrip() if params else f"TO:{path}")


def _envelope(plan: Plan) -> None:
    _mail(plan)
    _rcpt(plan)


def _data(plan: Plan) -> None:
    rng = plan.rng
    if rng.random() < 0.9:
        _envelope(plan)
    _line(plan, "DATA", "" if rng.random() < 0.97 else "x")
    plan.lines.append(gen_message(plan))


def gen_message(plan: Plan) -> bytes:
    """Message text for DATA with its end marker (usually): header lines, a blank line,
    lines with dots, bare CR or LF, NUL, 8-bit octets, and lines near the text limit."""
    rng = plan.rng
    text_line = plan.limit("text_line")
    pieces: list[bytes] = []
    for _ in range(rng.randint(0, 5)):
        pieces.append(rng.choice((b"Subject: x", b"From: <a@b.example>", b"X: " + b"h" * 40)))
        pieces.append(_ending(rng))
    if rng.random() < 0.8:
        pieces.append(rng.choice((b"\r\n", b"\r\n", b"\n", b"\r\r\n")))
    for _ in range(rng.randint(0, 12)):
        pieces.append(_text_line(rng, text_line) + _ending(rng))
    if rng.random() < 0.3:
        pieces.insert(rng.randrange(len(pieces) + 1), rng.choice(_TOKENS))
    body = b"".join(pieces)
    roll = rng.random()
    if roll < 0.85:
        tail = b".\r\n" if body.endswith(b"\r\n") or not body else b"\r\n.\r\n"
    else:
        tail = rng.choice((b"", b".\n", b"\n.\n", b"\r\n.\r", b"\r\n..\r\n"))
    return body + tail


def _ending(rng: random.Random) -> bytes:
    roll = rng.random()
    return b"\r\n" if roll < 0.85 else rng.choice((b"\n", b"\r", b"\r\r\n", b"\n\r"))


def _text_line(rng: random.Random, text_line: int) -> bytes:
    roll = rng.random()
    if roll < (0.15 if text_line < 100 else 0.03):
        size = max(0, text_line - 2 + rng.randint(-2, 2))
        return b"t" * size
    if roll < 0.35:
        return rng.choice((b".", b"..", b".x", b"...", b"", b" ."))
    if roll < 0.45:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
    if roll < 0.46:
        return b"L" * rng.choice((999, 1000, 1001, 1002, 2000))
    return b"line " + str(rng.randrange(10_000)).encode() + rng.choice((b"", b"\x00", b"\xe9"))


def _bdat(plan: Plan) -> None:
    rng = plan.rng
    if rng.random() < 0.9:
        _envelope(plan)
    for i in range(rng.randint(1, 4)):
        data = _chunk_data(plan)
        size = len(data)
        roll = rng.random()
        if roll < 0.08:
            size = max(0, size + rng.randint(-3, 3))
        elif roll < 0.1:
            size = rng.choice((1_000_000_000, 10**20, plan.limit("message_size") + 1))
        last = rng.random() < (0.5 if i else 0.3)
        arg = f"{size} LAST" if last else str(size)
        if rng.random() < 0.05:
            arg = rng.choice(("x", "-1", "5 last", "5 LAST extra", "", "5  LAST", "0x10"))
        _line(plan, "BDAT", arg)
        plan.lines.append(data)
        if last:
            break


def _chunk_data(plan: Plan) -> bytes:
    rng = plan.rng
    roll = rng.random()
    if roll < 0.3:
        return gen_message(plan)[: rng.randint(0, 200)]
    if roll < 0.5:
        return rng.choice((b"A: b\r\n\r", b"\n", b"A: b\r\n\r\nbody", b"\r", b"", b"x\r\n\r\n"))
    if roll < 0.6:
        return b"B" * rng.randint(0, min(plan.limit("message_size") + 3, 3000))
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))


def _auth(plan: Plan, *, valid: bool = False) -> None:
    rng = plan.rng
    if valid:
        mechanism = rng.choice(("PLAIN", "PLAIN", "LOGIN", "CRAM-MD5"))
        if mechanism == "PLAIN":
            _line(plan, "AUTH", "PLAIN " + _b64(b"\0tim\0pw"))
        else:
            _line(plan, "AUTH", mechanism)
            answers = (
                (b"tim 0123456789abcdef0123456789abcdef",)
                if mechanism == "CRAM-MD5"
                else (b"tim", b"pw")
            )
            plan.lines += [_b64(a).encode() + b"\r\n" for a in answers]
        return
    mechanism = rng.choice(("PLAIN", "LOGIN", "CRAM-MD5", "plain", "XOAUTH2", ""))
    initial = ""
    if mechanism.upper() in ("PLAIN", "LOGIN") and rng.random() < 0.4:
        initial = rng.choice(("=", "*", "!!", _b64(b"\0tim\0pw"), _b64(b"tim"), "AA=="))
    _line(plan, "AUTH", f"{mechanism} {initial}".strip())
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
        plan.lines.append(_auth_response(plan).encode() + b"\r\n")


def _auth_response(plan: Plan) -> str:
    rng = plan.rng
    roll = rng.random()
    if roll < 0.5:
        return _b64(
            rng.choice((b"\0tim\0pw", b"tim", b"pw", b"tim 0123456789abcdef0123456789abcdef"))
        )
    if roll < 0.7:
        return rng.choice(("*", "=", "", "!!!", "AA", "\u00fc"))
    return "A" * min(
        rng.randint(1, plan.limit("auth_line") + 4), rng.choice((100,) * 9 + (13_000,))
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _simple(plan: Plan) -> None:
    rng = plan.rng
    verb, arg = rng.choice(
        (
            ("RSET", ""),
            ("RSET", "x"),
            ("NOOP", ""),
            ("NOOP", "anything here"),
            ("QUIT", "now"),
            ("VRFY", "a"),
            ("VRFY", ""),
            ("EXPN", "list"),
            ("HELP", ""),
            ("HELP", "MAIL"),
            ("STARTTLS", ""),
            ("STARTTLS", "x"),
            ("XYZZY", ""),
            ("XCLIENT", "NAME=x ADDR=192.0.2.1"),
            ("XCLIENT", "ADDR=IPV6:2001:db8::9 PORT=2525 PROTO=esmtp DESTPORT=25"),
            ("XCLIENT", "NAME=[TEMPUNAVAIL] HELO=a+2Bb LOGIN=[UNAVAILABLE]"),
            ("XCLIENT", "ADDR=300.1.1.1"),
            ("XCLIENT", "NAME=a+ZZ"),
            ("XCLIENT", "FOO=1"),
            ("XCLIENT", ""),
            ("XFOO", "bar"),
            ("", ""),
            ("MAIL", ""),
        )
    )
    if rng.random() < 0.04:
        verb, arg = "QUIT", ""
    _line(plan, verb, arg)


def _garbage(plan: Plan) -> None:
    rng = plan.rng
    roll = rng.random()
    if roll < 0.4:
        name = rng.choice(("command_line",) * 6 + ("line_buffer", "auth_line"))
        size = plan.limit(name) + rng.randint(-9, 3)
        plan.lines.append(b"NOOP " + b"n" * max(0, size - 7) + b"\r\n")
    elif roll < 0.5:
        plan.lines.append(b"z" * rng.choice((600,) * 8 + (13_000, 17_000)) + b"\r\n")
    elif roll < 0.8:
        plan.lines.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 30))))
    else:
        plan.lines.append(rng.choice(_TOKENS))


_COMMANDS: Final[tuple[tuple[Callable[[Plan], None], int], ...]] = (
    (_helo, 5),
    (_mail, 5),
    (_rcpt, 4),
    (_data, 30),
    (_bdat, 20),
    (_auth, 8),
    (_simple, 14),
    (_garbage, 6),
)


def _gen_command(plan: Plan) -> None:
    functions, weights = zip(*_COMMANDS, strict=True)
    plan.rng.choices(functions, weights)[0](plan)


# Mutation ---------------------------------------------------------------------------------


def mutate(rng: random.Random, data: bytes) -> bytes:
    """`data` with one to four byte-level changes: insertions of tricky tokens, deletions,
    duplications, changed octets and truncation."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(out))
        roll = rng.random()
        if roll < 0.4:
            out[at:at] = rng.choice(_TOKENS) if rng.random() < 0.9 else b"x" * rng.randint(1, 2000)
        elif roll < 0.6:
            del out[at : at + rng.randint(1, 20)]
        elif roll < 0.75:
            out[at:at] = out[at : at + rng.randint(1, 40)]
        elif roll < 0.95 and out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
        else:
            del out[at:]
    return bytes(out)
