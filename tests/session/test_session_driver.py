"""A Session over a real ServerConnection: greeting, HELO, MAIL/RCPT rewrites, rejections,
errors, resets and ctx fields. Bytes in, exact reply bytes out."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from smtp_proto.context import Context
from smtp_proto.errors import (
    Smtpd421Error,
    Smtpd550Error,
    Smtpd554Error,
    SmtpError,
)
from smtp_proto.handler import Handler
from smtp_proto.handlers import SinkHandler
from smtp_proto.params import Body
from smtp_proto.proxy import ProxyVersion
from smtp_proto.session import Session
from tests.session.session_support import (
    CONFIG,
    GREETING,
    PEER,
    START,
    lines,
    make_session,
    pump,
)

EHLO_REPLY = (
    b"250-mx.example.test Hello c.example\r\n250-PIPELINING\r\n250-SIZE 33554432\r\n"
    b"250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n"
    b"250-BINARYMIME\r\n250-DSN\r\n250 HELP\r\n"
)
TRANSACTION = (
    b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"
    b"Subject: hi\r\n\r\nbody\r\n.\r\n"
)
TRANSACTION_REPLIES = (
    b"250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n"
    b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.6.0 Message accepted\r\n"
)


def test_a_default_handler_serves_a_whole_session() -> None:
    sink = SinkHandler()
    session = make_session(sink)
    out = pump(session, b"EHLO c.example\r\n" + TRANSACTION + b"QUIT\r\n")
    assert out == GREETING + EHLO_REPLY + TRANSACTION_REPLIES + b"221 2.0.0 Bye\r\n"
    (stored,) = sink.messages
    assert stored.data == b"Subject: hi\r\n\r\nbody\r\n"
    assert stored.mail_from == "a@example.test"
    assert stored.rcpt_to == ("b@example.test",)
    assert stored.queue_id == "S1.1"
    assert session.closed


def test_ctx_server_holds_the_peer_and_times() -> None:
    seen: list[Context] = []

    class Spy(Handler):
        def on_connect_event(self, ctx: Context) -> None:
            seen.append(ctx)

    session = make_session(Spy())
    pump(session, b"EHLO c.example\r\n")
    (ctx,) = seen
    server = ctx.server
    assert (server.local_ip, server.local_port, server.local_host) == (
        PEER.local_ip,
        PEER.local_port,
        PEER.local_host,
    )
    assert (server.remote_ip, server.remote_port, server.remote_host) == (
        PEER.remote_ip,
        PEER.remote_port,
        PEER.remote_host,
    )
    assert server.connected == START
    assert server.session_id == "S1"
    assert server.local_response == "mx.example.test ESMTP smtp-proto ready"
    assert server.helo == "c.example"
    assert server.helo_verb == "EHLO"
    assert server.helo_response == "mx.example.test Hello c.example"
    assert server.encrypted is None
    assert server.authenticated is None
    assert server.exceptions == 0


def test_connect_hook_changes_welcome_and_greeting_with_crlf_stripped() -> None:
    class Welcome(Handler):
        def on_connect_event(self, ctx: Context) -> None:
            ctx.server.local_response = "My welcome message!\r\n"
            ctx.server.helo_response = f"{ctx.server.local_host} [{ctx.server.local_ip}]\nserving"

    out = pump(make_session(Welcome()), b"HELO c.example\r\nEHLO c.example\r\n")
    assert lines(out)[:3] == [
        b"220 My welcome message!\r\n",
        b"250 mx.example.test [127.0.0.1]serving\r\n",
        b"250-mx.example.test [127.0.0.1]serving\r\n",
    ]


def test_helo_hook_changes_the_greeting_line_only() -> None:
    class Greet(Handler):
        def on_helo_event(self, ctx: Context, helo: str) -> None:
            ctx.server.helo_response = f"hi {helo}"

    out = pump(make_session(Greet()), b"EHLO c.example\r\n")
    assert out == GREETING + EHLO_REPLY.replace(b"mx.example.test Hello c.example", b"hi c.example")


def test_connect_hook_refuses_with_554_then_only_quit_is_served() -> None:
    disconnects: list[str] = []

    class Refuse(Handler):
        def on_connect_event(self, ctx: Context) -> None:
            raise Smtpd554Error("No service for you", log="blocklisted")

        def on_disconnect_event(self, ctx: Context) -> None:
            disconnects.append(ctx.server.remote_ip)

    session = make_session(Refuse())
    out = pump(session, b"EHLO c.example\r\nQUIT\r\n")
    assert out == (b"554 No service for you\r\n503 Bad sequence of commands\r\n221 2.0.0 Bye\r\n")
    assert disconnects == ["127.0.0.2"]


def test_connect_hook_421_closes_at_once() -> None:
    session = make_session_with_connect_error(Smtpd421Error(log="busy"))
    out = pump(session)
    assert out == b"421 Service not available, closing transmission channel\r\n"
    assert session.closed


def test_connect_hook_crash_answers_421_and_logs_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="smtp_proto")
    session = make_session_with_connect_error(RuntimeError("db down"))
    out = pump(session)
    assert out == b"421 Service not available, closing transmission channel\r\n"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["[S1] connection failed: RuntimeError: db down"]
    assert errors[0].exc_info is not None


def test_non_ascii_welcome_text_is_a_local_error() -> None:
    class Bad(Handler):
        def on_connect_event(self, ctx: Context) -> None:
            ctx.server.local_response = "Grüß dich"

    out = pump(make_session(Bad()))
    assert out == b"421 Service not available, closing transmission channel\r\n"


def make_session_with_connect_error(err: Exception) -> Session:
    class Failing(Handler):
        def on_connect_event(self, ctx: Context) -> None:
            raise err

    return make_session(Failing())


def test_implicit_tls_marks_the_session_encrypted_from_the_start() -> None:
    session = make_session(Handler(), encrypted=True)
    pump(session)
    assert session.ctx.server.encrypted == START


class Normalize(SinkHandler):
    """The seed's address normalisation example."""

    def on_mail_from_event(self, ctx: Context, mail_from: str) -> str:
        return mail_from.strip().lower()

    def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> str | None:
        if rcpt_to == "not.name@domain.con":
            raise Smtpd550Error
        if rcpt_to == "spam@domain.con":
            raise Smtpd421Error("Abort: Identified spammer!")
        return rcpt_to.lower()


