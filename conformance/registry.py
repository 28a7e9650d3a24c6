"""Check registration and selection: each check module declares one `Group` of checks.

A check is a function of a `Probe` that returns on pass and raises `CheckFailed` or
`CheckSkipped`; ids are "<group>.<name>". Each one carries the `Level` of what it tests and
`rule`, the requirement in one line of our own words, so a report can weigh its failures.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from conformance.probe import Probe, expect
from conformance.verdict import Level

CheckFn = Callable[[Probe], None]
Step = tuple[str | bytes, tuple[int, ...]]
_STARTS = ("greeted", "ready", "mail", "rcpt")


class Speaks(enum.Enum):
    """The protocol a check's sessions speak, which decides whether it runs with --lmtp."""

    SMTP = "smtp"  # sends HELO/EHLO itself, or expects one reply after the data
    LMTP = "lmtp"  # RFC 2033 only: skipped without --lmtp
    BOTH = "both"  # greets through the probe (LHLO with --lmtp), one RCPT per message


@dataclass(frozen=True, slots=True)
class Check:
    """One registered check: id, group, RFC section cited, title (what is sent and expected),
    function, level and rule (the requirement tested), needed keywords, protocol spoken."""

    id: str
    group: str
    rfc: str
    title: str
    run: CheckFn
    level: Level
    rule: str
    needs: tuple[str, ...] = ()
    speaks: Speaks = Speaks.BOTH


class Group:
    """The checks of one RFC or theme, in declaration order; `speaks` says whether they
    are valid over LMTP too (see `Speaks`)."""

    def __init__(
        self, name: str, title: str, *, slow: bool = False, speaks: Speaks = Speaks.SMTP
    ) -> None:
        self.name = name
        self.title = title
        self.slow = slow
        self.speaks = speaks
        self.checks: list[Check] = []

    def check(
        self,
        name: str,
        rfc: str,
        title: str,
        *,
        level: Level,
        rule: str,
        needs: Sequence[str] = (),
    ) -> Callable[[CheckFn], CheckFn]:
        """Decorator registering `fn` as check "<group>.<name>"."""

        def register(fn: CheckFn) -> CheckFn:
            check_id = f"{self.name}.{name}"
            needed = tuple(needs)
            self.add(Check(check_id, self.name, rfc, title, fn, level, rule, needed, self.speaks))
            return fn

        return register

    def add(self, check: Check) -> None:
        """Register a check; a duplicate id is a bug in the suite."""
        if any(c.id == check.id for c in self.checks):
            raise ValueError(f"duplicate check id {check.id}")
        if not check.rule:
            raise ValueError(f"{check.id} states no rule")
        self.checks.append(check)

    def script(
        self,
        name: str,
        rfc: str,
        title: str,
        start: str,
        *steps: Step,
        level: Level,
        rule: str,
        needs: Sequence[str] = (),
        params: str = "",
    ) -> None:
        """Register a check that opens a session at `start` and sends lines, each
        expecting one of the codes given with it (one digit: any code of that class).

        `start` is "greeted", "ready", "mail" or "rcpt"; `params` go on the opening MAIL.
        """
        if start not in _STARTS:
            raise ValueError(f"unknown start {start!r}")

        def run(probe: Probe) -> None:
            probe.require(*needs)
            client = probe.greeted() if start == "greeted" else probe.ready()
            if start == "mail":
                probe.mail(params, client)
            elif start == "rcpt":
                probe.rcpt(params, client)
            for line, codes in steps:
                expect(client.command(line), *codes, what=_show(line))

        check_id = f"{self.name}.{name}"
        needed = tuple(needs)
        self.add(Check(check_id, self.name, rfc, title, run, level, rule, needed, self.speaks))


def _show(line: str | bytes) -> str:
    text = line if isinstance(line, str) else repr(line)[2:-1]
    return text if len(text) <= 60 else text[:57] + "..."


def all_groups() -> list[Group]:
    """Every group in report order, the slow one last."""
    from conformance.checks import GROUPS

    return list(GROUPS)


def select(names: Iterable[str] = (), *, slow: bool = False, lmtp: bool = False) -> list[Check]:
    """Checks matching any of `names` (a group name, a check id, or an id prefix ending
    in "*"); all non-slow checks when `names` is empty, less the SMTP-only ones with
    `lmtp`. Slow groups need `slow=True` unless named. Raises ValueError for a name that
    matches nothing."""
    groups = all_groups()
    wanted = list(names)
    if not wanted:
        every = [c for g in groups if slow or not g.slow for c in g.checks]
        return [c for c in every if not lmtp or c.speaks is not Speaks.SMTP]
    chosen: list[Check] = []
    for name in wanted:
        found = [c for g in groups for c in g.checks if _matches(c, name)]
        if not found:
            raise ValueError(f"no check or group named {name!r}")
        chosen.extend(c for c in found if c not in chosen)
    order = {c.id: i for i, c in enumerate(c for g in groups for c in g.checks)}
    return sorted(chosen, key=lambda c: order[c.id])


def _matches(check: Check, name: str) -> bool:
    if name.endswith("*"):
        return check.id.startswith(name[:-1])
    return name in (check.group, check.id)
