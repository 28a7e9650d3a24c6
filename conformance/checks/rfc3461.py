"""RFC 3461 DSN checks: RET, ENVID, NOTIFY and ORCPT parameters and their syntax."""

from __future__ import annotations

from conformance.registry import Group, Speaks
from conformance.verdict import Level

GROUP = Group("rfc3461", "RFC 3461 Delivery Status Notifications", speaks=Speaks.BOTH)
NEEDS = ("DSN",)
FROM = "MAIL FROM:<sender@example.test> "
TO = "RCPT TO:<rcpt@example.test> "
OK = (250, 251)
SYNTAX = (501, 555)

_CASES: tuple[tuple[str, str, str, str, str, tuple[int, ...]], ...] = (
    ("ret-full", "4.3", "RET=FULL gets 250", "ready", FROM + "RET=FULL", OK),
    ("ret-hdrs", "4.3", "RET=HDRS gets 250", "ready", FROM + "RET=HDRS", OK),
    ("ret-invalid", "4.3", "RET=SOME gets 501", "ready", FROM + "RET=SOME", SYNTAX),
    ("ret-twice", "4.5", "RET given twice gets 501", "ready", FROM + "RET=FULL RET=HDRS", SYNTAX),
    ("envid", "4.4", "ENVID=xtext gets 250", "ready", FROM + "ENVID=QQ314159+2B1", OK),
    (
        "envid-bad-xtext",
        "4.4",
        "ENVID with a bad xtext escape gets 501",
        "ready",
        FROM + "ENVID=bad+ZZ",
        SYNTAX,
    ),
    ("notify-never", "4.1", "NOTIFY=NEVER gets 250", "mail", TO + "NOTIFY=NEVER", OK),
    (
        "notify-list",
        "4.1",
        "NOTIFY=SUCCESS,FAILURE,DELAY gets 250",
        "mail",
        TO + "NOTIFY=SUCCESS,FAILURE,DELAY",
        OK,
    ),
    (
        "notify-never-combined",
        "4.1",
        "NOTIFY=NEVER,SUCCESS gets 501",
        "mail",
        TO + "NOTIFY=NEVER,SUCCESS",
        SYNTAX,
    ),
    ("notify-unknown", "4.1", "NOTIFY=SOMETIMES gets 501", "mail", TO + "NOTIFY=SOMETIMES", SYNTAX),
    (
        "orcpt",
        "4.2",
        "ORCPT=rfc822;address gets 250",
        "mail",
        TO + "ORCPT=rfc822;rcpt@example.test",
        OK,
    ),
    (
        "orcpt-no-type",
        "4.2",
        "ORCPT without an address type gets 501",
        "mail",
        TO + "ORCPT=x",
        SYNTAX,
    ),
)

# RFC 3461 5.1: valid parameters MUST NOT change the reply; a bad MAIL parameter (RET, ENVID)
# MUST get 501, a bad RCPT parameter (NOTIFY, ORCPT) SHOULD.
_RULES: dict[tuple[str, bool], tuple[Level, str]] = {
    ("ready", True): (Level.MUST, "valid RET and ENVID parameters do not change MAIL's reply"),
    ("ready", False): (Level.MUST, "an invalid or repeated RET or ENVID gets 501"),
    ("mail", True): (Level.MUST, "valid NOTIFY and ORCPT parameters do not change RCPT's reply"),
    ("mail", False): (Level.SHOULD, "an invalid NOTIFY or ORCPT value should get 501"),
}

for _name, _section, _title, _start, _line, _codes in _CASES:
    _level, _rule = _RULES[_start, _codes == OK]
    GROUP.script(
        _name,
        f"RFC 3461 {_section}, 5.1",
        _title,
        _start,
        (_line, _codes),
        level=_level,
        rule=_rule,
        needs=NEEDS,
    )
