"""The checks of `bench.fuzz`: one case run whole, a byte at a time and in random reads,
answered as the case says, through the core alone or through the session's `HookDriver`.

Invariants: no exception but `LocalProtocolError` from misuse (and misuse always gets
it, changing nothing); every reply line well formed; nothing sent after the close;
`ConnectionClosed` after the end of input; the same events (consecutive MessageChunks
joined) and the same bytes out for every split. Through `HookDriver` (a Handler whose
hooks raise as the case says) message content may stop where the reads decide, so the
output, the other events and the hook calls are compared.
"""

from __future__ import annotations

import random
import re
import traceback
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from bench.fuzz_gen import ANSWERS, HOOK_OUTCOMES, Case, Json
from smtp_proto import replies
from smtp_proto.config import AuthMode, CrlfMode, Limits, ServerConfig, TlsMode
from smtp_proto.config_values import ConfigValues
from smtp_proto.connection import ServerConnection
from smtp_proto.context import Context, Peer
from smtp_proto.driver import HookDriver, config_for
from smtp_proto.errors import LocalProtocolError, Smtpd421Error, SmtpError
from smtp_proto.events import (
    NEED_DATA,
    PAUSED,
    BeginTls,
    ConnectionClosed,
    ConnectionOpened,
    DataStart,
    Decision,
    Event,
    HeadersComplete,
    Helo,
    MessageChunk,
    MessageReceived,
    ProxyHeaderReceived,
    StartTlsRequest,
    UnknownCommand,
    XclientRequest,
)
from smtp_proto.handler import Handler
from smtp_proto.proxy import ProxyVersion
from smtp_proto.replies import Reply

NONCE: Final = "1896.697170952"
PEER: Final = Peer("192.0.2.1", 25, "mx.fuzz.example", "198.51.100.7", 40000, "c.example")
CLOCK: Final = datetime(2026, 1, 1, tzinfo=UTC)
RANDOM_SPLITS: Final = 2
_REPLY_LINE: Final = re.compile(rb"([2-5][0-9][0-9])([ -])[\x20-\x7e]*\r\n")
_ENUMS: Final = {
    "crlf_mode": CrlfMode,
    "auth_mode": AuthMode,
    "tls_mode": TlsMode,
    "proxy_protocol": ProxyVersion,
}

Factory = Callable[[ServerConfig, bool, bool], ServerConnection]