def test_returned_addresses_replace_the_envelope() -> None:
    sink = Normalize()
    out = pump(
        make_session(sink),
        b"EHLO c.example\r\nMAIL FROM:<Alice@Example.TEST>\r\nRCPT TO:<Bob@Example.TEST>\r\n"
        b"RCPT TO:<not.name@domain.con>\r\nRCPT TO:<Carol@Example.TEST>\r\nDATA\r\nx\r\n.\r\n",
    )
    assert lines(out)[-6:] == [
        b"250 2.1.0 Sender OK\r\n",
        b"250 2.1.5 Recipient OK\r\n",
        b"550 5.1.1 Requested action not taken: mailbox unavailable\r\n",
        b"250 2.1.5 Recipient OK\r\n",
        b"354 End data with <CR><LF>.<CR><LF>\r\n",
        b"250 2.6.0 Message accepted\r\n",
    ]
    (stored,) = sink.messages
    assert stored.mail_from == "alice@example.test"
    assert stored.rcpt_to == ("bob@example.test", "carol@example.test")
    assert len(stored.rcpt_params) == 2


def test_421_from_rcpt_hook_closes_and_calls_disconnect() -> None:
    closed: list[int] = []

    class Spam(Normalize):
        def on_disconnect_event(self, ctx: Context) -> None:
            closed.append(ctx.server.exceptions)

    session = make_session(Spam())
    out = pump(
        session,
        b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<spam@domain.con>\r\nNOOP\r\n",
    )
    assert lines(out)[-1] == b"421 4.3.0 Abort: Identified spammer!\r\n"
    assert session.closed
    assert closed == [1]


