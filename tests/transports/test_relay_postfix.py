"""`RelayHandler` in front of a real Postfix: a throw-away instance on a loopback port that
refuses some recipients and relays the rest into a server of ours.

client -> RelayHandler (ours) -> Postfix -> smtp_server (ours, keeps what arrives)
"""

from __future__ import annotations

import smtplib
from contextlib import AbstractContextManager

import pytest

from smtp_proto.config import ServerConfig
from smtp_proto.handlers import RelayHandler
from tests.conformance.postfix_server import Postfix, available, running_postfix
from tests.transports.transport_support import TIMEOUT
from transports.pytest_plugin import SmtpTestServer
from transports.threaded import Server

# Postfix's own recipient checks: one refused for good, one for now.
ACCESS = (
    "inline:{ {gone@example.test = 550 5.1.1 No such user},"
    " {later@example.test = 450 4.2.1 Try later} }"
)
# What a relaying Postfix needs beyond a receiving one: its SMTP client.
SERVICES = "smtp unix - - n - - smtp\nrelay unix - - n - - smtp\n"
MAIL = "Subject: through postfix\r\nFrom: a@example.org\r\n\r\nHello\r\n"

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))


def relaying_postfix(next_hop: int) -> AbstractContextManager[Postfix]:
    """A throw-away Postfix (tests.conformance.postfix_server) that relays everything to
    127.0.0.1:`next_hop` and refuses two recipients itself."""
    settings = {
        "virtual_mailbox_domains": "",
        "relayhost": f"[127.0.0.1]:{next_hop}",
        "smtp_tls_security_level": "none",
        "smtpd_recipient_restrictions": f"check_recipient_access {ACCESS}",
    }
    return running_postfix(settings=settings, services=SERVICES)


def test_postfix_upstream_takes_relays_and_refuses(smtp_server: SmtpTestServer) -> None:
    with relaying_postfix(smtp_server.port) as postfix:
        handler = RelayHandler(
            "127.0.0.1", postfix.port, tls="off", hostname="relay.example.test", timeout=TIMEOUT
        )
        relay = Server(handler, "0", "127.0.0.1", config=ServerConfig(binarymime=False))
        with relay:
            rcpts = ["b@example.test", "gone@example.test", "later@example.test"]
            with smtplib.SMTP(*relay.addresses[0], timeout=TIMEOUT) as client:
                refused = client.sendmail("a@example.org", rcpts, MAIL)
        [mail] = smtp_server.wait_for(1, timeout=30)  # Postfix queues, then delivers
    assert refused["later@example.test"] == (
        451,
        b"4.4.0 Upstream server deferred: 450 4.2.1 <later@example.test>:"
        b" Recipient address rejected: Try later",
    )
    code, text = refused["gone@example.test"]
    assert (code, text) == (
        550,
        b"5.1.1 <gone@example.test>: Recipient address rejected: No such user",
    )
    assert len(refused) == 2
    assert (mail.mail_from, mail.rcpt_to) == ("a@example.org", ("b@example.test",))
    received = mail.message.get_all("Received") or []
    assert "by postfix.example.test (Postfix)" in received[0]
    assert "from relay.example.test" in received[0]
    assert "by relay.example.test (smtp-proto)" in received[1]
