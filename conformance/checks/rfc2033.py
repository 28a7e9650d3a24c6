"""RFC 2033 LMTP checks, greeting and order: LHLO and what it offers, HELO/EHLO refused,
DATA refused without a recipient. Run only with --lmtp; rfc2033_data adds the replies
after the data.
"""

from __future__ import annotations

import re

from conformance.probe import Probe, expect, parse_ehlo
from conformance.registry import Group, Speaks
from conformance.verdict import CheckFailed, Level

GROUP = Group("rfc2033", "RFC 2033 LMTP", speaks=Speaks.LMTP)
MAIL = "MAIL FROM:<sender@example.test>"
RCPT = "RCPT TO:<rcpt@example.test>"
# A domain or an address literal opening the first line, as after EHLO (RFC 5321 4.1.1.1).
DOMAIN = re.compile(r"(\[[^\]\s]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*)")
MUST_IMPLEMENT = "an LMTP server offers PIPELINING and ENHANCEDSTATUSCODES (RFC 2033 5)"


@GROUP.check(
    "lhlo",
    "RFC 2033 4.1",
    "LHLO gets 250 opening with the server's domain",
    level=Level.MUST,
    rule="LHLO replaces EHLO, with EHLO's semantics: 250 with the server's domain first",
)
def lhlo(probe: Probe) -> None:
    reply = expect(probe.greeted().command(f"LHLO {probe.target.helo}"), 250, what="LHLO")
    if not DOMAIN.match(reply.lines[0]):
        raise CheckFailed(f"LHLO reply does not open with a domain: {reply}")


def _offers(keyword: str, level: Level, rule: str) -> None:
    def run(probe: Probe) -> None:
        reply = expect(probe.greeted().command(f"LHLO {probe.target.helo}"), 250, what="LHLO")
        if keyword not in parse_ehlo(reply):
            raise CheckFailed(f"LHLO does not advertise {keyword}: {reply}")

    title = f"LHLO advertises {keyword}"
    GROUP.check(f"lhlo-{keyword.lower()}", "RFC 2033 5", title, level=level, rule=rule)(run)


_offers("PIPELINING", Level.MUST, MUST_IMPLEMENT)
_offers("ENHANCEDSTATUSCODES", Level.MUST, MUST_IMPLEMENT)
_offers("8BITMIME", Level.SHOULD, "an LMTP server should offer 8BITMIME (RFC 2033 5)")


def _refused(verb: str) -> None:
    def run(probe: Probe) -> None:
        expect(probe.greeted().command(f"{verb} {probe.target.helo}"), 4, 5, what=verb)

    GROUP.check(
        f"{verb.lower()}-refused",
        "RFC 2033 4.1",
        f"{verb} gets no 2xx (it is not an LMTP command)",
        level=Level.MUST,
        rule="an LMTP server never answers HELO or EHLO with a positive completion reply",
    )(run)


_refused("EHLO")
_refused("HELO")


@GROUP.check(
    "helo-ehlo-500",
    "RFC 2033 4.1",
    "HELO and EHLO get 500",
    level=Level.SHOULD,
    rule="the 500 reply code is recommended for HELO and EHLO",
)
def helo_ehlo_500(probe: Probe) -> None:
    client = probe.greeted()
    for verb in ("HELO", "EHLO"):
        expect(client.command(f"{verb} {probe.target.helo}"), 500, what=verb)


GROUP.script(
    "lhlo-no-domain",
    "RFC 2033 4.1, RFC 5321 4.1.1.1",
    "LHLO without a domain gets 501 (or 500)",
    "greeted",
    ("LHLO", (501, 500)),
    level=Level.MAY,
    rule="the server may refuse an LHLO without its domain as a syntax error",
)
GROUP.script(
    "mail-before-lhlo",
    "RFC 2033 4.1, RFC 5321 4.1.4",
    "MAIL before LHLO gets 503",
    "greeted",
    (MAIL, (503,)),
    level=Level.MAY,
    rule="the server may refuse MAIL before LHLO with 503 (the client must greet first)",
)
GROUP.script(
    "lhlo-resets-transaction",
    "RFC 2033 4.1, RFC 5321 4.1.4",
    "LHLO in a transaction resets it: RCPT then gets 503",
    "mail",
    ("LHLO c.example", (250,)),
    (RCPT, (503,)),
    level=Level.MUST,
    rule="a later LHLO clears the transaction exactly as RSET would (as EHLO does)",
)
GROUP.script(
    "data-no-rcpt",
    "RFC 2033 4.2",
    "DATA after MAIL and no RCPT gets 503",
    "mail",
    ("DATA", (503,)),
    level=Level.MUST,
    rule="DATA with no successful RCPT in the transaction fails with 503",
)
GROUP.script(
    "data-after-refused-rcpt",
    "RFC 2033 4.2",
    "DATA after only a refused RCPT gets 503",
    "mail",
    ("RCPT TO:", (501, 500, 553)),
    ("DATA", (503,)),
    level=Level.MUST,
    rule="DATA with no successful RCPT in the transaction fails with 503",
)
