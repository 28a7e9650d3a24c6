"""A Session over a real ServerConnection: unknown commands, the error counter, the
disconnect hook, the session's own contract, and logging."""

from __future__ import annotations

import logging

import pytest

from smtp_proto.context import Context
from smtp_proto.errors import Smtpd421Error, Smtpd550Error
from smtp_proto.handler import Handler
from smtp_proto.handlers import SinkHandler
from smtp_proto.session import Finish, Receive, RunHook
from tests.session.session_support import GREETING, lines, make_session, pump


def test_unknown_commands_default_to_500_and_the_seed_abort_example_works() -> None:
    class Abort(Handler):
        def on_process_line_unknown_event(self, ctx: Context, line: str) -> None:
            if ctx.server.exceptions >= 2:
                raise Smtpd421Error("Abort: too many unknown commands where sent!")
            super().on_process_line_unknown_event(ctx, line)

    session = make_session(Abort())
    out = pump(session, b"EHLO c.example\r\nFOO\r\nBAR baz\r\nQUUX\r\nNOOP\r\n")
    assert lines(out)[-3:] == [
        b"500 5.5.2 Syntax error, command unrecognized\r\n",
        b"500 5.5.2 Syntax error, command unrecognized\r\n",
        b"421 4.3.0 Abort: too many unknown commands where sent!\r\n",
    ]
    assert session.closed
    assert session.ctx.server.exceptions == 3


def test_an_unknown_command_hook_that_returns_accepts_it() -> None:
    lines_seen: list[str] = []

    class Lenient(Handler):
        def on_process_line_unknown_event(self, ctx: Context, line: str) -> None:
            lines_seen.append(line)

    out = pump(make_session(Lenient()), b"EHLO c.example\r\nXCLIENT NAME=x\r\n")
    assert lines(out)[-1] == b"250 2.0.0 OK\r\n"
    assert lines_seen == ["XCLIENT NAME=x"]


def test_exceptions_counts_every_error_reply_once() -> None:
    class No(Handler):
        def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> None:
            raise Smtpd550Error

    session = make_session(No())
    pump(
        session,
        b"EHLO c.example\r\nRCPT TO:<a@b.test>\r\nFOO\r\nMAIL FROM:<a@b.test>\r\n"
        b"RCPT TO:<c@d.test>\r\nDATA\r\nAUTH PLAIN\r\n",
    )
    # 503 RCPT before MAIL, 500 FOO, 550 from the hook, 503 DATA without a recipient,
    # 503 AUTH inside a transaction
    assert session.ctx.server.exceptions == 5


def test_disconnect_hook_runs_when_the_client_goes_away(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="smtp_proto")
    calls: list[str] = []

    class Bye(Handler):
        def on_disconnect_event(self, ctx: Context) -> None:
            calls.append(ctx.server.helo)
            raise RuntimeError("cleanup failed")

    session = make_session(Bye())
    out = pump(session, b"EHLO c.example\r\n", b"")
    assert calls == ["c.example"]
    assert out.endswith(b"250 HELP\r\n")
    messages = [r.getMessage() for r in caplog.records]
    assert "[S1] disconnect failed: RuntimeError: cleanup failed" in messages
    assert messages[-1] == "[S1] connection closed by the client: data=0/0 errors=0"


def test_a_hook_outcome_is_owed_before_the_next_step() -> None:
    class Greeter(Handler):
        def on_connect_event(self, ctx: Context) -> None:
            return None

    session = make_session(Greeter())
    step = session.next_step()
    assert isinstance(step, RunHook)
    with pytest.raises(RuntimeError, match="owed"):
        session.next_step()
    session.hook_done(step.call.run())
    with pytest.raises(RuntimeError, match="no hook"):
        session.hook_done(step.call.run())
    assert session.next_step() == Receive(GREETING)


def test_default_hooks_are_not_called_at_all() -> None:
    # The base Handler's hooks only accept: no RunHook step for them, however many events.
    session = make_session(Handler())
    steps = [session.next_step()]
    session.feed(b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
    steps.append(session.next_step())
    session.feed(b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    steps.append(session.next_step())
    assert [type(step) for step in steps] == [Receive, Receive, Finish]
    assert steps[0] == Receive(GREETING)
    last = steps[2]
    assert isinstance(last, Finish)
    assert last.out.endswith(b"250 2.6.0 Message accepted\r\n221 2.0.0 Bye\r\n")


def test_log_routes_through_the_logging_hook() -> None:
    got: list[tuple[int, str, BaseException | None]] = []

    class Collect(Handler):
        def on_logging_event(
            self, ctx: Context, level: int, message: str, err: BaseException | None = None
        ) -> None:
            got.append((level, message, err))

    session = make_session(Collect())
    session.log(logging.WARNING, "idle time-out")
    assert got == [(logging.WARNING, "idle time-out", None)]


def test_refusals_are_logged_at_info_with_the_log_text(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smtp_proto")

    class Traps(Handler):
        def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> None:
            if rcpt_to.startswith("trap"):
                raise Smtpd550Error(log="spam trap hit")
            raise Smtpd550Error

    pump(
        make_session(Traps()),
        b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\n"
        b"RCPT TO:<trap@d.test>\r\nRCPT TO:<x@d.test>\r\n",
    )
    assert [r.getMessage() for r in caplog.records] == [
        "[S1] RCPT TO <trap@d.test> refused: 550 5.1.1 Requested action not taken: mailbox"
        " unavailable (spam trap hit)",
        "[S1] RCPT TO <x@d.test> refused: 550 5.1.1 Requested action not taken: mailbox"
        " unavailable",
    ]
    assert all(r.exc_info is None for r in caplog.records)


def test_an_answer_after_the_server_stopped_is_dropped() -> None:
    sink = SinkHandler()
    session = make_session(sink)
    pump(session, b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nx\r\n")
    session.feed(b".\r\n")
    step = session.next_step()
    assert isinstance(step, RunHook)  # the message hook
    outcome = step.call.run()  # it runs (e.g. in a worker) while the server stops
    session.shut_down()
    session.hook_done(outcome)
    assert len(sink) == 1  # stored: the client is told 421 and may send it again
    assert session.next_step() == Finish(
        b"421 4.3.2 Service shutting down, closing transmission channel\r\n"
    )
    assert session.closed


def test_a_fixed_error_carries_another_enhanced_code_of_its_class() -> None:
    class Relay(Handler):
        def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> None:
            if not rcpt_to.endswith("@d.test"):
                raise Smtpd550Error("Relaying denied", enhanced=(5, 7, 1))
            raise Smtpd550Error  # its default: 5.1.1, no such mailbox

    out = pump(
        make_session(Relay()),
        b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@e.test>\r\nRCPT TO:<x@d.test>\r\n",
    )
    assert lines(out)[-2:] == [
        b"550 5.7.1 Relaying denied\r\n",
        b"550 5.1.1 Requested action not taken: mailbox unavailable\r\n",
    ]
    with pytest.raises(ValueError, match="does not fit"):
        Smtpd550Error(enhanced=(4, 7, 1))
