"""MaildirHandler and SinkHandler called directly with a filled ctx (no connection needed)."""

from __future__ import annotations

import mailbox
import threading
from datetime import UTC, datetime
from pathlib import Path

from smtp_proto.context import Context, ServerContext
from smtp_proto.handlers import (
    MaildirHandler,
    SinkHandler,
    received_header,
    received_protocol,
)
from smtp_proto.params import Body, MailParams

CONNECTED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DELIVERED = datetime(2018, 11, 1, 12, 0, 5, tzinfo=UTC)


def filled_ctx(*rcpts: str, remote_ip: str = "127.0.0.2", remote_host: str = "") -> Context:
    ctx = Context(
        ServerContext(
            local_response="mx ready",
            helo_response="mx",
            local_ip="127.0.0.1",
            local_host="mx.example.test",
            local_port=25,
            remote_ip=remote_ip,
            remote_host=remote_host or remote_ip,
            remote_port=40000,
            connected=CONNECTED,
            session_id="S1",
            helo="client.example.test",
            helo_verb="EHLO",
        )
    )
    ctx.envelope.mail_from = "a@example.test"
    ctx.envelope.rcpt_to = list(rcpts or ("b@example.test",))
    ctx.message.queue_id = "S1.1"
    ctx.message.received = CONNECTED
    ctx.message.delivered = DELIVERED
    ctx.message.data = bytearray(b"Subject: hi\r\n\r\nbody line\r\n")
    ctx.message.bytesize = len(ctx.message.data)
    return ctx


def test_received_header_for_one_recipient() -> None:
    ctx = filled_ctx(remote_host="client.example.test")
    assert received_header(ctx, hostname="mx.example.test") == (
        b"Received: from client.example.test (client.example.test [127.0.0.2])\r\n"
        b"\tby mx.example.test (smtp-proto) with ESMTP id S1.1\r\n"
        b"\tfor <b@example.test>; Thu, 01 Nov 2018 12:00:05 +0000\r\n"
    )


def test_received_header_hides_recipients_when_several_and_marks_ipv6() -> None:
    ctx = filled_ctx("b@example.test", "c@example.test", remote_ip="::1")
    assert received_header(ctx, hostname="mx") == (
        b"Received: from client.example.test ([IPv6:::1])\r\n"
        b"\tby mx (smtp-proto) with ESMTP id S1.1; Thu, 01 Nov 2018 12:00:05 +0000\r\n"
    )


def test_received_header_drops_control_characters() -> None:
    ctx = filled_ctx()
    ctx.server.helo = "evil\r\nX-Injected: 1"
    header = received_header(ctx, hostname="mx")
    assert header.count(b"\r\n") == 3
    assert b"from evilX-Injected: 1 ([127.0.0.2])" in header


def test_received_protocol_keywords() -> None:
    ctx = filled_ctx()
    assert received_protocol(ctx) == "ESMTP"
    ctx.server.encrypted = CONNECTED
    assert received_protocol(ctx) == "ESMTPS"
    ctx.server.authenticated = CONNECTED
    assert received_protocol(ctx) == "ESMTPSA"
    ctx.server.encrypted = None
    assert received_protocol(ctx) == "ESMTPA"
    ctx.envelope.encoding_utf8 = "utf8"
    assert received_protocol(ctx) == "UTF8SMTPA"
    ctx.server.helo_verb = "LHLO"
    assert received_protocol(ctx) == "UTF8LMTPA"
    ctx.envelope.encoding_utf8 = ""
    assert received_protocol(ctx) == "LMTPA"
    ctx.server.helo_verb = "HELO"
    assert received_protocol(ctx) == "SMTP"


def test_maildir_handler_creates_the_maildir_and_stores_with_received(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "maildir"
    handler = MaildirHandler(path, hostname="store.example.test")
    assert sorted(p.name for p in path.iterdir()) == ["cur", "new", "tmp"]
    handler.on_message_data_event(filled_ctx())
    (key,) = mailbox.Maildir(path, create=False).keys()
    raw = mailbox.Maildir(path, create=False).get_bytes(key)
    assert raw == (
        b"Received: from client.example.test ([127.0.0.2])\n"
        b"\tby store.example.test (smtp-proto) with ESMTP id S1.1\n"
        b"\tfor <b@example.test>; Thu, 01 Nov 2018 12:00:05 +0000\n"
        b"Subject: hi\n\nbody line\n"
    )
    message = mailbox.Maildir(path, create=False)[key]
    assert message["Subject"] == "hi"
    assert message.get_payload() == "body line\n"


def test_maildir_handler_fills_an_existing_empty_folder(tmp_path: Path) -> None:
    path = tmp_path / "maildir"
    path.mkdir()
    handler = MaildirHandler(path, hostname="store.example.test")
    key = handler.store(filled_ctx())
    assert mailbox.Maildir(path, create=False).get_bytes(key).endswith(b"body line\n")


def test_maildir_handler_defaults_to_the_name_its_greeting_gave(tmp_path: Path) -> None:
    handler = MaildirHandler(tmp_path / "md")
    handler.on_message_data_event(filled_ctx())  # greeted "mx ready" from mx.example.test
    (raw,) = (handler.path / "new").iterdir()
    assert b"\tby mx (smtp-proto)" in raw.read_bytes()


def test_maildir_handler_keeps_binarymime_bytes(tmp_path: Path) -> None:
    ctx = filled_ctx()
    ctx.envelope.mail_params = MailParams(body=Body.BINARY_MIME)
    ctx.envelope.encoding_body = "binarymime"
    ctx.message.data = bytearray(b"Subject: bin\r\n\r\n\x00\r\n\xff")
    handler = MaildirHandler(tmp_path / "md")
    handler.on_message_data_event(ctx)
    (raw,) = (handler.path / "new").iterdir()
    assert raw.read_bytes().endswith(b"\r\nSubject: bin\r\n\r\n\x00\r\n\xff")


def test_maildir_handler_is_safe_across_threads(tmp_path: Path) -> None:
    handler = MaildirHandler(tmp_path / "md")
    barrier = threading.Barrier(8)

    def deliver(n: int) -> None:
        ctx = filled_ctx()
        ctx.message.data = bytearray(f"Subject: {n}\r\n\r\nx\r\n".encode())
        barrier.wait()
        for _ in range(10):
            handler.on_message_data_event(ctx)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    box = mailbox.Maildir(handler.path, create=False)
    subjects = sorted(str(message["Subject"]) for message in box)
    assert subjects == sorted(str(n) for n in range(8) for _ in range(10))


def test_sink_keeps_snapshots_not_live_buffers() -> None:
    sink = SinkHandler()
    ctx = filled_ctx()
    sink.on_message_data_event(ctx)
    ctx.message.data += b"later"
    ctx.envelope.rcpt_to.append("late@example.test")
    (stored,) = sink.messages
    assert stored.data == b"Subject: hi\r\n\r\nbody line\r\n"
    assert stored.rcpt_to == ("b@example.test",)
    assert stored.mail_from == "a@example.test"
    assert stored.queue_id == "S1.1"
    assert stored.delivered == DELIVERED
    assert not stored.encrypted


def test_sink_is_safe_across_threads_and_clear_takes_all() -> None:
    sink = SinkHandler()
    barrier = threading.Barrier(8)

    def deliver() -> None:
        ctx = filled_ctx()
        barrier.wait()
        for _ in range(200):
            sink.on_message_data_event(ctx)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sink) == 1600
    assert len(sink.clear()) == 1600
    assert sink.messages == []
