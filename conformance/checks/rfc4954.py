"""RFC 4954 AUTH checks: refusals always, successful logins when credentials are given.

Runs under TLS when the server offers AUTH only after STARTTLS.
"""

from __future__ import annotations

import base64
import hmac

from conformance.client import Client
from conformance.probe import MESSAGE, Probe, expect
from conformance.registry import Group
from conformance.verdict import CheckFailed, CheckSkipped, Level

GROUP = Group("rfc4954", "RFC 4954 AUTH")
NEEDS = ("AUTH",)


def b64(data: bytes) -> str:
    """Base64 text of `data`."""
    return base64.b64encode(data).decode("ascii")


def session(probe: Probe, mechanism: str | None = None) -> Client:
    """A session where AUTH (and `mechanism`, if given) is advertised, under TLS whenever
    the server offers AUTH there: a server may answer AUTH in clear text with 538 (RFC 4954
    4, encryption required), and clients that can upgrade first do."""
    if "AUTH" in probe.caps.secure and "STARTTLS" in probe.caps.plain:
        probe.upgrade = True
    probe.require(*NEEDS)
    mechanisms = probe.active_caps["AUTH"].upper().split()
    if mechanism is not None and mechanism not in mechanisms:
        raise CheckSkipped(f"AUTH {mechanism} not advertised")
    return probe.ready()


def credentials(probe: Probe) -> tuple[str, str]:
    """The --user/--password pair; skips without one."""
    if probe.target.credentials is None:
        raise CheckSkipped("needs --user and --password")
    return probe.target.credentials


def plain_token(user: str, password: str) -> str:
    """The PLAIN initial response: authzid NUL authcid NUL password (RFC 4616 2)."""
    return b64(b"\0" + user.encode() + b"\0" + password.encode())


@GROUP.check(
    "unknown-mechanism",
    "RFC 4954 4",
    "AUTH with an unknown mechanism gets 504",
    level=Level.MUST,
    rule="AUTH with a mechanism the server does not support gets 504",
)
def unknown_mechanism(probe: Probe) -> None:
    expect(session(probe).command("AUTH XNOSUCHMECH"), 504)


