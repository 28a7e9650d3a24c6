"""The README's Python examples run as written."""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

from smtp_proto import AuthMode, ServerConfig, ServerConnection, TlsMode
from transports import tls

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n# example: (\S+)\n(.*?)```", README.read_text(), re.DOTALL)


@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_readme_example_runs(name: str, code: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(code, f"README.md:{name}", "exec"), {})  # noqa: S102
    out = capsys.readouterr().out
    if name == "core":
        assert out.splitlines() == [
            "(500, b'5.5.2 Command unrecognized')",
            "{'mallory@elsewhere.example': (550, b'5.7.1 Relaying denied')}",
            "[b'Subject: hello\\r\\n\\r\\nHi Bob!\\r\\n']",
        ]
    if name == "hooks":
        assert "{'eve@elsewhere.example': (550," in out
        assert "Subject: hi\r\n\r\nHello Bob\r\n" in out
    if name == "engines":
        engines = [line.split(" served on ")[0] for line in out.splitlines()]
        assert engines == ["threads", "asyncio", "trio", "gevent"]
    if name == "nonblocking":
        assert out == "['on_rcpt_to_event']\n"
    if name == "anyio":
        assert out.startswith("listening on [('127.0.0.1', ")


def test_the_core_example_serves_starttls_and_auth_and_refuses_a_bad_password() -> None:
    """The README's `serve` loop, with TLS and AUTH on, against smtplib over a socket."""
    code = dict(BLOCKS)["core"]
    namespace: dict[str, Any] = {}
    exec(compile(code.split("\nconfig = ")[0], "README.md:core", "exec"), namespace)  # noqa: S102
    cert, key = tls.generate_certificate("mx.example.test", ["127.0.0.1"])
    context = tls.context_from_pem(cert, key)
    config = ServerConfig(
        hostname="mx.example.test", auth_mode=AuthMode.REQUIRED, tls_mode=TlsMode.REQUIRED
    )
    seen: list[object] = []

    def client(address: tuple[str, int]) -> None:
        with smtplib.SMTP(*address) as smtp:
            seen.append(smtp.mail("alice@example.org")[0])  # TLS first: 530
            smtp.starttls(context=ssl._create_unverified_context())  # noqa: S323
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("alice", "wrong")
            smtp.login("alice", "correct horse")
            seen.append(smtp.sendmail("alice@example.org", ["bob@example.test"], "Hi\r\n"))

    with socket.create_server(("127.0.0.1", 0)) as listener:
        sender = threading.Thread(target=client, args=(listener.getsockname(),))
        sender.start()
        sock, _ = listener.accept()
        messages = namespace["serve"](ServerConnection(config), sock, context)
        sender.join(10)
    assert seen == [530, {}]
    assert messages == [b"Hi\r\n"]


def test_readme_has_examples() -> None:
    assert [name for name, _ in BLOCKS] == ["core", "hooks", "engines", "nonblocking", "anyio"]
