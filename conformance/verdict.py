"""Verdicts: how a check ends (pass, fail, skip), the requirement level it is weighed at, and
the record of one check's run."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CheckFailed(Exception):
    """Raised inside a check: the server broke the rule the check tests."""


class CheckSkipped(Exception):
    """Raised inside a check: the rule does not apply (extension not advertised, no option)."""


class Level(enum.Enum):
    """How binding the behaviour a check tests is, from the RFC text; in report order."""

    MUST = "MUST"  # MUST, MUST NOT, REQUIRED, SHALL, or the grammar of a required command
    SHOULD = "SHOULD"  # SHOULD, SHOULD NOT, RECOMMENDED
    HARDENING = "hardening"  # protection beyond the RFCs: smuggling, limits, floods, time-outs
    MAY = "MAY"  # behaviour the RFC allows but does not ask for


class Verdict(enum.Enum):
    """The outcome of one check."""

    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome with the exchange that led to it."""

    id: str
    group: str
    rfc: str
    title: str
    verdict: Verdict
    reason: str
    transcript: tuple[str, ...]
    level: Level = Level.MUST
    rule: str = ""

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict of this result."""
        return {
            "id": self.id,
            "group": self.group,
            "rfc": self.rfc,
            "level": self.level.value,
            "rule": self.rule,
            "title": self.title,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "transcript": list(self.transcript),
        }
