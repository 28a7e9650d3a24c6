"""The `smtp_server` fixtures users test their mail-sending code with (transports.pytest_plugin,
registered through the pytest11 entry point), driven with smtplib and aiosmtplib."""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage

import aiosmtplib
import pytest

from transports.pytest_plugin import SmtpTestServer

Factory = Callable[..., SmtpTestServer]
MAIL = "Subject: Welcome\r\nFrom: app@example.test\r\n\r\nHello Bob\r\n"


def test_a_sent_message_is_kept_with_its_envelope_and_parsed(smtp_server: SmtpTestServer) -> None:
    started = time.monotonic()
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.sendmail("app@example.test", ["bob@example.test"], MAIL)
    [mail] = smtp_server.wait_for(1)
    assert (mail.mail_from, mail.rcpt_to) == ("app@example.test", ("bob@example.test",))
    assert mail.message["Subject"] == "Welcome"
    assert mail.message.get_content() == "Hello Bob\r\n"  # the content as sent
    assert not mail.encrypted
    assert smtp_server.clear() == [mail]
    assert smtp_server.messages == []
    assert time.monotonic() - started < 5


def test_wait_for_says_how_many_came(smtp_server: SmtpTestServer) -> None:
    with pytest.raises(AssertionError, match=r"0 of 1 messages arrived in 0\.1 s"):
        smtp_server.wait_for(1, timeout=0.1)


@pytest.mark.parametrize("engine", ["threads", "asyncio", "trio", "gevent"])
def test_auth_refusals_and_starttls_on_every_engine(
    smtp_server_factory: Factory, engine: str
) -> None:
    server = smtp_server_factory(
        engine=engine,
        users={"app": "s3cret"},
        refuse={"gone@example.test": (550, "No such user")},
        starttls=True,
    )
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.starttls(context=server.ssl_context)  # the test's own certificate is trusted
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("app", "wrong")
        client.login("app", "s3cret")
        refused = client.sendmail(
            "app@example.test", ["bob@example.test", "gone@example.test"], MAIL
        )
    assert refused == {"gone@example.test": (550, b"5.0.0 No such user")}
    [mail] = server.wait_for(1)
    assert (mail.rcpt_to, mail.encrypted, mail.authorization_id) == (
        ("bob@example.test",),
        True,
        "app",
    )


def test_a_user_may_not_act_as_another(smtp_server_factory: Factory) -> None:
    server = smtp_server_factory(users={"app": "s3cret", "boss": "b0ss"}, starttls=True)
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.starttls(context=server.ssl_context)
        client.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):  # authzid "boss", RFC 4616 2
            client.auth("PLAIN", lambda challenge=None: "boss\0app\0s3cret")
        client.auth("PLAIN", lambda challenge=None: "app\0app\0s3cret")


def test_a_size_limit_is_enforced(smtp_server_factory: Factory) -> None:
    server = smtp_server_factory(message_size=100)
    with (
        smtplib.SMTP(server.host, server.port, timeout=5) as client,
        pytest.raises(smtplib.SMTPSenderRefused),  # SIZE= at MAIL is over the limit
    ):
        client.sendmail("app@example.test", ["bob@example.test"], MAIL + "x" * 200)
    assert server.messages == []


def test_aiosmtplib_sends_over_starttls_to_the_asyncio_engine(smtp_server_factory: Factory) -> None:
    server = smtp_server_factory(
        engine="asyncio",
        users={"app": "s3cret"},
        refuse={"gone@example.test": (550, "No such user")},
        starttls=True,
    )
    message = EmailMessage()
    message["From"] = "app@example.test"
    message["To"] = "bob@example.test, gone@example.test"
    message["Subject"] = "Welcome"
    message.set_content("Hello Bob\n")

    async def send() -> dict[str, aiosmtplib.SMTPResponse]:
        refused, _ = await aiosmtplib.send(
            message,
            hostname=server.host,
            port=server.port,
            start_tls=True,  # STARTTLS or fail, trusting the test's certificate
            tls_context=server.ssl_context,
            username="app",
            password="s3cret",
            timeout=5,
        )
        return refused

    refused = asyncio.run(send())
    assert refused == {"gone@example.test": (550, "5.0.0 No such user")}
    [mail] = server.wait_for(1)
    assert (mail.mail_from, mail.rcpt_to) == ("app@example.test", ("bob@example.test",))
    assert (mail.encrypted, mail.authorization_id) == (True, "app")
    assert mail.message["Subject"] == "Welcome"
    assert mail.message.get_content() == "Hello Bob\r\n"  # as it crossed the wire
