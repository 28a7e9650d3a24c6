"""`Session`: one SMTP session with its hooks and time-outs, Sans-IO: what a transport
drives.

Every engine (threads, anyio, gevent) runs the same loop: ask `Session.next_step()`, then
send bytes, wait for bytes, run a hook or run the TLS handshake, each its own way, and hand
back what came of it. The time-outs run on a clock the transport passes in, so every
engine times out alike and tests run the clock by hand. No sockets, clocks or randomness
here: the session id, the CRAM-MD5 nonce and the clocks are given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from smtp_proto import replies
from smtp_proto.config import ServerConfig
from smtp_proto.config_values import ConfigValues
from smtp_proto.connection import ServerConnection
from smtp_proto.context import Context, Peer
from smtp_proto.driver import HookDriver, config_for, utc_now
from smtp_proto.events import NEED_DATA, PAUSED, BeginTls, ConnectionClosed
from smtp_proto.handler import Handler, HookCall, Outcome
from smtp_proto.replies import Reply
from smtp_proto.state import State

# Waiting for message text (DATA, BDAT) uses the data time-out; the rest the command one.
_DATA_STATES: Final = frozenset({State.DATA, State.BDAT})
# No transaction is open: a stopping server may close these sessions at once. CLOSED too:
# an engine that asks again after the 421 was queued must not wait for the client.
_IDLE_STATES: Final = frozenset({State.HELO, State.READY, State.REFUSED, State.CLOSED})


class _Sending:
    """A step that sends `out` first (plain classes: one is made for every read)."""

    __slots__ = ("out",)

    def __init__(self, out: bytes) -> None:
        self.out = out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.out!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Sending) and type(other) is type(self) and other.out == self.out

    def __hash__(self) -> int:
        return hash((type(self), self.out))


class Receive(_Sending):
    """Send `out`, then wait for bytes (at most `timeout()` seconds) and `feed` them."""

    __slots__ = ()


class StartTls(_Sending):
    """Send `out` (the 220) in clear text, run the TLS handshake, then `tls_established()`."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class RunHook:
    """Run `call` (in place, in a worker or awaited) and hand its outcome to `hook_done()`.

    With `slot`, the hook runs holding a processing slot (`transports.capacity.Slots`); when
    none comes in time, `no_slot()` ends the session instead. The disconnect hook takes
    none: it ends what the connect hook began, and must run.
    """

    call: HookCall
    slot: bool = True


class Finish(_Sending):
    """Send `out`, then close the connection: the session is over."""

    __slots__ = ()


Step = Receive | StartTls | RunHook | Finish


