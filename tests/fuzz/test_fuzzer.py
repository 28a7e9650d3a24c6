"""The fuzzer's checks fail where they should: connections broken on purpose are caught
and their cases minimised; generation is seeded; cases survive the regression file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import pytest

from bench.fuzz import (
    case_from_json,
    case_to_json,
    ddmin,
    load_regressions,
    minimise,
    save_regression,
    session_case,
)
from bench.fuzz_check import (
    Factory,
    Failure,
    build_config,
    check_case,
    run_driver,
    split_bytes,
)
from bench.fuzz_gen import Case
from smtp_proto import COMPILED
from smtp_proto.config import ServerConfig
from smtp_proto.connection import ServerConnection
from smtp_proto.errors import LocalProtocolError
from smtp_proto.events import NEED_DATA, ConnectionClosed, Event, MessageReceived, Signal
from smtp_proto.replies import Reply

ENVELOPE: Final = b"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
MESSAGE: Final = Case(segments=(ENVELOPE + b"DATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n",))


# The broken connections below subclass ServerConnection, which a compiled core forbids.
broken_cores = pytest.mark.skipif(COMPILED, reason="a compiled ServerConnection takes no subclass")


class UpperCaseByte(ServerConnection):
    """Reads of one octet arrive upper-cased: the events depend on the split."""

    def receive_data(self, data: bytes) -> None:
        super().receive_data(data.upper() if len(data) == 1 else data)


class BareLf(ServerConnection):
    """Ends its first reply line with a bare LF."""

    def data_to_send(self) -> bytes:
        return super().data_to_send().replace(b"\r\n", b"\n", 1)


class Chatty(ServerConnection):
    """Keeps talking after the close."""

    def data_to_send(self) -> bytes:
        return super().data_to_send() + (b"250 still here\r\n" if self.closed else b"")


class NeverCloses(ServerConnection):
    """Asks for more input after the client closed."""

    def next_event(self) -> Event | Signal:
        event = super().next_event()
        return NEED_DATA if isinstance(event, ConnectionClosed) and event.by_client else event


class Miscounting(ServerConnection):
    """Reports one octet more than it handed out."""

    def next_event(self) -> Event | Signal:
        event = super().next_event()
        if isinstance(event, MessageReceived):
            return MessageReceived(size=event.size + 1)
        return event


class Lax(ServerConnection):
    """Takes a second answer to a decision without complaint."""

    def accept(self, reply: Reply | None = None) -> None:
        try:
            super().accept(reply)
        except LocalProtocolError:
            return


class Crashing(ServerConnection):
    """Raises on a NUL octet."""

    def receive_data(self, data: bytes) -> None:
        if b"\0" in data:
            raise KeyError("NUL")
        super().receive_data(data)


def factory(kind: type[ServerConnection]) -> Factory:
    def make(config: ServerConfig, encrypted: bool, nonce: bool) -> ServerConnection:
        return kind(config, encrypted=encrypted)

    return make


def test_the_real_connection_passes() -> None:
    assert check_case(MESSAGE) is None


@broken_cores
@pytest.mark.parametrize(
    ("broken", "kind"),
    [
        (UpperCaseByte, "split-output"),
        (BareLf, "malformed-reply"),
        (Chatty, "output-after-close"),
        (NeverCloses, "no-close-after-eof"),
        (Lax, "misuse-accepted"),
        (Miscounting, "content"),
    ],
)
def test_a_broken_connection_is_caught(broken: type[ServerConnection], kind: str) -> None:
    case = replace_segments(MESSAGE, MESSAGE.segments[0].removesuffix(b"QUIT\r\n"))
    failure = check_case(case, factory=factory(broken))
    assert failure is not None
    assert failure.kind == kind


@broken_cores
def test_an_exception_is_caught_with_its_type() -> None:
    case = Case(segments=(ENVELOPE + b"NO\0OP\r\n",))
    failure = check_case(case, factory=factory(Crashing))
    assert failure is not None
    assert failure.kind == "exception:KeyError"


@broken_cores
def test_a_failing_case_is_minimised_and_still_fails_the_same_way() -> None:
    case = replace_segments(MESSAGE, ENVELOPE + b"NOOP\r\nDATA\r\nA: b\r\n\r\nxyz\r\n.\r\nQUIT\r\n")
    broken = factory(UpperCaseByte)
    small = minimise(case, "split-output", factory=broken)
    failure = check_case(small, factory=broken)
    assert failure is not None
    assert failure.kind == "split-output"
    assert len(small.segments[0]) < len(case.segments[0]) // 2


def replace_segments(case: Case, *segments: bytes) -> Case:
    return Case(config=case.config, segments=segments, answers=case.answers)


def test_ddmin_finds_the_octets_that_matter() -> None:
    assert ddmin(b"xxAxxxBxx", lambda d: b"A" in d and b"B" in d) == b"AB"
    assert ddmin((1, 2, 3, 4), lambda t: 3 in t) == (3,)


def test_sessions_are_the_same_for_a_seed_and_index() -> None:
    assert session_case(7, 3) == session_case(7, 3)
    assert session_case(7, 3) != session_case(7, 4)
    assert session_case(7, 3) != session_case(8, 3)


def test_generated_configs_use_every_switch() -> None:
    """Across a few hundred sessions, every config field and limit is varied."""
    seen: set[str] = set()
    for index in range(300):
        config = session_case(1, index).config
        seen |= set(config)
        limits = config.get("limits", {})
        assert isinstance(limits, dict)
        seen |= {f"limits.{name}" for name in limits}
    fields = set(ServerConfig.__dataclass_fields__) - {"hostname", "greeting"}
    limits_fields = {f"limits.{name}" for name in build_config({}).limits.__dataclass_fields__}
    assert fields - {"limits"} <= seen
    assert limits_fields - {"limits.header_block"} <= seen


def test_a_case_survives_json_with_every_octet() -> None:
    case = Case(
        config={"limits": {"text_line": 5}, "crlf_mode": "strict"},
        segments=(bytes(range(256)), b""),
        answers=(0, 3, 6),
        driver=True,
        hooks=(1, 2),
        splits=42,
    )
    assert case_from_json(json.loads(json.dumps(case_to_json(case)))) == case


def test_a_regression_is_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "regressions.json"
    failure = Failure("split-events", "detail")
    assert save_regression("first", failure, MESSAGE, path)
    assert not save_regression("again", failure, MESSAGE, path)
    (entry,) = load_regressions(path)
    assert entry["name"] == "first"
    assert entry["found"] == "split-events: detail"


def test_hooks_that_raise_reach_the_client_through_the_driver() -> None:
    case = Case(segments=MESSAGE.segments, driver=True, hooks=(1,))  # every hook says 550
    config = build_config(case.config)
    run = run_driver(case, config, split_bytes, probes=True)
    assert run.out.startswith(b"550 Fuzz hook says no\r\n")  # the greeting refused
    assert check_case(case) is None
