"""A short seeded slice of `python -m bench.fuzz`: generated and mutated sessions on random
configs, each fed whole, a byte at a time and in random reads, must pass every check.
Long runs are made by hand and recorded in HARDENING.md."""

from __future__ import annotations

import json
from typing import Final

from bench.fuzz import case_to_json, fuzz

SEED: Final = 20261205
SESSIONS: Final = 1500  # about 5 s here; the same sessions on every run


def test_a_seeded_slice_of_the_fuzzer_finds_nothing() -> None:
    report = fuzz(SEED, SESSIONS)
    assert report.sessions == SESSIONS
    found = [
        f"session {f.index}: {f.failure}\n  {json.dumps(case_to_json(f.case))}"
        for f in report.found
    ]
    assert not found, "\n".join(found)