@pytest.mark.parametrize(
    ("returned", "problem"),
    [
        (42, "TypeError: a hook must return str or None, not int"),
        ("x@y\r\nRCPT TO:<z@y>", "ValueError: a hook returned an address with control"),
    ],
)
def test_a_bad_return_value_answers_451(
    returned: object, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="smtp_proto")

    class Bad(Handler):
        def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> str | None:
            return returned  # type: ignore[return-value]

    session = make_session(Bad())
    out = pump(session, b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n")
    assert lines(out)[-1] == b"451 4.3.0 Requested action aborted: local error in processing\r\n"
    assert session.ctx.envelope.rcpt_to == []
    (record,) = caplog.records
    assert record.getMessage().startswith(f"[S1] RCPT TO <c@d.test> failed: {problem}")


def test_mail_hook_sees_params_and_encodings() -> None:
    seen: list[tuple[str, str, Body | None, int | None]] = []

    class Spy(Handler):
        def on_mail_from_event(self, ctx: Context, mail_from: str) -> None:
            env = ctx.envelope
            seen.append(
                (env.encoding_body, env.encoding_utf8, env.mail_params.body, env.mail_params.size)
            )

    session = make_session(Spy())
    pump(
        session,
        b"EHLO c.example\r\nMAIL FROM:<a@b.test> BODY=8BITMIME SMTPUTF8 SIZE=100\r\n",
    )
    assert session.ctx.envelope.mail_from == "a@b.test"
    pump(session, b"RSET\r\nMAIL FROM:<a@b.test> BODY=7BIT\r\nRSET\r\nMAIL FROM:<a@b.test>\r\n")
    assert seen == [
        ("8bitmime", "utf8", Body.EIGHT_BIT_MIME, 100),
        ("7bit", "", Body.SEVEN_BIT, None),
        ("", "", None, None),
    ]


def test_a_refused_mail_from_leaves_an_empty_envelope() -> None:
    class No(Handler):
        def on_mail_from_event(self, ctx: Context, mail_from: str) -> None:
            raise SmtpError(550, "Sender blocked", enhanced=(5, 7, 1))

    session = make_session(No())
    out = pump(session, b"EHLO c.example\r\nMAIL FROM:<a@b.test> BODY=8BITMIME\r\n")
    assert lines(out)[-1] == b"550 5.7.1 Sender blocked\r\n"
    assert session.ctx.envelope.encoding_body == ""
    assert session.ctx.envelope.mail_from == ""


def test_rset_and_ehlo_reset_the_transaction_but_keep_helo() -> None:
    session = make_session(Handler())
    pump(session, b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n")
    assert session.ctx.envelope.rcpt_to == ["c@d.test"]
    pump(session, b"RSET\r\n")
    assert session.ctx.envelope.rcpt_to == []
    assert session.ctx.envelope.mail_from == ""
    assert session.ctx.server.helo == "c.example"
    pump(session, b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nEHLO other.example\r\n")
    assert session.ctx.envelope.rcpt_to == []
    assert session.ctx.server.helo == "other.example"


def test_a_refused_helo_keeps_the_previous_one() -> None:
    class Picky(Handler):
        def on_helo_event(self, ctx: Context, helo: str) -> None:
            if helo.startswith("bad"):
                raise Smtpd550Error("Go away")

    session = make_session(Picky())
    out = pump(session, b"HELO good.example\r\nHELO bad.example\r\n")
    assert lines(out)[-1] == b"550 Go away\r\n"
    assert session.ctx.server.helo == "good.example"
    assert session.ctx.server.helo_verb == "HELO"


def test_message_ctx_is_filled_for_the_data_hook_and_reset_after() -> None:
    seen: list[tuple[object, ...]] = []

    class Spy(Handler):
        def on_message_data_event(self, ctx: Context) -> None:
            m = ctx.message
            seen.append(
                (
                    m.queue_id,
                    m.received,
                    m.delivered,
                    m.headers_complete,
                    m.headers,
                    m.bytesize,
                    bytes(m.data),
                    m.crlf,
                )
            )

        def on_mail_from_event(self, ctx: Context, mail_from: str) -> None:
            seen.append((list(ctx.envelope.rcpt_to), bytes(ctx.message.data), ctx.message.queue_id))

    session = make_session(Spy())
    pump(session, b"EHLO c.example\r\n" + TRANSACTION + TRANSACTION)
    content = b"Subject: hi\r\n\r\nbody\r\n"
    assert seen == [
        ([], b"", ""),
        (
            "S1.1",
            START + timedelta(seconds=1),
            START + timedelta(seconds=2),
            True,
            b"Subject: hi\r\n",
            len(content),
            content,
            b"\r\n",
        ),
        ([], b"", ""),
        (
            "S1.2",
            START + timedelta(seconds=3),
            START + timedelta(seconds=4),
            True,
            b"Subject: hi\r\n",
            len(content),
            content,
            b"\r\n",
        ),
    ]
    assert session.ctx.message.data == b""


def test_data_hook_crash_never_yields_250(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="smtp_proto")

    class Broken(Handler):
        def on_message_data_event(self, ctx: Context) -> None:
            raise OSError("disk full")

    session = make_session(Broken())
    out = pump(session, b"EHLO c.example\r\n" + TRANSACTION + b"MAIL FROM:<a@b.test>\r\n")
    assert lines(out)[-2:] == [
        b"451 4.3.0 Requested action aborted: local error in processing\r\n",
        b"250 2.1.0 Sender OK\r\n",
    ]
    assert b"250 2.6.0" not in out
    (error,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert error.getMessage() == "[S1] message S1.1 failed: OSError: disk full"
    assert error.exc_info is not None
    assert not [r for r in caplog.records if r.levelno == logging.INFO]
    assert session.ctx.server.exceptions == 1


def test_behind_a_proxy_the_context_names_the_client_and_the_proxy() -> None:
    seen: list[tuple[str, int, str, int, str, int]] = []

    class Where(Handler):
        def on_connect_event(self, ctx: Context) -> None:
            server = ctx.server
            seen.append(
                (server.remote_ip, server.remote_port, server.local_ip, server.local_port,
                 server.proxy_ip, server.proxy_port)
            )  # fmt: skip

    config = replace(CONFIG, proxy_protocol=ProxyVersion.V1)
    session = make_session(Where(), config)
    out = pump(session, b"PROXY TCP4 192.0.2.9 198.51.100.2 56324 25\r\nQUIT\r\n")
    assert out == GREETING + b"221 2.0.0 Bye\r\n"
    assert seen == [("192.0.2.9", 56324, "198.51.100.2", 25, PEER.remote_ip, PEER.remote_port)]
    assert session.ctx.server.proxy is not None
    assert session.ctx.server.proxy.family == "TCP4"
