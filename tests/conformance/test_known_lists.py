"""The reviewed lists of known servers' failures: readable, each check once, levels right."""

from __future__ import annotations

import pytest

from conformance.deviations import (
    KNOWN_DIR,
    Deviation,
    known_failures,
    parse_deviations,
    read_deviations,
)
from conformance.registry import select

LISTS = sorted(p.stem for p in KNOWN_DIR.glob("*.txt"))
CHECKS = {c.id: c for c in select(slow=True)}


def test_there_are_lists_for_aiosmtpd_and_postfix() -> None:
    assert {"aiosmtpd", "postfix"} <= set(LISTS)


@pytest.mark.parametrize("name", LISTS)
def test_each_entry_names_a_check_once_with_its_level_and_rfc(name: str) -> None:
    entries = read_deviations(name)
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids))
    for entry in entries:
        check = CHECKS[entry.id]
        assert entry.level == check.level.value, entry.id
        assert "RFC" in entry.note, entry.id


@pytest.mark.parametrize("name", LISTS)
def test_every_must_entry_quotes_the_rfc_sentence_it_breaks(name: str) -> None:
    for entry in read_deviations(name):
        if entry.level == "MUST":
            assert entry.note.count('"') >= 2, entry.id


def test_variant_entries_count_only_for_their_variant() -> None:
    every = known_failures("postfix", "default")
    strict = known_failures("postfix", "strict")
    assert strict < every
    assert "smuggling.data-lf-dot-lf" in every - strict


def test_entries_comments_and_variants_are_read() -> None:
    text = "# a comment\n\na.b  # MAY, RFC 1: x\nc.d [strict]  # MUST, RFC 2: y\n"
    assert parse_deviations(text) == [
        Deviation("a.b", None, "MAY, RFC 1: x"),
        Deviation("c.d", "strict", "MUST, RFC 2: y"),
    ]


def test_a_line_that_is_not_an_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot read 'two words  # MUST'"):
        parse_deviations("two words  # MUST")


def test_level_is_read_from_the_note() -> None:
    assert Deviation("x.y", None, "SHOULD, RFC 5321 4.1.1.8: no HELP").level == "SHOULD"
    assert Deviation("x.y", None, "RFC 5321: no level").level == ""
