"""A seeded fuzzer for the core: generated and mutated sessions (`bench.fuzz_gen`) on every
config switch, fed whole, a byte at a time and in random reads, answered at random, and
checked by `bench.fuzz_check`. Session `i` of seed `N` is the same case on every run.

A failing case is minimised (delta debugging over the bytes, the answers, the hook plan
and the config) and appended to `tests/fuzz/regressions.json`, which
`tests/fuzz/test_regressions.py` replays; `tests/properties/test_fuzz_slice.py` runs a
short seeded slice in CI.

Run: python -m bench.fuzz --seed N --sessions M [--start I] [--driver 0.1] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, TypeVar

from bench.fuzz_check import Factory, Failure, check_case, new_connection
from bench.fuzz_gen import Case, Json, gen_case

REGRESSIONS: Final = Path(__file__).resolve().parent.parent / "tests" / "fuzz" / "regressions.json"
S = TypeVar("S", bytes, tuple[int, ...])


def session_case(seed: int, index: int, *, driver_share: float = 0.1) -> Case:
    """Case `index` of `seed`: the same on every run and machine."""
    return gen_case(random.Random(f"{seed}/{index}"), driver_share=driver_share)


# Minimising -----------------------------------------------------------------------------


def ddmin(items: S, fails: Callable[[S], bool]) -> S:
    """A smaller `items` that still fails (Zeller's delta debugging, complements only)."""
    if fails(items[:0]):
        return items[:0]
    parts = 2
    while len(items) >= 2:
        size = -(-len(items) // parts)
        for start in range(0, len(items), size):
            candidate = items[:start] + items[start + size :]
            if fails(candidate):
                items, parts = candidate, max(parts - 1, 2)
                break
        else:
            if parts >= len(items):
                return items
            parts = min(len(items), parts * 2)
    return items


class Shrinker:
    """Minimises a failing case while it fails the same way, within `budget` checks."""

    def __init__(self, kind: str, *, factory: Factory, budget: int) -> None:
        self.kind = kind
        self.factory = factory
        self.budget = budget

    def fails(self, case: Case) -> bool:
        if self.budget <= 0:
            return False
        self.budget -= 1
        failure = check_case(case, factory=self.factory)
        return failure is not None and failure.kind == self.kind

    def shrink(self, case: Case) -> Case:
        while True:
            before = case
            for step in (self._flags, self._config, self._segments, self._answers, self._hooks):
                case = step(case)
            if case == before or self.budget <= 0:
                return case

    def _try(self, case: Case, candidate: Case) -> Case:
        return candidate if candidate != case and self.fails(candidate) else case

    def _flags(self, case: Case) -> Case:
        case = self._try(case, replace(case, driver=False, hooks=()))
        case = self._try(case, replace(case, encrypted=False))
        return self._try(case, replace(case, nonce=True))

    def _config(self, case: Case) -> Case:
        for key in list(case.config):
            config = dict(case.config)
            del config[key]
            case = self._try(case, replace(case, config=config))
        limits = case.config.get("limits")
        if isinstance(limits, dict):
            for key in list(limits):
                smaller = {k: v for k, v in limits.items() if k != key}
                config = (
                    {**case.config, "limits": smaller}
                    if smaller
                    else {k: v for k, v in case.config.items() if k != "limits"}
                )
                case = self._try(case, replace(case, config=config))
        return self._limit_values(case)

    def _limit_values(self, case: Case) -> Case:
        """Each limit as low as it still fails: the smallest inputs need the smallest limits."""
        limits = case.config.get("limits")
        if not isinstance(limits, dict):
            return case
        for key in list(limits):
            value = limits[key]
            for candidate in (1, 2, 6, value // 4, value // 2, value - 1):
                if candidate < value:
                    smaller = {**limits, key: candidate}
                    tried = self._try(
                        case, replace(case, config={**case.config, "limits": smaller})
                    )
                    if tried is not case:
                        case, limits, value = tried, smaller, candidate
        return case

    def _segments(self, case: Case) -> Case:
        for i in reversed(range(len(case.segments))):
            if len(case.segments) > 1:
                fewer = case.segments[:i] + case.segments[i + 1 :]
                case = self._try(case, replace(case, segments=fewer))
        for i in range(len(case.segments)):

            def fails(data: bytes, i: int = i, case: Case = case) -> bool:
                segments = (*case.segments[:i], data, *case.segments[i + 1 :])
                return self.fails(replace(case, segments=segments))

            data = ddmin(case.segments[i], fails)
            case = replace(case, segments=(*case.segments[:i], data, *case.segments[i + 1 :]))
        return case

    def _answers(self, case: Case) -> Case:
        answers = ddmin(case.answers, lambda a: self.fails(replace(case, answers=a)))
        case = replace(case, answers=answers)
        for i, value in enumerate(case.answers):
            if value:
                simpler = (*case.answers[:i], 0, *case.answers[i + 1 :])
                case = self._try(case, replace(case, answers=simpler))
        return case

    def _hooks(self, case: Case) -> Case:
        for i, value in enumerate(case.hooks):
            if value:
                simpler = (*case.hooks[:i], 0, *case.hooks[i + 1 :])
                case = self._try(case, replace(case, hooks=simpler))
        return case


def minimise(
    case: Case, kind: str, *, factory: Factory = new_connection, budget: int = 4000
) -> Case:
    """A smaller case that fails with the same `kind` (at most `budget` checks)."""
    return Shrinker(kind, factory=factory, budget=budget).shrink(case)


# Regression cases -------------------------------------------------------------------------


def case_to_json(case: Case) -> Json:
    """A case as JSON values (bytes as Latin-1 text, so every octet survives)."""
    return {
        "config": case.config,
        "segments": [s.decode("latin-1") for s in case.segments],
        "answers": list(case.answers),
        "encrypted": case.encrypted,
        "nonce": case.nonce,
        "driver": case.driver,
        "hooks": list(case.hooks),
        "splits": case.splits,
    }


def case_from_json(data: Json) -> Case:
    """The case `case_to_json` wrote."""
    segments: list[str] = data["segments"]  # type: ignore[assignment]
    answers: list[int] = data["answers"]  # type: ignore[assignment]
    hooks: list[int] = data["hooks"]  # type: ignore[assignment]
    return Case(
        config=data["config"],  # type: ignore[arg-type]
        segments=tuple(s.encode("latin-1") for s in segments),
        answers=tuple(answers),
        encrypted=bool(data["encrypted"]),
        nonce=bool(data["nonce"]),
        driver=bool(data["driver"]),
        hooks=tuple(hooks),
        splits=int(data["splits"]),  # type: ignore[call-overload]
    )


def load_regressions(path: Path = REGRESSIONS) -> list[Json]:
    """The recorded regression entries: name, what was found, and the case."""
    if not path.exists():
        return []
    entries: list[Json] = json.loads(path.read_text(encoding="ascii"))
    return entries


def save_regression(name: str, failure: Failure, case: Case, path: Path = REGRESSIONS) -> bool:
    """Append a minimised case unless the same case is recorded; True when written."""
    entries = load_regressions(path)
    encoded = case_to_json(case)
    if any(entry["case"] == encoded for entry in entries):
        return False
    entries.append({"name": name, "found": f"{failure.kind}: {failure.detail}", "case": encoded})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=1, ensure_ascii=True) + "\n", encoding="ascii")
    return True


# The loop -------------------------------------------------------------------------------


@dataclass
class Found:
    """A failing session: its index, how it failed, and the minimised case."""

    index: int
    failure: Failure
    case: Case


@dataclass
class Report:
    """What a fuzz run did."""

    seed: int
    start: int
    sessions: int = 0
    seconds: float = 0.0
    found: list[Found] = field(default_factory=list)


def fuzz(
    seed: int,
    sessions: int,
    *,
    start: int = 0,
    driver_share: float = 0.1,
    shrink: bool = True,
    write: Path | None = None,
    progress: Callable[[Report], None] | None = None,
    found: Callable[[Found], None] | None = None,
) -> Report:
    """Check sessions start..start+sessions-1 of `seed`; minimise (and with `write`,
    record) the first failure of each kind; `found` hears of each failure at once."""
    report = Report(seed=seed, start=start)
    began = time.perf_counter()
    kinds: set[str] = set()
    for index in range(start, start + sessions):
        case = session_case(seed, index, driver_share=driver_share)
        failure = check_case(case)
        report.sessions += 1
        if failure is not None:
            if shrink and failure.kind not in kinds:
                case = minimise(case, failure.kind)
                failure = check_case(case) or failure
                if write is not None:
                    save_regression(f"seed {seed} session {index}", failure, case, write)
            kinds.add(failure.kind)
            report.found.append(Found(index, failure, case))
            if found is not None:
                found(report.found[-1])
        if progress is not None and report.sessions % 1000 == 0:
            report.seconds = time.perf_counter() - began
            progress(report)
    report.seconds = time.perf_counter() - began
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--start", type=int, default=0, help="first session index")
    parser.add_argument("--driver", type=float, default=0.1, help="share run through HookDriver")
    parser.add_argument("--no-shrink", action="store_true", help="report failures as found")
    parser.add_argument("--no-write", action="store_true", help="do not record regressions")
    args = parser.parse_args(argv)
    last = [time.perf_counter()]

    def progress(report: Report) -> None:
        if time.perf_counter() - last[0] >= 30:
            last[0] = time.perf_counter()
            rate = report.sessions / report.seconds
            print(
                f"seed {report.seed}: {report.sessions} sessions, {rate:.0f}/s,"
                f" {len(report.found)} failing",
                file=sys.stderr,
                flush=True,
            )

    def show(found: Found) -> None:
        print(f"session {found.index}: {found.failure}", flush=True)
        print(f"  case: {json.dumps(case_to_json(found.case))}", flush=True)

    report = fuzz(
        args.seed,
        args.sessions,
        start=args.start,
        driver_share=args.driver,
        shrink=not args.no_shrink,
        write=None if args.no_write else REGRESSIONS,
        progress=progress,
        found=show,
    )
    end = report.start + report.sessions - 1
    print(
        f"seed {report.seed}: sessions {report.start}..{end} ({report.sessions}) in"
        f" {report.seconds:.1f} s, {report.sessions / max(report.seconds, 1e-9):.0f}/s;"
        f" {len(report.found)} failing"
    )
    return 1 if report.found else 0


if __name__ == "__main__":
    sys.exit(main())