class Session:
    """One SMTP session: the core (`ServerConnection`), the `Handler`'s hooks and the
    time-outs, driven step by step through `next_step()`.

    `config` is the core's (see `config_for` for how the handler adjusts it); `peer` names
    the two ends; `clock` gives monotonic seconds for the time-outs and `utc` aware
    datetimes for `ctx`; `nonce` makes CRAM-MD5 challenges (None: no CRAM-MD5).

    The command time-out bounds the wait for each complete command (it starts when the
    core first asks for bytes and ends with the next event); the data time-out does the
    same for each wait for message text. A wait runs out when `timeout()` reaches 0.
    """

    def __init__(
        self,
        handler: Handler,
        config: ServerConfig,
        *,
        peer: Peer,
        session_id: str,
        clock: Callable[[], float],
        cmd_timeout: float,
        data_timeout: float,
        encrypted: bool = False,
        nonce: Callable[[], str] | None = None,
        utc: Callable[[], datetime] = utc_now,
    ) -> None:
        config = config_for(handler, config)
        self._conn = ServerConnection(
            config, encrypted=encrypted, nonce=nonce, **_xclient(handler, config, peer)
        )
        self._driver = HookDriver(handler, self._conn, peer=peer, session_id=session_id, clock=utc)
        self._cmd_timeout = cmd_timeout
        self._data_timeout = data_timeout
        self._clock = clock
        self._deadline: float | None = None
        self._hook_running = False
        self._finished = False

    @property
    def ctx(self) -> Context:
        """The session context the hooks see."""
        return self._driver.ctx

    @property
    def closed(self) -> bool:
        """Whether the session has ended (or is sending its last reply)."""
        return self._conn.closed

    def log(self, level: int, message: str, err: BaseException | None = None) -> None:
        """Log a line about this session through the handler's `on_logging_event`."""
        self._driver.log(level, message, err)

    @property
    def idle(self) -> bool:
        """Waiting for a command outside a mail transaction: safe to close on shutdown."""
        return self._conn.state in _IDLE_STATES

    def next_step(self) -> Step:
        """What to do next; raises `RuntimeError` if a hook's outcome is still owed."""
        if self._hook_running:
            raise RuntimeError("hook_done() is owed before the next step")
        conn, step = self._conn, self._driver.step
        while not self._finished:
            event = conn.next_event()
            if event is NEED_DATA:
                if self._deadline is None:
                    self._deadline = self._clock() + self._wait_limit()
                return Receive(conn.data_to_send())
            if event is PAUSED:
                raise RuntimeError(f"decision left unanswered in state {conn.state}")
            self._deadline = None
            kind = type(event)
            if kind is BeginTls:
                return StartTls(conn.data_to_send())
            call = step(event)  # applied at once when no hook is due
            if call is not None:
                self._hook_running = True
                return RunHook(call, slot=kind is not ConnectionClosed)
            if kind is ConnectionClosed:
                self._finished = True
        return Finish(conn.data_to_send())

    def hook_done(self, outcome: Outcome) -> None:
        """Hand back what the hook of the last `RunHook` step gave."""
        if not self._hook_running:
            raise RuntimeError("no hook is running")
        self._hook_running = False
        if isinstance(self._driver.hook_done(outcome), ConnectionClosed):
            self._finished = True

    def no_slot(self, reply: Reply) -> None:
        """No processing slot came for the last `RunHook` step's hook: it is not run, the
        session answers `reply` (421) and closes. Nothing was accepted, so nothing is lost."""
        if not self._hook_running:
            raise RuntimeError("no hook is waiting")
        self._hook_running = False
        event = self._driver.drop_hook()
        self.log(logging.INFO, f"no processing slot for {type(event).__name__}")
        self._conn.abort(reply)

    def _wait_limit(self) -> float:
        return self._data_timeout if self._conn.state in _DATA_STATES else self._cmd_timeout

    def timeout(self) -> float:
        """Seconds left for the current wait for bytes (0 when it has run out)."""
        if self._deadline is None:
            return self._wait_limit()
        return max(0.0, self._deadline - self._clock())

    def feed(self, data: bytes) -> None:
        """Bytes the client sent; `b""` when it closed or the connection broke."""
        self._conn.receive_data(data)

    def timed_out(self) -> None:
        """The wait ran out: 421 4.4.2 and close (RFC 5321 4.5.3.2)."""
        self._deadline = None
        self.log(logging.INFO, f"time-out in state {self._conn.state.name}")
        self._conn.abort(replies.TIMEOUT)

    def shut_down(self) -> None:
        """The server is stopping: 421 4.3.2 and close."""
        self._deadline = None
        self._conn.abort(replies.SHUTTING_DOWN)

    def tls_established(self) -> None:
        """The STARTTLS handshake succeeded; the session starts over (RFC 3207 4.2)."""
        self._driver.tls_established()

    def tls_failed(self, reason: str) -> None:
        """The STARTTLS handshake failed or timed out: the session ends without a reply.

        The engine must not send what the core queues after this (the 421).
        """
        self.log(logging.INFO, f"TLS handshake failed: {reason}")
        self._conn.abort(replies.SHUTTING_DOWN)


def _xclient(handler: Handler, config: ServerConfig, peer: Peer) -> dict[str, bool]:
    """Whether the core takes XCLIENT from this peer (so that a refusal is 550 5.7.0 and
    not 500) and offers it in EHLO: taken when the config names trusted peers or the
    handler decides itself; offered to the config's trusted peers."""
    own_hook = "on_xclient_event" not in handler.default_hooks
    if not (config.xclient_trusted or own_hook):
        return {}
    offered = ConfigValues.of(config).trusts_xclient(peer.remote_ip)
    return {"xclient": True, "xclient_offered": offered}
