"""Reviewed lists of the checks a known server fails: conformance/known/<server>.txt.

One check a line: its id, optionally "[variant]" when only that configuration of the server
fails it, then after "#" the level, the RFC section and why (for MUST, the RFC sentence).
Only reads the files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

KNOWN_DIR = Path(__file__).parent / "known"
_ENTRY = re.compile(r"(?P<id>\S+)(?:\s+\[(?P<variant>[\w-]+)\])?")


@dataclass(frozen=True, slots=True)
class Deviation:
    """One line of a known list."""

    id: str
    variant: str | None  # None: every configuration fails it
    note: str  # the text after "#": level, RFC section, reason

    @property
    def level(self) -> str:
        """The level the note opens with ("MUST", "SHOULD", "hardening", "MAY"), or ""."""
        head = self.note.split(",", 1)[0].strip()
        return head if head in ("MUST", "SHOULD", "hardening", "MAY") else ""


def parse_deviations(text: str, source: str = "list") -> list[Deviation]:
    """The entries of a known list's text; lines starting with "#" are comments.
    Raises ValueError for a line that is not an id with an optional [variant]."""
    entries: list[Deviation] = []
    for line in text.splitlines():
        head, _, note = line.partition("#")
        if not head.strip():
            continue
        match = _ENTRY.fullmatch(head.strip())
        if match is None:
            raise ValueError(f"{source}: cannot read {line!r}")
        entries.append(Deviation(match["id"], match["variant"], note.strip()))
    return entries


def read_deviations(name: str) -> list[Deviation]:
    """Every entry of conformance/known/<name>.txt."""
    text = (KNOWN_DIR / f"{name}.txt").read_text(encoding="utf-8")
    return parse_deviations(text, f"{name}.txt")


def known_failures(name: str, variant: str | None = None) -> frozenset[str]:
    """Check ids the server `name` is known to fail in configuration `variant`: entries
    with no variant, and those marked with this one."""
    entries = read_deviations(name)
    return frozenset(e.id for e in entries if e.variant is None or e.variant == variant)
