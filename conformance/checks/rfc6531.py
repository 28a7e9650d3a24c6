"""RFC 6531 SMTPUTF8 checks: the MAIL parameter and UTF-8 addresses with and without it."""

from __future__ import annotations

from conformance.registry import Group, Speaks
from conformance.verdict import Level

GROUP = Group("rfc6531", "RFC 6531 SMTPUTF8", speaks=Speaks.BOTH)
NEEDS = ("SMTPUTF8",)

GROUP.script(
    "mail-smtputf8",
    "RFC 6531 3.4",
    "MAIL with the SMTPUTF8 parameter gets 250",
    "ready",
    ("MAIL FROM:<sender@example.test> SMTPUTF8", (250,)),
    needs=NEEDS,
    level=Level.MUST,
    rule="the SMTPUTF8 parameter is accepted once advertised",
)
GROUP.script(
    "utf8-sender",
    "RFC 6531 3.3",
    "a UTF-8 local part with SMTPUTF8 gets 250",
    "ready",
    ("MAIL FROM:<jürgen@example.test> SMTPUTF8", (250,)),
    needs=NEEDS,
    level=Level.MUST,
    rule="a UTF-8 sender is valid with SMTPUTF8",
)
GROUP.script(
    "utf8-recipient",
    "RFC 6531 3.3",
    "a UTF-8 recipient in an SMTPUTF8 transaction is not a syntax error",
    "mail",
    ("RCPT TO:<δοκιμή@example.test>", (250, 251, 550, 553)),
    needs=NEEDS,
    params="SMTPUTF8",
    level=Level.MUST,
    rule="a UTF-8 recipient is valid syntax in an SMTPUTF8 transaction",
)
GROUP.script(
    "utf8-without-parameter",
    "RFC 6531 3.4, RFC 5321 4.1.2",
    "a UTF-8 address without SMTPUTF8 is refused (5xx)",
    "ready",
    ("MAIL FROM:<jürgen@example.test>", (5,)),
    needs=NEEDS,
    level=Level.MUST,
    rule="without SMTPUTF8, non-ASCII in a command is an invalid character: 501",
)
GROUP.script(
    "smtputf8-with-value",
    "RFC 6531 3.4",
    "SMTPUTF8=yes (the parameter takes no value) gets 501 (or 555)",
    "ready",
    ("MAIL FROM:<sender@example.test> SMTPUTF8=yes", (501, 555)),
    needs=NEEDS,
    level=Level.MUST,
    rule="the SMTPUTF8 parameter takes no value",
)
GROUP.script(
    "utf8-transaction",
    "RFC 6531 3.4",
    "a whole SMTPUTF8 transaction with a UTF-8 sender reaches 354",
    "ready",
    ("MAIL FROM:<jürgen@example.test> SMTPUTF8", (250,)),
    ("RCPT TO:<rcpt@example.test>", (250, 251)),
    ("DATA", (354,)),
    ("Subject: Grüße\r\n\r\nHallo\r\n.", (250,)),
    needs=NEEDS,
    level=Level.MUST,
    rule="a whole transaction with a UTF-8 sender goes through",
)
