"""node's smtp-server on 127.0.0.1 (STARTTLS, AUTH after it, a Maildir), to grade it.

Uses the npm project in bench/node (`npm install` there provides smtp-server).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
MODULES = ROOT / "bench" / "node" / "node_modules"
SCRIPT = Path(__file__).with_name("node_server.js")
USER, PASSWORD = "alice", "s3cret"


def available() -> str | None:
    """Why node's smtp-server cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (MODULES / "smtp-server").is_dir():
        return "smtp-server is not installed (npm install in bench/node)"
    return None


def version() -> str:
    """The installed smtp-server version, e.g. "3.21.6"."""
    package = json.loads((MODULES / "smtp-server" / "package.json").read_text(encoding="utf-8"))
    return str(package["version"])


@dataclass(frozen=True, slots=True)
class NodeServer:
    """A running smtp-server: its port, Maildir and credentials."""

    port: int
    maildir: Path
    user: str = USER
    password: str = PASSWORD


@contextlib.contextmanager
def running_node(
    maildir: Path, tls: tuple[Path, Path], *, lmtp: bool = False
) -> Iterator[NodeServer]:
    """Start smtp-server (with `lmtp`, its LMTP mode), yield it, and stop it by closing its
    standard input."""
    node = shutil.which("node")
    assert node is not None, "check available() first"
    cert, key = tls
    argv = [node, str(SCRIPT), str(maildir), str(cert), str(key), USER, PASSWORD]
    argv += ["lmtp"] if lmtp else []
    env = {**os.environ, "NODE_PATH": str(MODULES)}
    process = subprocess.Popen(  # noqa: S603 (fixed argv)
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())  # printed once it listens
        yield NodeServer(port, maildir)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
