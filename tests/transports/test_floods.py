"""Floods are bounded on every engine: each gets its exact reply, another client is served
while it runs, and the server's Python memory stays within what the limits allow.

The floods are tens of megabytes here (BENCHMARKS.md has the 1 GB ones, measured by
`bench/flood.py` as peak RSS of a server process). Memory here is tracemalloc's peak over
the whole process, servers and clients, so it counts every buffer Python allocates.
"""

from __future__ import annotations

import pytest

from smtp_proto import replies
from smtp_proto.config import AuthMode, Limits, ServerConfig
from tests.transports.flood_support import (
    BYE,
    Flood,
    bystander,
    python_memory,
    run_beside,
    senders,
    sessions_ended,
    wire,
)
from tests.transports.transport_support import Recorder, ServerFactory, address_of
from transports.base import ServerBase

MIB = 1024 * 1024
LIMIT = 4 * MIB  # message size for these tests: floods run far past it
FLOOD = 64 * MIB
BOUND = 2 * MIB  # what a flood may cost besides a message held up to the limit
CONFIG = ServerConfig(limits=Limits(message_size=LIMIT), auth_mode=AuthMode.OPTIONAL)
MAIL = b"EHLO flood.example.test\r\nMAIL FROM:<flood@example.test>\r\n"
ENVELOPE = MAIL + b"RCPT TO:<b@example.test>\r\n"
LEGAL_LINE = b"y" * 998 + b"\r\n"  # the longest text line allowed: 1,000 octets
HEADERS = b"Subject: a flood\r\n\r\n"
HEADER_BLOCK = pytest.mark.parametrize(
    "headers", [pytest.param(HEADERS, id="headers"), pytest.param(b"", id="no-blank-line")]
)


def held_once_at_most(peak: int) -> None:
    """The flood's message was held once at most, up to the limit (with the room a growing
    bytearray keeps), and the core's copy of the header block stays within its bound: a
    message without a blank line used to be collected whole as its header block too."""
    assert peak < LIMIT * 1.25 + BOUND


def flood_server(server_factory: ServerFactory) -> tuple[ServerBase, Recorder]:
    handler = Recorder()
    return server_factory(handler, config=CONFIG), handler


def flooded(server: ServerBase, handler: Recorder, flood: Flood) -> int:
    """Run `flood` with a bystander session beside it; the peak Python memory it took.

    Checks that the bystander's message, and only it, was accepted.
    """
    address = address_of(server)
    with python_memory() as peak:
        run_beside(address, flood, lambda: bystander(address))
        sessions_ended(server)
        taken = peak()
    assert senders(handler) == ["bystander@example.test"]
    return taken


def test_a_line_that_never_ends_gets_421_and_costs_nothing(
    server_factory: ServerFactory,
) -> None:
    server, handler = flood_server(server_factory)
    flood = Flood(head=b"EHLO flood.example.test\r\nNOOP ", unit=b"x" * 1024, total=FLOOD)
    flood.before = 8 * 1024  # below the line buffer: the server still waits for the end
    assert flooded(server, handler, flood) < BOUND
    assert flood.replies[-1] == wire(replies.LINE_NEVER_ENDS)
    assert flood.sent < FLOOD  # cut off long before the end


@pytest.mark.parametrize("head", [b"AUTH PLAIN ", b"AUTH LOGIN\r\n"], ids=["initial", "response"])
def test_an_endless_auth_line_gets_421_and_costs_nothing(
    server_factory: ServerFactory, head: bytes
) -> None:
    server, handler = flood_server(server_factory)
    flood = Flood(head=b"EHLO flood.example.test\r\n" + head, unit=b"QUFB" * 256, total=FLOOD)
    flood.before = 8 * 1024
    assert flooded(server, handler, flood) < BOUND
    assert flood.replies[-1] == wire(replies.LINE_NEVER_ENDS)
    assert flood.sent < FLOOD


