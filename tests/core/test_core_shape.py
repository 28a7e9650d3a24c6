"""The core's objects stay within what CPython 3.11 keeps inline: past 30 instance
attributes an object's attributes move to a plain dict and every access of the hot path
gets slower (one attribute too many cost 5% more instructions a message). A structural
check, not a timing: it fails the change that adds the 30th."""

from __future__ import annotations

import pytest

from smtp_proto import COMPILED
from smtp_proto.connection import ServerConnection
from tests.helpers import CONFIG, EHLO, ENVELOPE, pump

LIMIT = 30


@pytest.mark.skipif(COMPILED, reason="a compiled class keeps its attributes in fixed fields")
def test_a_connection_that_went_through_everything_has_fewer_than_30_attributes() -> None:
    conn = ServerConnection(CONFIG, nonce=lambda: "<1.2@x>", xclient=True, xclient_offered=True)
    pump(
        conn,
        EHLO,
        b"XCLIENT ADDR=192.0.2.9\r\n",
        EHLO,
        ENVELOPE,
        b"DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n",
        ENVELOPE,
        b"BDAT 3 LAST\r\nabc",
        b"NOOP x\r\nXYZZY\r\nQUIT\r\n",
    )
    assert len(vars(conn)) < LIMIT, sorted(vars(conn))
