"""Handler defaults, async detection, and running hooks into Outcomes (no connection needed)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from smtp_proto.context import Context, ServerContext
from smtp_proto.errors import Smtpd421Error, Smtpd500Error, Smtpd535Error, Smtpd550Error
from smtp_proto.handler import HOOKS, Handler, HookCall, Outcome

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_ctx(session_id: str = "s1") -> Context:
    return Context(
        ServerContext(
            local_response="mx ready",
            helo_response="mx",
            local_ip="127.0.0.1",
            local_host="mx.example.test",
            local_port=25,
            remote_ip="127.0.0.2",
            remote_host="client.example.test",
            remote_port=40000,
            connected=WHEN,
            session_id=session_id,
        )
    )


class Mixed(Handler):
    def on_helo_event(self, ctx: Context, helo: str) -> None:
        return None

    async def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> str | None:
        await asyncio.sleep(0)
        return rcpt_to.lower()

    async def on_message_data_event(self, ctx: Context) -> None:
        raise Smtpd550Error(log="content policy")


def test_async_hooks_lists_exactly_the_async_overrides() -> None:
    assert Mixed().async_hooks == frozenset({"on_rcpt_to_event", "on_message_data_event"})
    assert Handler().async_hooks == frozenset()


def test_async_hook_assigned_on_an_instance_is_detected() -> None:
    async def on_connect(ctx: Context) -> None:
        return None

    handler = Handler()
    handler.on_connect_event = on_connect  # type: ignore[method-assign]
    assert handler.async_hooks == frozenset({"on_connect_event"})


def test_async_logging_hook_is_refused_at_class_definition() -> None:
    with pytest.raises(TypeError, match="on_logging_event must be a plain def"):

        class Bad(Handler):
            async def on_logging_event(  # type: ignore[override]
                self, ctx: Context, level: int, message: str, err: BaseException | None = None
            ) -> None:
                return None


def test_hooks_lists_every_seed_hook_but_logging() -> None:
    # MidiSmtpServer's hooks, by name, and XCLIENT's: each is a method a Handler subclass
    # overrides.
    assert all(callable(getattr(Handler, name)) for name in HOOKS)
    assert set(HOOKS) == {
        "on_connect_event",
        "on_disconnect_event",
        "on_helo_event",
        "on_auth_event",
        "on_mail_from_event",
        "on_rcpt_to_event",
        "on_message_data_start_event",
        "on_message_data_receiving_event",
        "on_message_data_headers_event",
        "on_message_data_event",
        "on_process_line_unknown_event",
        "on_starttls_event",
        "on_lmtp_delivery_event",
        "on_xclient_event",
    }


def test_default_auth_denies_with_535() -> None:
    outcome = HookCall(Handler().on_auth_event, (make_ctx(), "", "user", "pw"), False).run()
    assert outcome.reply == Smtpd535Error().reply
    assert outcome.reply.to_bytes() == b"535 5.7.8 Authentication credentials invalid\r\n"
    assert isinstance(outcome.error, Smtpd535Error)


def test_default_unknown_command_answers_500() -> None:
    outcome = HookCall(Handler().on_process_line_unknown_event, (make_ctx(), "XYZ"), False).run()
    assert outcome.reply == Smtpd500Error().reply
    assert outcome.reply.code == 500


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("on_connect_event", ()),
        ("on_disconnect_event", ()),
        ("on_helo_event", ("client",)),
        ("on_mail_from_event", ("a@example.test",)),
        ("on_rcpt_to_event", ("b@example.test",)),
        ("on_message_data_start_event", ()),
        ("on_message_data_receiving_event", ()),
        ("on_message_data_headers_event", ()),
        ("on_message_data_event", ()),
        ("on_starttls_event", ()),
        ("on_lmtp_delivery_event", ("b@example.test", 0)),
    ],
)
def test_other_defaults_accept(name: str, args: tuple[object, ...]) -> None:
    hook = getattr(Handler(), name)
    assert HookCall(hook, (make_ctx(), *args), False).run() == Outcome()


def test_run_returns_the_value() -> None:
    call = HookCall(lambda ctx, a: a.upper(), (make_ctx(), "x@y"), False)
    assert call.run() == Outcome(value="X@Y")


def test_run_turns_an_smtp_error_into_its_reply() -> None:
    def hook(ctx: Context) -> None:
        raise Smtpd421Error(log="spammer")

    outcome = HookCall(hook, (make_ctx(),), False).run()
    assert outcome.reply is not None
    assert outcome.reply.to_bytes() == (
        b"421 4.3.0 Service not available, closing transmission channel\r\n"
    )
    assert str(outcome.error) == "spammer"


def test_run_keeps_any_other_exception() -> None:
    def hook(ctx: Context) -> None:
        raise KeyError("boom")

    outcome = HookCall(hook, (make_ctx(),), False).run()
    assert outcome.reply is None
    assert isinstance(outcome.error, KeyError)


def test_run_lets_base_exceptions_through() -> None:
    def hook(ctx: Context) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        HookCall(hook, (make_ctx(),), False).run()


def test_run_refuses_an_async_hook_without_leaking_the_coroutine() -> None:
    handler = Mixed()
    outcome = HookCall(handler.on_rcpt_to_event, (make_ctx(), "A@B"), True).run()
    assert isinstance(outcome.error, TypeError)
    assert str(outcome.error) == "on_rcpt_to_event returned an awaitable; run it with run_async()"


def test_run_async_awaits_async_hooks() -> None:
    handler = Mixed()
    ctx = make_ctx()
    value = asyncio.run(HookCall(handler.on_rcpt_to_event, (ctx, "A@B"), True).run_async())
    assert value == Outcome(value="a@b")
    failed = asyncio.run(HookCall(handler.on_message_data_event, (ctx,), True).run_async())
    assert failed.reply == Smtpd550Error().reply
    assert str(failed.error) == "content policy"


def test_run_async_runs_sync_hooks_too() -> None:
    outcome = asyncio.run(HookCall(lambda ctx: 7, (make_ctx(),), False).run_async())
    assert outcome == Outcome(value=7)


def test_run_async_keeps_unexpected_errors() -> None:
    async def hook(ctx: Context) -> None:
        raise ValueError("bad")

    outcome = asyncio.run(HookCall(hook, (make_ctx(),), True).run_async())
    assert outcome.reply is None
    assert isinstance(outcome.error, ValueError)


def test_helpers_report_auth_and_tls_state() -> None:
    ctx = make_ctx()
    assert not Handler.authenticated(ctx)
    assert not Handler.encrypted(ctx)
    ctx.server.authenticated = ctx.server.encrypted = WHEN
    assert Handler.authenticated(ctx)
    assert Handler.encrypted(ctx)


def test_default_logging_hook_tags_records_with_the_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="smtp_proto")
    Handler().on_logging_event(make_ctx("abc123"), logging.INFO, "hello")
    (record,) = caplog.records
    assert record.name == "smtp_proto"
    assert record.levelno == logging.INFO
    assert record.getMessage() == "[abc123] hello"
    assert record.session_id == "abc123"  # type: ignore[attr-defined]
    assert record.exc_info is None


def test_default_logging_hook_adds_tracebacks_only_for_unexpected_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="smtp_proto")
    handler = Handler()
    handler.on_logging_event(make_ctx(), logging.INFO, "refused", Smtpd550Error())
    handler.on_logging_event(make_ctx(), logging.ERROR, "failed", RuntimeError("x"))
    refused, failed = caplog.records
    assert refused.exc_info is None
    assert failed.exc_info is not None
    assert failed.exc_info[0] is RuntimeError
