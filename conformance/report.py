"""Reports: a readable text report written as results arrive, and a JSON document.

Both weigh failures by requirement level: the summary first says whether the server meets
every MUST it was tested on, then counts each level (MUST, SHOULD, hardening, MAY).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from conformance.verdict import CheckResult, Level, Verdict

_ID_WIDTH = 40
_RFC_WIDTH = 26
_LEVEL_WIDTH = 9
# What --fail-on NAME counts as failing: each threshold adds the next level.
FAIL_ON: dict[str, frozenset[Level]] = {
    "must": frozenset({Level.MUST}),
    "should": frozenset({Level.MUST, Level.SHOULD}),
    "hardening": frozenset({Level.MUST, Level.SHOULD, Level.HARDENING}),
    "any": frozenset(Level),
}


def is_health(result: CheckResult) -> bool:
    """True for the health check run after a group."""
    return result.id == f"{result.group}.health"


def result_line(result: CheckResult) -> str:
    """One line: verdict, level, id, RFC section, title (and the reason of a skip)."""
    line = (
        f"  {result.verdict.name:<4}  {result.level.value:<{_LEVEL_WIDTH}} "
        f"{result.id:<{_ID_WIDTH}} {result.rfc:<{_RFC_WIDTH}} {result.title}"
    )
    if result.verdict is Verdict.SKIP:
        line += f" [skipped: {result.reason}]"
    return line


def failure_details(result: CheckResult) -> list[str]:
    """The rule, the reason and the exchange of a failed check, indented under its line."""
    return [
        f"        rule ({result.level.value}, {result.rfc}): {result.rule}",
        f"        why: {result.reason}",
        *(f"        {t}" for t in result.transcript),
    ]


def counts(results: Sequence[CheckResult]) -> Counter[Verdict]:
    """How many results of each verdict, health checks left out."""
    return Counter(r.verdict for r in results if not is_health(r))


def level_counts(results: Sequence[CheckResult]) -> dict[Level, Counter[Verdict]]:
    """Verdict counts per level, health checks left out, every level present."""
    table: dict[Level, Counter[Verdict]] = {level: Counter() for level in Level}
    for r in results:
        if not is_health(r):
            table[r.level][r.verdict] += 1
    return table


def failed(results: Sequence[CheckResult], levels: frozenset[Level]) -> list[CheckResult]:
    """Failures at any of `levels`; a failed health check counts at every threshold."""
    return [r for r in results if r.verdict is Verdict.FAIL and (r.level in levels or is_health(r))]


def meets_must(results: Sequence[CheckResult]) -> bool:
    """True when no MUST-level check (nor a health check) failed."""
    return not failed(results, FAIL_ON["must"])


def verdict_line(results: Sequence[CheckResult]) -> str:
    """The first line of the summary: whether every MUST tested was met."""
    must = level_counts(results)[Level.MUST]
    tested = must[Verdict.PASS] + must[Verdict.FAIL]
    if meets_must(results):
        return f"Meets every MUST it was tested on ({tested} MUST checks passed)."
    if must[Verdict.FAIL]:
        return f"FAILS {must[Verdict.FAIL]} of {tested} MUST checks it was tested on."
    return "FAILS: the server stopped completing transactions (see the health checks)."


def group_summary(group: str, results: Sequence[CheckResult]) -> str:
    """One line per group: its counts and whether the server stayed healthy after it."""
    mine = [r for r in results if r.group == group]
    n = counts(mine)
    health = [r for r in mine if is_health(r)]
    line = (
        f"  == {group}: {n[Verdict.PASS]} passed, {n[Verdict.FAIL]} failed, "
        f"{n[Verdict.SKIP]} skipped"
    )
    if health and health[0].verdict is Verdict.FAIL:
        return line + "; HEALTH FAILED: the server no longer completes a transaction"
    if health:
        return line + "; server healthy afterwards"
    return line


class TextReport:
    """Writes each result as it comes, failures with details, a summary per group."""

    def __init__(self, out: TextIO, title: str) -> None:
        self.out = out
        self.results: list[CheckResult] = []
        self._group: str | None = None
        print(title, file=out)

    def add(self, result: CheckResult) -> None:
        """Write one result (and close the previous group when a new one starts)."""
        if result.group != self._group:
            self._end_group()
            self._group = result.group
            print(f"\n{result.group}", file=self.out)
        self.results.append(result)
        print(result_line(result), file=self.out)
        if result.verdict is Verdict.FAIL:
            print("\n".join(failure_details(result)), file=self.out)
        self.out.flush()

    def _end_group(self) -> None:
        if self._group is not None:
            print(group_summary(self._group, self.results), file=self.out)

    def finish(self) -> None:
        """Close the last group and write the summary: the MUST verdict, counts per level,
        then the failed checks level by level."""
        self._end_group()
        n = counts(self.results)
        print(f"\nSummary: {verdict_line(self.results)}", file=self.out)
        for level, c in level_counts(self.results).items():
            print(
                f"  {level.value:<{_LEVEL_WIDTH}}  {c[Verdict.PASS]} passed, "
                f"{c[Verdict.FAIL]} failed, {c[Verdict.SKIP]} skipped",
                file=self.out,
            )
        print(
            f"  {'all':<{_LEVEL_WIDTH}}  {n[Verdict.PASS]} passed, {n[Verdict.FAIL]} failed, "
            f"{n[Verdict.SKIP]} skipped",
            file=self.out,
        )
        unhealthy = [r.group for r in self.results if is_health(r) and r.verdict is Verdict.FAIL]
        if unhealthy:
            print(f"Server unhealthy after: {', '.join(unhealthy)}", file=self.out)
        for level in Level:
            ids = [r.id for r in failed(self.results, frozenset({level})) if not is_health(r)]
            if ids:
                print(f"Failed {level.value}: " + " ".join(ids), file=self.out)


def to_json(target: str, results: Sequence[CheckResult]) -> dict[str, object]:
    """A JSON-ready document: target, the MUST verdict, totals, totals per level and per
    group, and every result (the schema is in conformance/README.md)."""
    groups: dict[str, dict[str, int]] = {}
    for r in results:
        if not is_health(r):
            entry = groups.setdefault(r.group, {v.value: 0 for v in Verdict})
            entry[r.verdict.value] += 1
    n = counts(results)
    return {
        "target": target,
        "meets_must": meets_must(results),
        "summary": {v.value: n[v] for v in Verdict},
        "levels": {
            level.value: {v.value: c[v] for v in Verdict}
            for level, c in level_counts(results).items()
        },
        "groups": groups,
        "results": [r.to_json() for r in results],
    }
