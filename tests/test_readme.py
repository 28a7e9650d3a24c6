"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n# example: (\S+)\n(.*?)```", README.read_text(), re.DOTALL)


@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_readme_example_runs(name: str, code: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(code, f"README.md:{name}", "exec"), {})  # noqa: S102
    out = capsys.readouterr().out
    if name == "core":
        assert out.startswith("220 mx.example.test ESMTP")
        assert "550 5.7.1 Relaying denied" in out
        assert "250 2.6.0 Message accepted" in out
        assert out.rstrip().endswith("221 2.0.0 Bye")
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


def test_readme_has_examples() -> None:
    assert [name for name, _ in BLOCKS] == ["core", "hooks", "engines", "nonblocking", "anyio"]
