"""XCLIENT over real sockets on every engine: a front end on loopback (trusted) names the
client with smtplib's `docmd`, and the hooks see that client for the mail that follows."""

from __future__ import annotations

import smtplib

from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import Verdict
from smtp_proto.config import ServerConfig
from tests.transports.test_proxy_engines import Peers
from tests.transports.transport_support import TIMEOUT, ServerFactory, address_of


def test_a_trusted_front_end_names_the_client(server_factory: ServerFactory) -> None:
    handler = Peers()
    config = ServerConfig(xclient_trusted=("127.0.0.0/8",))
    server = server_factory(handler, config=config)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as front:
        assert front.sock is not None
        own_port = front.sock.getsockname()[1]
        front.ehlo("front.example")
        assert front.has_extn("xclient")
        code, text = front.docmd("XCLIENT", "NAME=mx.client.example ADDR=192.0.2.9 PORT=56324")
        assert (code, text.split()[0]) == (220, b"localhost")
        front.ehlo_resp = None  # the session starts over: EHLO again
        front.ehlo("client.example")
        front.sendmail("a@example.test", ["b@example.test"], "Subject: hi\r\n\r\nhi\r\n")
    assert handler.seen == [("127.0.0.1", own_port, ""), ("192.0.2.9", 56324, "")]


def test_an_untrusted_peer_gets_550(server_factory: ServerFactory) -> None:
    server = server_factory(Peers(), config=ServerConfig(xclient_trusted=("10.0.0.0/8",)))
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        client.ehlo("client.example")
        assert not client.has_extn("xclient")
        assert client.docmd("XCLIENT", "ADDR=192.0.2.9") == (550, b"5.7.0 XCLIENT not authorized")


def test_the_conformance_suites_xclient_checks_pass(server_factory: ServerFactory) -> None:
    server = server_factory(Peers(), config=ServerConfig(xclient_trusted=("127.0.0.0/8",)))
    host, port = address_of(server)
    results = run_checks(Target(host, port, timeout=5.0, quiet=0.5), select(["xclient"]))
    verdicts = {result.id: result.verdict for result in results}
    assert verdicts == {
        "xclient.greets-again": Verdict.PASS,
        "xclient.bad-attribute": Verdict.PASS,
        "xclient.not-in-transaction": Verdict.PASS,
        "xclient.health": Verdict.PASS,
    }