class Failure(Exception):
    """An invariant broke: `kind` names which (minimising keeps it), `detail` says how."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def build_config(config: Json) -> ServerConfig:
    """The ServerConfig a case describes (ValueError when it is not a valid one)."""
    values: dict[str, object] = {"hostname": "mx.fuzz.example"}
    for name, value in config.items():
        if name == "limits":
            values[name] = Limits(**value)  # type: ignore[arg-type]
        elif name in _ENUMS:
            values[name] = _ENUMS[name](value)
        elif name == "auth_mechanisms":
            values[name] = tuple(value)  # type: ignore[arg-type]
        else:
            values[name] = value
    return ServerConfig(**values)  # type: ignore[arg-type]


def new_connection(config: ServerConfig, encrypted: bool, nonce: bool) -> ServerConnection:
    """The connection under test (tests pass a broken one to show the checks fail); XCLIENT
    taken and offered as a `Session` would for `PEER`."""
    xclient = bool(config.xclient_trusted)
    return ServerConnection(
        config,
        encrypted=encrypted,
        nonce=(lambda: NONCE) if nonce else None,
        xclient=xclient,
        xclient_offered=xclient and ConfigValues.of(config).trusts_xclient(PEER.remote_ip),
    )


# Reads ----------------------------------------------------------------------------------


def split_whole(data: bytes) -> list[bytes]:
    return [data] if data else []


def split_bytes(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def split_random(seed: int) -> Callable[[bytes], list[bytes]]:
    """Random reads: mostly short near each other, sometimes long, from `seed`."""

    def split(data: bytes) -> list[bytes]:
        rng = random.Random(seed * 7919 + len(data))
        out, pos = [], 0
        while pos < len(data):
            size = rng.choice((1, 1, 2, 3, 5, 8, 13, 64, 700)) if rng.random() < 0.8 else 4096
            out.append(data[pos : pos + size])
            pos += size
        return out

    return split


class Feeder:
    """Hands out the reads of each segment in turn, then b"" (the client closes); after
    a handshake the rest of the current segment is dropped, as the core drops it."""

    def __init__(self, segments: Sequence[bytes], split: Callable[[bytes], list[bytes]]) -> None:
        self._reads = [split(s) for s in segments]
        self._segment = 0
        self._next = 0
        self.ended = False

    def read(self) -> bytes:
        while self._segment < len(self._reads):
            reads = self._reads[self._segment]
            if self._next < len(reads):
                self._next += 1
                return reads[self._next - 1]
            self._segment += 1
            self._next = 0
        if self.ended:
            raise Failure("no-close-after-eof", "NEED_DATA after the end of input")
        self.ended = True
        return b""

    def tls(self) -> None:
        self._segment += 1
        self._next = 0


# Answers --------------------------------------------------------------------------------

_ACCEPT_WITH: Final[dict[type[Decision], Reply]] = {
    ConnectionOpened: Reply(220, ("mx.fuzz.example custom greeting",)),
    Helo: Reply(250, ("mx.fuzz.example custom hello",)),
    DataStart: Reply(354, ("Go ahead, fuzz",)),
    StartTlsRequest: Reply(220, ("Go ahead with TLS",), (2, 0, 0)),
    XclientRequest: Reply(220, ("mx.fuzz.example greets the named client",)),
}
_ACCEPTED: Final = Reply(250, ("Fuzz OK",), (2, 0, 0))
_REJECT_WITH: Final = {
    "reject-5xx": Reply(550, ("Fuzz says no",), (5, 7, 1)),
    "reject-4xx-multiline": Reply(451, ("Fuzz says later", "second line"), None),
    "reject-421": Reply(421, ("Fuzz closes",), (4, 3, 2)),
}


def answer(conn: ServerConnection, event: Decision, how: str) -> None:
    """Answer `event` the way `how` (one of ANSWERS) says."""
    if isinstance(event, ProxyHeaderReceived) and how not in ("abort", "reject"):
        conn.accept()  # a PROXY header takes no reply either way
    elif isinstance(event, ProxyHeaderReceived):
        conn.abort() if how == "abort" else conn.reject()
    elif how == "accept" and isinstance(event, UnknownCommand):
        conn.accept(_ACCEPTED)  # accept() alone is misuse here (probe_decision checks it)
    elif how == "accept":
        conn.accept()
    elif how == "accept-custom":
        conn.accept(_ACCEPT_WITH.get(type(event), _ACCEPTED))
    elif how == "reject":
        conn.reject()
    elif how == "abort":
        conn.abort()
    else:
        conn.reject(_REJECT_WITH[how])


def misuse(what: str, call: Callable[[], object]) -> None:
    """`call` misuses the core: it must raise LocalProtocolError."""
    try:
        call()
    except LocalProtocolError:
        return
    raise Failure("misuse-accepted", f"{what} did not raise LocalProtocolError")


def probe_decision(conn: ServerConnection, event: Decision) -> None:
    """Misuse while a decision is pending; the caller's comparison shows nothing changed."""
    misuse("accept(550)", lambda: conn.accept(_REJECT_WITH["reject-5xx"]))
    misuse("reject(250)", lambda: conn.reject(_ACCEPTED))
    misuse("discard_message() while paused", lambda: conn.discard_message(replies.LOCAL_ERROR))
    if isinstance(event, UnknownCommand):
        misuse("accept() of an extension verb without a reply", conn.accept)
    if conn.next_event() is not PAUSED:
        raise Failure("not-paused", "next_event() with a decision pending was not PAUSED")


def probe_closed(conn: ServerConnection, event: ConnectionClosed) -> None:
    """After ConnectionClosed: nothing more to send, no more input, no decisions."""
    misuse("receive_data() after the close", lambda: conn.receive_data(b"NOOP\r\n"))
    misuse("accept() after the close", conn.accept)
    misuse("tls_established() after the close", conn.tls_established)
    again = conn.next_event()
    if again != event:
        raise Failure("event-after-close", f"{again!r} after {event!r}")
    conn.abort()
    if conn.data_to_send():
        raise Failure("output-after-close", "bytes queued after ConnectionClosed")


# One run --------------------------------------------------------------------------------


@dataclass
class Run:
    """What one run of a case gave."""

    events: list[Event] = field(default_factory=list)
    out: bytearray = field(default_factory=bytearray)
    hooks: list[str] = field(default_factory=list)  # driver mode: the hook calls that count


def run_core(
    case: Case,
    config: ServerConfig,
    split: Callable[[bytes], list[bytes]],
    *,
    probes: bool,
    factory: Factory = new_connection,
) -> Run:
    """Drive a connection through the case's input as the transports do."""
    conn = factory(config, case.encrypted, case.nonce)
    feeder = Feeder(case.segments, split)
    answers = iter(case.answers)
    run = Run()
    for event in _events(conn, feeder, _step_cap(case)):
        run.events.append(event)
        if isinstance(event, Decision):
            if probes:
                probe_decision(conn, event)
            answer(conn, event, ANSWERS[next(answers, 0)])
            if probes:
                misuse("a second answer", conn.accept)
        elif isinstance(event, BeginTls):
            if probes:
                misuse("accept() during the handshake", conn.accept)
            feeder.tls()
            conn.tls_established()
        elif isinstance(event, ConnectionClosed):
            run.out += conn.data_to_send()
            if probes:
                probe_closed(conn, event)
    run.out += conn.data_to_send()
    return run


