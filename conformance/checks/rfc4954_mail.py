"""RFC 4954 5 checks of the AUTH= parameter of MAIL FROM, added to the rfc4954 group."""

from __future__ import annotations

from conformance.checks.rfc4954 import GROUP, session
from conformance.checks.rfc5321_mail import domain_of
from conformance.client import Reply
from conformance.probe import Probe, expect
from conformance.verdict import CheckSkipped, Level

# RFC 4954 5: "servers that advertise support for this extension MUST support the AUTH
# parameter to the MAIL FROM command even when the client has not authenticated itself".
SUPPORT = "a server offering AUTH takes the AUTH= parameter of MAIL, authenticated or not"


def mail(probe: Probe, params: str) -> Reply:
    """The reply to MAIL FROM with `params` in a session offering AUTH, not authenticated;
    skips where MAIL needs AUTH first."""
    client = session(probe)
    reply = client.command(f"MAIL FROM:<{probe.target.mail_from}> {params}")
    if reply.code == 530:
        raise CheckSkipped("MAIL needs AUTH first on this server")
    return reply


def xtext(text: str) -> str:
    """`text` with every octet written as an xtext hexchar ("+" and two hex digits)."""
    return "".join(f"+{octet:02X}" for octet in text.encode())


@GROUP.check(
    "mail-auth-empty",
    "RFC 4954 5",
    "MAIL FROM with AUTH=<> gets 250",
    level=Level.MUST,
    rule=SUPPORT,
)
def mail_auth_empty(probe: Probe) -> None:
    expect(mail(probe, "AUTH=<>"), 250)


@GROUP.check(
    "mail-auth-xtext",
    "RFC 4954 5",
    "MAIL FROM with AUTH=e+3Dmc2@example.test (xtext) gets 250",
    level=Level.MUST,
    rule=SUPPORT,
)
def mail_auth_xtext(probe: Probe) -> None:
    expect(mail(probe, "AUTH=e+3Dmc2@example.test"), 250)


@GROUP.check(
    "mail-auth-bad-xtext",
    "RFC 4954 5, RFC 3461 4",
    'MAIL FROM with AUTH="+zz" (not xtext) gets 501',
    level=Level.MAY,
    rule="the server may refuse an AUTH= value that is not xtext as a syntax error",
)
def mail_auth_bad_xtext(probe: Probe) -> None:
    expect(mail(probe, "AUTH=bad+zz@example.test"), 501)


@GROUP.check(
    "mail-auth-long-line",
    "RFC 4954 3, RFC 5321 4.5.3.1.4",
    "an 801-octet MAIL line made long by AUTH= (a 254-octet mailbox, all hexchars) gets 250",
    level=Level.MUST,
    rule="the AUTH parameter extends the MAIL FROM line limit by 500 octets, to 1012",
)
def mail_auth_long(probe: Probe) -> None:
    mailbox = "s" * 64 + "@" + domain_of(189)  # 254 octets, the longest a path allows
    expect(mail(probe, "AUTH=" + xtext(mailbox)), 250)