@GROUP.check(
    "plain-bad-base64",
    "RFC 4954 4",
    "an undecodable PLAIN response gets 501",
    level=Level.MUST,
    rule="a response that is not base64 gets 501",
)
def plain_bad_base64(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    expect(client.command("AUTH PLAIN !!not-base64!!"), 501)


@GROUP.check(
    "login-bad-base64",
    "RFC 4954 4",
    "an undecodable LOGIN response gets 501",
    level=Level.MUST,
    rule="a response that is not base64 gets 501",
)
def login_bad_base64(probe: Probe) -> None:
    client = session(probe, "LOGIN")
    expect(client.command("AUTH LOGIN"), 334)
    expect(client.command("!!not-base64!!"), 501)


@GROUP.check(
    "plain-cancel",
    "RFC 4954 4",
    '"*" cancels a PLAIN exchange with 501',
    level=Level.MUST,
    rule="'*' cancels the exchange: 501",
)
def plain_cancel(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    expect(client.command("AUTH PLAIN"), 334)
    expect(client.command("*"), 501)
    expect(client.command("NOOP"), 250, what="NOOP after the cancel")


@GROUP.check(
    "login-cancel",
    "RFC 4954 4",
    '"*" cancels a LOGIN exchange with 501',
    level=Level.MUST,
    rule="'*' cancels the exchange: 501",
)
def login_cancel(probe: Probe) -> None:
    client = session(probe, "LOGIN")
    expect(client.command("AUTH LOGIN"), 334)
    expect(client.command("*"), 501)


@GROUP.check(
    "empty-challenge",
    "RFC 4954 4",
    'AUTH PLAIN without a response gets "334 "',
    level=Level.MUST,
    rule="AUTH without an initial response gets an empty challenge, '334 '",
)
def empty_challenge(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    reply = expect(client.command("AUTH PLAIN"), 334)
    if reply.raw != b"334 \r\n":
        raise CheckFailed(f"an empty challenge must be exactly '334 ': {reply.raw!r}")
    client.command("*")


@GROUP.check(
    "cram-md5-initial-response",
    "RFC 4954 4",
    "an initial response to CRAM-MD5 (server speaks first) gets 501",
    level=Level.MAY,
    rule="the server may refuse an initial response to a mechanism where it speaks first",
)
def cram_initial(probe: Probe) -> None:
    client = session(probe, "CRAM-MD5")
    expect(client.command("AUTH CRAM-MD5 " + b64(b"user digest")), 501)


@GROUP.check(
    "wrong-credentials",
    "RFC 4954 4, 6",
    "wrong credentials get 535",
    level=Level.SHOULD,
    rule="credentials the server does not accept should get 535 (4954 4: unless more specific)",
)
def wrong(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    user = probe.target.user or "conformance-nobody"
    expect(client.command("AUTH PLAIN " + plain_token(user, "wrong-password-x")), 535)


@GROUP.check(
    "in-transaction",
    "RFC 4954 4",
    "AUTH during a mail transaction gets 503",
    level=Level.MUST,
    rule="AUTH is not permitted inside a mail transaction: 503",
)
def in_transaction(probe: Probe) -> None:
    client = session(probe)
    if client.command("MAIL FROM:<sender@example.test>").code != 250:
        raise CheckSkipped("MAIL needs AUTH first on this server")
    expect(client.command("AUTH PLAIN " + plain_token("nobody", "x")), 503)


@GROUP.check(
    "plain",
    "RFC 4954 4, RFC 4616",
    "AUTH PLAIN with an initial response gets 235",
    level=Level.MUST,
    rule="an advertised mechanism authenticates valid credentials: 235",
)
def plain(probe: Probe) -> None:
    user, password = credentials(probe)
    client = session(probe, "PLAIN")
    expect(client.command("AUTH PLAIN " + plain_token(user, password)), 235)


@GROUP.check(
    "plain-challenge",
    "RFC 4954 4",
    "AUTH PLAIN, 334, then the response gets 235",
    level=Level.MUST,
    rule="an advertised mechanism authenticates valid credentials: 235",
)
def plain_challenge(probe: Probe) -> None:
    user, password = credentials(probe)
    client = session(probe, "PLAIN")
    expect(client.command("AUTH PLAIN"), 334)
    expect(client.command(plain_token(user, password)), 235)


@GROUP.check(
    "login",
    "RFC 4954 4",
    "AUTH LOGIN (user, then password) gets 235",
    level=Level.MUST,
    rule="an advertised mechanism authenticates valid credentials: 235",
)
def login(probe: Probe) -> None:
    user, password = credentials(probe)
    client = session(probe, "LOGIN")
    expect(client.command("AUTH LOGIN"), 334)
    expect(client.command(b64(user.encode())), 334)
    expect(client.command(b64(password.encode())), 235)


@GROUP.check(
    "cram-md5",
    "RFC 4954 4, RFC 2195",
    "AUTH CRAM-MD5 gets 235",
    level=Level.MUST,
    rule="an advertised mechanism authenticates valid credentials: 235",
)
def cram_md5(probe: Probe) -> None:
    user, password = credentials(probe)
    client = session(probe, "CRAM-MD5")
    challenge = expect(client.command("AUTH CRAM-MD5"), 334).lines[0]
    try:
        nonce = base64.b64decode(challenge, validate=True)
    except ValueError as err:
        raise CheckFailed(f"challenge is not base64: {challenge!r}") from err
    digest = hmac.new(password.encode(), nonce, "md5").hexdigest()
    expect(client.command(b64(f"{user} {digest}".encode())), 235)


@GROUP.check(
    "auth-twice",
    "RFC 4954 4",
    "a second AUTH after success gets 503",
    level=Level.MUST,
    rule="after a successful AUTH, further AUTH commands get 503",
)
def twice(probe: Probe) -> None:
    user, password = credentials(probe)
    client = session(probe, "PLAIN")
    expect(client.command("AUTH PLAIN " + plain_token(user, password)), 235)
    expect(client.command("AUTH PLAIN " + plain_token(user, password)), 503)


@GROUP.check(
    "transaction-after-auth",
    "RFC 4954 4",
    "a transaction after AUTH gets 250",
    level=Level.MUST,
    rule="mail is exchanged as usual after AUTH",
)
def transaction(probe: Probe) -> None:
    user, password = credentials(probe)
    client = session(probe, "PLAIN")
    expect(client.command("AUTH PLAIN " + plain_token(user, password)), 235)
    probe.rcpt(client=client)
    expect(probe.deliver(client, MESSAGE), 250)