def _step_cap(case: Case) -> int:
    return 64 * (sum(len(s) for s in case.segments) + len(case.answers) + 200)


def _events(conn: ServerConnection, feeder: Feeder, cap: int) -> Iterator[Event]:
    """Events until ConnectionClosed, feeding after NEED_DATA; PAUSED is a failure."""
    for _ in range(cap):
        event = conn.next_event()
        if event is NEED_DATA:
            conn.receive_data(feeder.read())
        elif event is PAUSED:
            raise Failure("paused", "PAUSED with no decision owed")
        else:
            yield event
            if isinstance(event, ConnectionClosed):
                return
    raise Failure("hang", f"no ConnectionClosed after {cap} steps")


# Through the session driver ---------------------------------------------------------------


class FuzzHandler(Handler):
    """Hooks that end as the case's plan says: return, rewrite, or raise."""

    def __init__(self, plan: Sequence[int]) -> None:
        self.plan = tuple(plan) or (0,)
        self.calls: dict[str, int] = {}
        self.log: list[str] = []

    def outcome(self, name: str, key: int | None = None) -> int:
        if key is None:
            key = self.calls.get(name, 0)
            self.calls[name] = key + 1
        index = zlib.crc32(f"{name}/{key}".encode()) % len(self.plan)
        return self.plan[index] % HOOK_OUTCOMES

    def hook(self, name: str, ctx: Context, value: str | None = None) -> str | None:
        how = self.outcome(name)
        self.log.append(f"{name}:{how}")
        if how == 1:
            raise SmtpError(550, "Fuzz hook says no", enhanced=(5, 7, 1))
        if how == 2:
            raise SmtpError(451, "Fuzz hook says later", enhanced=(4, 3, 0))
        if how == 3 and name != "on_connect_event":
            raise Smtpd421Error
        if how == 4:
            raise RuntimeError("fuzz hook failed")
        if how == 5 and value is not None:
            return "rewritten@fuzz.example"
        if how == 6 and value is not None:
            return "bad\naddress"
        return None

    def content_refusal(self, ctx: Context) -> None:
        """The same refusal whichever content hook sees it first (reads decide which)."""
        how = self.outcome("content", ctx.server.messages)
        if how == 1:
            raise SmtpError(552, "Fuzz content refused", enhanced=(5, 3, 4))
        if how == 2:
            raise Smtpd421Error

    def on_logging_event(
        self, ctx: Context, level: int, message: str, err: BaseException | None = None
    ) -> None:
        return None

    def on_connect_event(self, ctx: Context) -> None:
        if self.hook("on_connect_event", ctx) is None and self.outcome("greeting") == 7:
            ctx.server.local_response = "custom greeting\r\nwith a line break"

    def on_disconnect_event(self, ctx: Context) -> None:
        self.hook("on_disconnect_event", ctx)

    def on_helo_event(self, ctx: Context, helo: str) -> None:
        self.hook("on_helo_event", ctx)

    def on_auth_event(
        self, ctx: Context, authorization_id: str, authentication_id: str, authentication: str
    ) -> str | None:
        return self.hook("on_auth_event", ctx, authentication_id)

    def on_mail_from_event(self, ctx: Context, mail_from: str) -> str | None:
        return self.hook("on_mail_from_event", ctx, mail_from)

    def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> str | None:
        return self.hook("on_rcpt_to_event", ctx, rcpt_to)

    def on_message_data_start_event(self, ctx: Context) -> None:
        self.hook("on_message_data_start_event", ctx)
        ctx.message.data += b"Received: from fuzz\r\n"

    def on_message_data_receiving_event(self, ctx: Context) -> None:
        if len(ctx.message.data) >= 60 + 40 * (ctx.server.messages % 4):
            self.content_refusal(ctx)

    def on_message_data_headers_event(self, ctx: Context) -> None:
        self.content_refusal(ctx)

    def on_message_data_event(self, ctx: Context) -> None:
        self.log.append(f"message:{bytes(ctx.message.data)!r}")
        self.hook("on_message_data_event", ctx)

    def on_process_line_unknown_event(self, ctx: Context, line: str) -> None:
        self.hook("on_process_line_unknown_event", ctx)

    def on_starttls_event(self, ctx: Context) -> None:
        self.hook("on_starttls_event", ctx)

    def on_lmtp_delivery_event(self, ctx: Context, rcpt_to: str, index: int) -> None:
        self.hook("on_lmtp_delivery_event", ctx)


