"""The protocol's own share of a transport's work: the core, the session layer and the steps
every engine shares, driven with the same reads a lock-step client like smtp-source causes,
without sockets or an engine.
"""

from __future__ import annotations

import time

from bench.load import HELO_NAME, RECIPIENT, SENDER, Message
from smtp_proto.config import ServerConfig
from smtp_proto.context import Peer
from smtp_proto.handler import Handler
from smtp_proto.session import Finish, Receive, RunHook, Session

_CONFIG = ServerConfig()
_PEER = Peer(
    local_ip="127.0.0.1",
    local_port=25,
    local_host="localhost",
    remote_ip="127.0.0.1",
    remote_port=40000,
    remote_host="localhost",
)


def _reads(message: Message, count: int) -> list[bytes]:
    """One read per command and one for the message, as a client that waits for each reply."""
    reads = [f"HELO {HELO_NAME}\r\n".encode()]
    for _ in range(count):
        reads += [
            f"MAIL FROM:<{SENDER}>\r\n".encode(),
            f"RCPT TO:<{RECIPIENT}>\r\n".encode(),
            b"DATA\r\n",
            message.wire,
        ]
    return [*reads, b"QUIT\r\n"]


def _session(handler: Handler, reads: list[bytes]) -> None:
    """One session through the same `Session` every engine drives, its reads from `reads`."""
    steps = Session(
        handler,
        _CONFIG,
        peer=_PEER,
        session_id="bench",
        clock=time.monotonic,
        cmd_timeout=300.0,
        data_timeout=300.0,
    )
    pending = iter(reads)
    while True:
        step = steps.next_step()
        if isinstance(step, RunHook):
            steps.hook_done(step.call.run())
        elif isinstance(step, Receive):
            steps.feed(next(pending, b""))
        elif isinstance(step, Finish):
            return
        else:
            raise RuntimeError(f"unexpected step {step!r}")


def run_sessions(size: int, messages: int, per_session: int) -> None:
    """Serve `messages` messages of `size` octets, `per_session` in each session."""
    handler = Handler()
    reads = _reads(Message.of_size(size), per_session)
    for _ in range(max(1, messages // per_session)):
        _session(handler, reads)


def seconds_per_message(size: int, per_session: int, messages: int = 2000) -> float:
    """Median seconds per message of 3 repeats, `per_session` messages in each session."""
    handler = Handler()
    reads = _reads(Message.of_size(size), per_session)
    sessions = max(1, messages // per_session)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(sessions):
            _session(handler, reads)
        times.append((time.perf_counter() - start) / (sessions * per_session))
    return sorted(times)[1]


def report(size: int) -> str:
    """Markdown: the protocol's cost per message, one and 50 messages per session."""
    one = seconds_per_message(size, 1)
    many = seconds_per_message(size, 50)
    return (
        "\n### The protocol alone\n\n"
        f"Core, session layer and session steps with the base Handler, no sockets, one read per "
        f"command and "
        f"one per {size:,}-octet message: {one * 1e6:,.0f} us per message one per session, "
        f"{many * 1e6:,.0f} us with 50 messages per session."
    )
