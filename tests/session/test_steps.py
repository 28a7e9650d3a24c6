"""A session's steps on a clock run by hand: every time-out, the stop and the slot refusal,
without sockets or sleeps."""

from __future__ import annotations

from dataclasses import replace

from smtp_proto.config import ServerConfig, TlsMode
from smtp_proto.context import Context
from smtp_proto.handler import Handler, nonblocking
from smtp_proto.replies import Reply
from smtp_proto.session import Finish, Receive, RunHook, Session, StartTls
from tests.session.session_support import CONFIG, GREETING, make_session

CMD, DATA = 300.0, 600.0
TLS = replace(CONFIG, tls_mode=TlsMode.OPTIONAL)
TIMEOUT = b"421 4.4.2 Timeout, closing transmission channel\r\n"
SHUTTING_DOWN = b"421 4.3.2 Service shutting down, closing transmission channel\r\n"
BUSY = Reply(421, ("Server busy, try again later",), (4, 3, 2))


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Helo(Handler):
    def __init__(self) -> None:
        super().__init__()
        self.disconnected = False

    def on_helo_event(self, ctx: Context, helo: str) -> None:
        pass

    def on_disconnect_event(self, ctx: Context) -> None:
        self.disconnected = True


def started(
    handler: Handler | None = None, config: ServerConfig = CONFIG
) -> tuple[Session, FakeClock]:
    clock = FakeClock()
    steps = make_session(handler or Handler(), config, clock=clock)
    first = steps.next_step()
    assert isinstance(first, Receive)
    assert first.out == GREETING
    return steps, clock


def run_to_wait(steps: Session) -> bytes:
    """Run hooks in place up to the next wait for bytes; the bytes sent before it."""
    while True:
        step = steps.next_step()
        if not isinstance(step, RunHook):
            assert isinstance(step, Receive)
            return step.out
        steps.hook_done(step.call.run())


def test_the_command_time_out_bounds_a_whole_command_not_each_read() -> None:
    steps, clock = started()
    assert steps.timeout() == CMD
    clock.now += CMD - 1
    steps.feed(b"EHLO slow.exa")  # a part of a command does not restart the wait
    assert run_to_wait(steps) == b""
    assert steps.timeout() == 1.0
    clock.now += 1
    assert steps.timeout() == 0.0
    steps.timed_out()
    step = steps.next_step()
    assert isinstance(step, Finish)
    assert step.out == TIMEOUT  # RFC 2034 4: with its enhanced code, EHLO or not


def test_a_complete_command_starts_a_new_wait() -> None:
    steps, clock = started()
    clock.now += CMD - 1
    steps.feed(b"EHLO client.example.test\r\n")
    assert run_to_wait(steps).startswith(b"250-mx.example.test")
    assert steps.timeout() == CMD
    assert steps.idle  # no transaction open: a stopping server may close it at once