def run_driver(
    case: Case,
    config: ServerConfig,
    split: Callable[[bytes], list[bytes]],
    *,
    probes: bool,
    factory: Factory = new_connection,
) -> Run:
    """Drive the case through the HookDriver, as `Session` does, hooks run in place."""
    handler = FuzzHandler(case.hooks)
    conn = factory(config_for(handler, config), case.encrypted, case.nonce)
    driver = HookDriver(handler, conn, peer=PEER, session_id="fuzz", clock=lambda: CLOCK)
    feeder = Feeder(case.segments, split)
    run = Run(hooks=handler.log)
    for event in _events(conn, feeder, _step_cap(case)):
        if not isinstance(event, MessageChunk | HeadersComplete):
            run.events.append(event)  # content may stop at a point the reads decide
        if isinstance(event, BeginTls):
            feeder.tls()
            driver.tls_established()
            continue
        call = driver.step(event)
        if call is not None:
            driver.hook_done(call.run())
        if isinstance(event, ConnectionClosed):
            run.out += conn.data_to_send()
            if probes:
                probe_closed(conn, event)
    run.out += conn.data_to_send()
    return run


# The checks -----------------------------------------------------------------------------


def joined(events: Sequence[Event]) -> list[Event]:
    """The events with each run of consecutive MessageChunks merged into one."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, MessageChunk) and out and isinstance(out[-1], MessageChunk):
            out[-1] = MessageChunk(data=out[-1].data + event.data)
        else:
            out.append(event)
    return out


def check_replies(out: bytes) -> None:
    """Every line a reply line: code, "-" or space, printable ASCII, CRLF; continuation
    lines keep their code and the output ends on a last line."""
    pos, code = 0, b""
    while pos < len(out):
        m = _REPLY_LINE.match(out, pos)
        if m is None:
            raise Failure("malformed-reply", repr(out[pos : pos + 80]))
        if code and m.group(1) != code:
            raise Failure("malformed-reply", f"continuation with another code at {pos}")
        code = m.group(1) if m.group(2) == b"-" else b""
        pos = m.end()
    if code:
        raise Failure("malformed-reply", "the output ends on a continuation line")


def check_content(events: Sequence[Event], header_block: int) -> None:
    """Within each message: HeadersComplete holds the content handed out before it (up to
    `header_block` octets) and comes at most once; MessageReceived counts every octet."""
    content: bytearray | None = None
    headers_seen = False
    for event in events:
        if isinstance(event, DataStart):
            content, headers_seen = bytearray(), False
        elif isinstance(event, MessageChunk) and content is not None:
            content += event.data
        elif isinstance(event, HeadersComplete):
            if content is None or headers_seen:
                raise Failure("content", "HeadersComplete outside a message or twice")
            if event.headers != content[:header_block]:
                raise Failure("content", f"headers {event.headers[:60]!r} != content before")
            headers_seen = True
        elif isinstance(event, MessageReceived):
            if content is None or event.size != len(content):
                raise Failure("content", f"MessageReceived(size={event.size}) != content")
            content = None


def check_case(case: Case, *, factory: Factory = new_connection) -> Failure | None:
    """Run `case` whole, byte by byte and in random reads; the first broken invariant."""
    try:
        config = build_config(case.config)
    except ValueError:
        return None  # not a config the library accepts: nothing to check
    runner = run_driver if case.driver else run_core
    splits = [split_whole, split_bytes] + [
        split_random(case.splits + i) for i in range(RANDOM_SPLITS)
    ]
    try:
        reference = runner(case, config, splits[0], probes=False, factory=factory)
        check_replies(bytes(reference.out))
        if not case.driver:
            check_content(reference.events, config.limits.header_block)
        for i, split in enumerate(splits[1:], 1):
            other = runner(case, config, split, probes=True, factory=factory)
            _compare(reference, other, ("bytes", "random", "random")[min(i - 1, 2)])
    except Failure as failure:
        return failure
    except Exception as err:
        where = traceback.extract_tb(err.__traceback__)[-1]
        return Failure(
            f"exception:{type(err).__name__}", f"{err} at {where.filename}:{where.lineno}"
        )
    return None


def _compare(reference: Run, other: Run, how: str) -> None:
    if other.out != reference.out:
        at = next(
            (i for i, (a, b) in enumerate(zip(reference.out, other.out, strict=False)) if a != b),
            min(len(reference.out), len(other.out)),
        )
        raise Failure(
            "split-output",
            f"{how}: at {at}: {bytes(reference.out[at : at + 60])!r}"
            f" != {bytes(other.out[at : at + 60])!r}",
        )
    a, b = joined(reference.events), joined(other.events)
    if a != b:
        at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
        raise Failure("split-events", f"{how}: event {at}: {a[at : at + 2]} != {b[at : at + 2]}")
    if other.hooks != reference.hooks:
        raise Failure("split-hooks", f"{how}: {reference.hooks} != {other.hooks}")