def test_200k_recipients_get_452_then_421_and_cost_little(server_factory: ServerFactory) -> None:
    server, handler = flood_server(server_factory)
    unit = b"RCPT TO:<r@example.test>\r\n"
    flood = Flood(
        head=MAIL,
        unit=unit,
        total=200_000 * len(unit),
        before=500 * len(unit),  # within the 1,000 recipients a message may have
    )
    assert flooded(server, handler, flood) < BOUND
    recipients = flood.replies[3:]  # after the greeting, EHLO and MAIL
    too_many = wire(replies.TOO_MANY_RECIPIENTS)
    assert recipients[:1000] == [wire(replies.RECIPIENT_OK)] * 1000
    assert recipients[1000:] == [too_many] * 20 + [wire(replies.TOO_MANY_ERRORS)]


def test_data_in_overlong_lines_gets_500_and_nothing_is_kept(
    server_factory: ServerFactory,
) -> None:
    server, handler = flood_server(server_factory)
    flood = Flood(
        head=ENVELOPE + b"DATA\r\n" + HEADERS,
        unit=b"z" * 65534 + b"\r\n",
        total=FLOOD,
        end=b".\r\nQUIT\r\n",
        before=LIMIT + 4 * MIB,
        during=16 * MIB,
    )
    assert flooded(server, handler, flood) < BOUND
    assert (flood.sent, flood.cut) == (FLOOD, False)
    assert flood.replies[-2:] == [wire(replies.TEXT_LINE_TOO_LONG), BYE]


@HEADER_BLOCK
def test_data_past_the_size_limit_gets_552_and_is_held_once_at_most(
    server_factory: ServerFactory, headers: bytes
) -> None:
    server, handler = flood_server(server_factory)
    flood = Flood(
        head=ENVELOPE + b"DATA\r\n" + headers,
        unit=LEGAL_LINE,
        total=FLOOD // len(LEGAL_LINE) * len(LEGAL_LINE),
        end=b".\r\nQUIT\r\n",
        before=(LIMIT + 4 * MIB) // len(LEGAL_LINE) * len(LEGAL_LINE),
        during=16 * MIB // len(LEGAL_LINE) * len(LEGAL_LINE),
    )
    peak = flooded(server, handler, flood)
    assert (flood.sent, flood.cut) == (flood.total, False)
    assert flood.replies[-2:] == [wire(replies.MESSAGE_TOO_BIG), BYE]
    held_once_at_most(peak)


@HEADER_BLOCK
def test_a_bdat_chunk_past_the_size_limit_gets_552_and_is_held_once_at_most(
    server_factory: ServerFactory, headers: bytes
) -> None:
    server, handler = flood_server(server_factory)
    flood = Flood(
        head=ENVELOPE + b"BDAT %d LAST\r\n" % (len(headers) + FLOOD) + headers,
        unit=b"\0" * 4096,
        total=FLOOD,
        end=b"QUIT\r\n",
        before=LIMIT + 4 * MIB,
        during=16 * MIB,
    )
    peak = flooded(server, handler, flood)
    assert (flood.sent, flood.cut) == (flood.total, False)
    assert flood.replies[-2:] == [wire(replies.MESSAGE_TOO_BIG), BYE]
    held_once_at_most(peak)


def test_a_bdat_chunk_past_the_limit_is_never_kept_and_ends_with_its_client(
    server_factory: ServerFactory,
) -> None:
    server, handler = flood_server(server_factory)
    flood = Flood(
        head=ENVELOPE + b"BDAT 1000000000 LAST\r\n" + HEADERS,
        unit=b"\0" * 4096,
        total=FLOOD,
        before=LIMIT + 4 * MIB,
        during=16 * MIB,
        vanish=True,  # gone long before the gigabyte: the session must end all the same
    )
    # The chunk's size says it cannot fit: none of it is kept, not even what would.
    assert flooded(server, handler, flood) < BOUND
    assert (flood.sent, flood.cut) == (FLOOD, False)
