"""`smtp-proto serve --lmtp` and `smtp-proto check --lmtp`."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.transports.test_cli import serve, stored
from tests.transports.transport_support import TIMEOUT
from transports.cli import main

SESSION = (
    b"LHLO client.example.test\r\n"
    b"MAIL FROM:<a@example.test>\r\n"
    b"RCPT TO:<b@example.test>\r\n"
    b"RCPT TO:<c@example.test>\r\n"
    b"RCPT TO:<b@example.test>\r\n"
    b"DATA\r\n"
)


def replies(sock: socket.socket, count: int) -> list[bytes]:
    """The last lines of the next `count` replies."""
    found: list[bytes] = []
    with sock.makefile("rb") as reader:
        while len(found) < count:
            line = reader.readline()
            assert line, f"closed after {found}"
            if line[3:4] == b" ":
                found.append(line.rstrip(b"\r\n"))
    return found


def test_serve_lmtp_answers_each_recipient_and_stores_the_message_once(tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    with serve("--lmtp", "--maildir", str(maildir)) as server:
        with socket.create_connection(server.address(), timeout=TIMEOUT) as sock:
            sock.sendall(SESSION)
            head = replies(sock, 7)  # 220, LHLO, MAIL, three RCPTs, 354
            sock.sendall(b"Subject: lmtp\r\n\r\nstored\r\n.\r\nQUIT\r\n")
            tail = replies(sock, 4)
        assert head[0].endswith(b"LMTP smtp-proto ready")
        assert head[-1].startswith(b"354")
        assert tail == [b"250 2.1.5 Delivered"] * 3 + [tail[-1]]
        assert tail[-1].startswith(b"221")
        server.read_until("to=<b@example.test>,<c@example.test>,<b@example.test>")
        assert server.stop() == 0
    [message] = stored(maildir)
    assert message["Subject"] == "lmtp"
    assert " with LMTP " in message["Received"]


def test_check_lmtp_grades_serve_lmtp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maildir = str(tmp_path / "mail")
    with serve("--lmtp", "--maildir", maildir) as server:
        host, port = server.address()
        argv = ["check", f"{host}:{port}", "--lmtp", "--maildir", maildir, "--select", "rfc2033"]
        assert main([*argv, "--timeout", "5", "--fail-on", "any"]) == 0
        assert server.stop() == 0
    out = capsys.readouterr().out
    assert out.startswith(f"LMTP conformance of {host}:{port}: ")
    assert "0 failed, 0 skipped" in out


def test_check_lmtp_lists_the_lmtp_group_and_no_smtp_only_group(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", "--lmtp", "--list"]) == 0
    ids = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "rfc2033.five-rcpts" in ids
    assert "smuggling.data-lf-dot-lf" in ids
    assert not [i for i in ids if i.startswith(("rfc5321.", "rfc3207.", "rfc2920."))]


def test_serve_lmtp_refuses_port_25(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["serve", "--lmtp", "--port", "2424:25", "--maildir", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err == (
        "smtp-proto: error: --lmtp cannot listen on port 25 (RFC 2033 5)\n"
    )
    assert not (tmp_path / "m").exists()
