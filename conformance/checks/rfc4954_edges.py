"""RFC 4954 AUTH edge cases, added to the rfc4954 group: empty and odd PLAIN responses,
authorization identities, cancels and retries, AUTH out of order, long responses, enhanced
codes. The MAIL parameter AUTH= is in rfc4954_mail."""

from __future__ import annotations

from conformance.checks.rfc4954 import GROUP, b64, credentials, plain_token, session
from conformance.client import Client, Reply
from conformance.probe import Probe, expect
from conformance.verdict import CheckFailed, CheckSkipped, Level

# RFC 4954 4: "12288 octets is considered to be a sufficient line length limit"; the
# longest base64 line within it (a multiple of 4) with its CRLF.
LONG_RESPONSE = 12284
WRONG = "wrong-password-x"


def plain_message(authzid: str, authcid: str, password: str) -> str:
    """Base64 of a PLAIN message: authzid NUL authcid NUL passwd (RFC 4616 2)."""
    return b64(f"{authzid}\0{authcid}\0{password}".encode())


def usable(client: Client, after: str) -> None:
    """Fail unless the session still answers NOOP with 250."""
    expect(client.command("NOOP"), 250, what=f"NOOP after {after}")


def not_challenged(reply: Reply, what: str) -> None:
    """Fail on a 334 (the server waits for a response) or on any reply but a 5xx refusal."""
    if reply.code == 334:
        raise CheckFailed(f"{what}: the server waits for a response (334): {reply}")
    expect(reply, 5, what=what)


def enhanced(probe: Probe) -> None:
    """Skip unless the session advertises ENHANCEDSTATUSCODES."""
    if not probe.has("ENHANCEDSTATUSCODES"):
        raise CheckSkipped("ENHANCEDSTATUSCODES not advertised")


def expect_enhanced(reply: Reply, code: tuple[int, int, int]) -> None:
    """Fail unless the reply carries the enhanced code `code`."""
    if reply.enhanced != code:
        wanted = ".".join(map(str, code))
        raise CheckFailed(f"expected enhanced code {wanted}, got {reply}")


