"""Every case the fuzzer (or a report) found, minimised, replayed: fed whole, a byte at a
time and in random reads, each must pass every check of `bench.fuzz_check`.

`python -m bench.fuzz` appends new cases to `regressions.json` here."""

from __future__ import annotations

import pytest

from bench.fuzz import case_from_json, case_to_json, load_regressions
from bench.fuzz_check import build_config, check_case
from bench.fuzz_gen import Case, Json

ENTRIES = load_regressions()


def _case(entry: Json) -> Case:
    data = entry["case"]
    assert isinstance(data, dict)
    return case_from_json(data)


@pytest.mark.parametrize("entry", ENTRIES, ids=[str(e["name"]) for e in ENTRIES])
def test_recorded_case_passes_every_check(entry: Json) -> None:
    case = _case(entry)
    build_config(case.config)  # a case the library refuses to configure checks nothing
    failure = check_case(case)
    assert failure is None, f"{entry['name']}: {failure}"


def test_recorded_cases_round_trip_through_json() -> None:
    assert ENTRIES
    for entry in ENTRIES:
        case = _case(entry)
        assert case_to_json(case) == entry["case"]