def test_message_text_waits_on_the_data_time_out_and_each_read_restarts_it() -> None:
    steps, clock = started()
    steps.feed(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
    assert run_to_wait(steps).endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n")
    assert steps.timeout() == DATA
    assert not steps.idle
    clock.now += DATA - 1
    steps.feed(b"Subject: slow\r\n\r\nsome text")
    assert run_to_wait(steps) == b""
    assert steps.timeout() == DATA
    clock.now += DATA
    assert steps.timeout() == 0.0
    steps.timed_out()
    step = steps.next_step()
    assert isinstance(step, Finish)
    assert step.out == TIMEOUT


def test_a_stop_answers_421_and_ends_the_session() -> None:
    steps, _ = started()
    steps.feed(b"EHLO c\r\n")
    run_to_wait(steps)
    steps.shut_down()
    step = steps.next_step()
    assert isinstance(step, Finish)
    assert step.out == SHUTTING_DOWN


def test_once_told_to_stop_a_session_counts_as_idle_so_no_engine_waits_on_it() -> None:
    steps, _ = started()
    steps.feed(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\n")
    run_to_wait(steps)
    in_transaction = steps.idle  # a transaction is open: a stop gives it its grace
    steps.shut_down()
    # Asked again before the 421 goes out: nothing to wait for any more.
    assert (in_transaction, steps.idle) == (False, True)
    steps.shut_down()
    step = steps.next_step()
    assert isinstance(step, Finish)
    assert step.out == SHUTTING_DOWN


def test_a_hook_that_gets_no_slot_is_not_run_and_the_session_ends_with_its_reply() -> None:
    handler = Helo()
    steps, _ = started(handler)
    steps.feed(b"EHLO c\r\n")
    step = steps.next_step()
    assert isinstance(step, RunHook)
    assert step.slot
    steps.no_slot(BUSY)
    end = steps.next_step()
    assert isinstance(end, RunHook)  # the disconnect hook, which takes no slot
    assert not end.slot
    steps.hook_done(end.call.run())
    assert handler.disconnected
    last = steps.next_step()
    assert isinstance(last, Finish)
    assert last.out == b"421 Server busy, try again later\r\n"


class Marked(Handler):
    @nonblocking
    def on_helo_event(self, ctx: Context, helo: str) -> None:
        pass

    def on_mail_from_event(self, ctx: Context, mail_from: str) -> None:
        pass


def test_a_hook_step_says_whether_its_hook_may_block() -> None:
    steps, _ = started(Marked())
    steps.feed(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\n")
    marked = steps.next_step()
    assert isinstance(marked, RunHook)
    assert not marked.call.blocks  # @nonblocking: an event loop may run it in place
    steps.hook_done(marked.call.run())
    plain = steps.next_step()
    assert isinstance(plain, RunHook)
    assert plain.call.blocks


class Keeper(Helo):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[bytes] = []

    def on_message_data_event(self, ctx: Context) -> None:
        self.messages.append(bytes(ctx.message.data))


def test_a_data_time_out_drops_the_message_and_still_ends_with_the_disconnect_hook() -> None:
    handler = Keeper()
    steps, clock = started(handler)
    steps.feed(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
    run_to_wait(steps)
    steps.feed(b"Subject: half\r\n\r\nnot ended")
    run_to_wait(steps)
    clock.now += DATA
    assert steps.timeout() == 0.0
    steps.timed_out()
    end = steps.next_step()
    assert isinstance(end, RunHook)
    assert not end.slot
    steps.hook_done(end.call.run())
    last = steps.next_step()
    assert last == Finish(TIMEOUT)
    assert (handler.messages, handler.disconnected) == ([], True)


def test_starttls_hands_the_handshake_over_and_a_failed_one_ends_the_session() -> None:
    steps, _ = started(config=TLS)
    steps.feed(b"EHLO c\r\nSTARTTLS\r\n")
    step = steps.next_step()
    assert isinstance(step, StartTls)
    assert step.out.endswith(b"250 HELP\r\n220 2.0.0 Ready to start TLS\r\n")
    steps.tls_failed("handshake timed out")  # the engine's TLS time-out, or a bad hello
    # Nothing more may be said in plain text on a connection meant to be encrypted: the
    # engine closes without sending what the core queued.
    assert isinstance(steps.next_step(), Finish)
    assert steps.closed


def test_a_handshake_that_succeeds_starts_the_session_over() -> None:
    steps, _ = started(config=TLS)
    steps.feed(b"EHLO c\r\nSTARTTLS\r\n")
    assert isinstance(steps.next_step(), StartTls)
    steps.tls_established()
    assert steps.ctx.server.encrypted is not None
    assert steps.next_step() == Receive(b"")  # the client speaks first after the handshake
    assert steps.timeout() == CMD
    steps.feed(b"EHLO c\r\n")
    assert b"STARTTLS" not in run_to_wait(steps)  # RFC 3207 4.2: not offered again