@GROUP.check(
    "plain-empty-response",
    "RFC 4954 4",
    'AUTH PLAIN "=" (an empty initial response) is refused at once, not answered with 334',
    level=Level.MUST,
    rule="'=' is an initial response with no data: the exchange goes on with it (an empty "
    "PLAIN message fails), the server does not wait for one",
)
def plain_empty(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    not_challenged(client.command("AUTH PLAIN ="), "AUTH PLAIN =")
    usable(client, "the refused AUTH")


@GROUP.check(
    "plain-no-nul",
    "RFC 4616 2, RFC 4954 4",
    "a PLAIN message without NULs gets 501 (or 535)",
    level=Level.SHOULD,
    rule="a PLAIN message that is not authzid NUL authcid NUL passwd fails: 501 or 535",
)
def plain_no_nul(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    expect(client.command("AUTH PLAIN " + b64(b"nobody" + WRONG.encode())), 501, 535)
    usable(client, "the refused AUTH")


@GROUP.check(
    "plain-authzid-other",
    "RFC 4616 2",
    "PLAIN with valid credentials asking to act as another identity is refused (535)",
    level=Level.SHOULD,
    rule="the server verifies the credentials permit acting as the authzid: a plain user "
    "asking to be someone else should be refused",
)
def authzid_other(probe: Probe) -> None:
    user, password = credentials(probe)
    client = session(probe, "PLAIN")
    other = "conformance-someone-else"
    reply = client.command("AUTH PLAIN " + plain_message(other, user, password))
    if reply.code == 235:
        raise CheckFailed(f"{user!r} was let act as {other!r}: {reply}")
    expect(reply, 535, 5, what="AUTH as another identity")


@GROUP.check(
    "plain-authzid-same",
    "RFC 4616 2",
    "PLAIN with the authzid equal to the authcid gets 235",
    level=Level.SHOULD,
    rule="an authzid equal to the authcid names the identity the server would derive "
    "anyway: it should be accepted",
)
def authzid_same(probe: Probe) -> None:
    user, password = credentials(probe)
    client = session(probe, "PLAIN")
    expect(client.command("AUTH PLAIN " + plain_message(user, user, password)), 235)


@GROUP.check(
    "login-cancel-after-user",
    "RFC 4954 4",
    '"*" after the LOGIN user name gets 501; the session goes on',
    level=Level.MUST,
    rule="'*' cancels the exchange at any step: 501, and the session stays usable",
)
def login_cancel_late(probe: Probe) -> None:
    client = session(probe, "LOGIN")
    expect(client.command("AUTH LOGIN"), 334)
    expect(client.command(b64(b"conformance-nobody")), 334, what="user name")
    expect(client.command("*"), 501, what="cancel")
    usable(client, "the cancel")


@GROUP.check(
    "retry-after-failure",
    "RFC 4954 4",
    "after a 535, a new AUTH gets its 334 (not 503)",
    level=Level.MUST,
    rule="a failed AUTH leaves the client free to try again: only a successful one ends AUTH",
)
def retry_after_failure(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    expect(client.command("AUTH PLAIN " + plain_token("conformance-nobody", WRONG)), 535, 5)
    expect(client.command("AUTH PLAIN"), 334, what="AUTH after the failure")
    expect(client.command("*"), 501, what="cancel")
    usable(client, "the cancel")


@GROUP.check(
    "success-after-failure",
    "RFC 4954 4",
    "wrong credentials (535), then the right ones get 235",
    level=Level.MUST,
    rule="after a failed AUTH the client may present other credentials",
)
def success_after_failure(probe: Probe) -> None:
    user, password = credentials(probe)
    client = session(probe, "PLAIN")
    expect(client.command("AUTH PLAIN " + plain_token(user, WRONG)), 535, 5)
    expect(client.command("AUTH PLAIN " + plain_token(user, password)), 235)


@GROUP.check(
    "success-after-cancel",
    "RFC 4954 4",
    "LOGIN cancelled after the user name, then PLAIN with the credentials gets 235",
    level=Level.MUST,
    rule="a cancelled exchange authenticates no one and leaves AUTH available",
)
def success_after_cancel(probe: Probe) -> None:
    user, password = credentials(probe)
    client = session(probe, "LOGIN")
    expect(client.command("AUTH LOGIN"), 334)
    expect(client.command(b64(user.encode())), 334, what="user name")
    expect(client.command("*"), 501, what="cancel")
    if "PLAIN" in probe.active_caps["AUTH"].upper().split():
        expect(client.command("AUTH PLAIN " + plain_token(user, password)), 235)
        return
    expect(client.command("AUTH LOGIN"), 334)
    expect(client.command(b64(user.encode())), 334, what="user name")
    expect(client.command(b64(password.encode())), 235)


@GROUP.check(
    "auth-before-ehlo",
    "RFC 4954 3, RFC 5321 4.1.4",
    "AUTH before EHLO is refused (503), not answered with 334",
    level=Level.MAY,
    rule="AUTH is a service extension: the server may refuse it before EHLO named them",
)
def before_ehlo(probe: Probe) -> None:
    if not probe.caps.offered("AUTH"):
        raise CheckSkipped("AUTH not advertised")
    not_challenged(probe.greeted().command("AUTH PLAIN"), "AUTH before EHLO")


@GROUP.check(
    "auth-after-helo",
    "RFC 4954 3, RFC 5321 3.2",
    "AUTH after HELO (no extensions offered) is refused, not answered with 334",
    level=Level.MAY,
    rule="HELO opens a session without service extensions: the server may refuse AUTH",
)
def after_helo(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    expect(client.command(f"HELO {probe.target.helo}"), 250, what="HELO")
    not_challenged(client.command("AUTH PLAIN"), "AUTH after HELO")


@GROUP.check(
    "mechanism-lower-case",
    "RFC 4954 4, RFC 5321 2.4",
    '"AUTH plain" gets the 334 of PLAIN',
    level=Level.SHOULD,
    rule="argument values are not case-sensitive: a mechanism in lower case should be "
    "recognised (SASL writes names in upper case)",
)
def lower_case(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    expect(client.command("AUTH plain"), 334)
    expect(client.command("*"), 501, what="cancel")


@GROUP.check(
    "response-12288",
    "RFC 4954 4",
    "a response line of 12,286 octets gets an answer on the credentials (535 or 501)",
    level=Level.SHOULD,
    rule="responses may be much longer than commands; 12288 octets is the line limit the "
    "RFC calls sufficient: within it the response is read and judged, not cut (500)",
)
def long_response(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    expect(client.command("AUTH PLAIN"), 334)
    padding = LONG_RESPONSE * 3 // 4 - len("\0conformance-nobody\0")
    token = plain_message("", "conformance-nobody", "x" * padding)  # LONG_RESPONSE octets
    expect(client.command(token), 535, 501, what="a 12,286-octet response line")
    usable(client, "the long response")


@GROUP.check(
    "enhanced-auth-ok",
    "RFC 4954 6",
    "235 carries the enhanced code 2.7.0",
    level=Level.SHOULD,
    rule="servers with enhanced status codes should use 2.7.0 for a successful AUTH",
)
def enhanced_ok(probe: Probe) -> None:
    user, password = credentials(probe)
    client = session(probe, "PLAIN")
    enhanced(probe)
    reply = expect(client.command("AUTH PLAIN " + plain_token(user, password)), 235)
    expect_enhanced(reply, (2, 7, 0))


@GROUP.check(
    "enhanced-auth-failed",
    "RFC 4954 6",
    "535 for wrong credentials carries the enhanced code 5.7.8",
    level=Level.SHOULD,
    rule="servers with enhanced status codes should use 5.7.8 for invalid credentials",
)
def enhanced_failed(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    enhanced(probe)
    reply = client.command("AUTH PLAIN " + plain_token("conformance-nobody", WRONG))
    expect_enhanced(expect(reply, 535), (5, 7, 8))


@GROUP.check(
    "enhanced-bad-base64",
    "RFC 4954 4",
    "the 501 for undecodable base64 carries the enhanced code 5.5.2",
    level=Level.MUST,
    rule="a response that is not base64 gets 501 with enhanced code 5.5.2",
)
def enhanced_base64(probe: Probe) -> None:
    client = session(probe, "PLAIN")
    enhanced(probe)
    expect_enhanced(expect(client.command("AUTH PLAIN !!not-base64!!"), 501), (5, 5, 2))


@GROUP.check(
    "enhanced-unknown-mechanism",
    "RFC 4954 4",
    "the 504 for an unknown mechanism carries the enhanced code 5.5.4",
    level=Level.SHOULD,
    rule="servers with enhanced status codes should answer an unknown mechanism with 5.5.4",
)
def enhanced_mechanism(probe: Probe) -> None:
    client = session(probe)
    enhanced(probe)
    expect_enhanced(expect(client.command("AUTH XNOSUCHMECH"), 504), (5, 5, 4))


@GROUP.check(
    "no-mechanism",
    "RFC 4954 4, RFC 5321 4.2.2",
    "AUTH without a mechanism gets 501 (or 500, 504); the session goes on",
    level=Level.MAY,
    rule="the server may refuse AUTH without its mechanism as a syntax error",
)
def no_mechanism(probe: Probe) -> None:
    client = session(probe)
    expect(client.command("AUTH"), 501, 500, 504)
    usable(client, "the refused AUTH")
