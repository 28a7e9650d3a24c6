"""The servers the leaderboard grades: how each is started, its version, why it cannot run.

Each starter runs its server on 127.0.0.1 in a scratch directory, with the helpers in
tests/conformance, with STARTTLS, AUTH and a Maildir where the server offers them, and
yields the `Target` that grades it; leaving the context stops the server. OpenSMTPD may be
an unpacked package (see tests/conformance/opensmtpd_server.py), as it conflicts with
Postfix's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from conformance.target import Target

USER, PASSWORD = "alice", "s3cret"
ENGINES = ("threads", "asyncio", "trio", "gevent")
TIMEOUT, QUIET = 5.0, 0.5  # seconds: an expected reply; a silence that must last

# A contender starts its server in a scratch directory and yields the target that grades it.
Starter = Callable[[Path], contextlib.AbstractContextManager[Target]]


@dataclass(frozen=True, slots=True)
class Contender:
    """A server to grade: its name, how it is set up, its version, how to start it."""

    name: str
    setup: str
    version: Callable[[], str]
    start: Starter
    missing: Callable[[], str | None]  # why it cannot run here, or None
    lmtp: bool = False  # graded with --lmtp, in the LMTP table


def _smtp_proto_command() -> Path:
    return Path(sys.executable).with_name("smtp-proto")


def _smtp_proto_version() -> str:
    out = subprocess.run(  # noqa: S603 (fixed argv)
        [str(_smtp_proto_command()), "--version"], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[-1]


def _wait_for_port(log: Path, process: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if found:
            return int(found[1])
        if process.poll() is not None:
            break
        time.sleep(0.05)  # the log file is the only signal serve gives
    raise RuntimeError(f"smtp-proto serve did not start: {log.read_text(errors='replace')}")


def _smtp_proto(engine: str, *, lmtp: bool = False) -> Starter:
    @contextlib.contextmanager
    def start(scratch: Path) -> Iterator[Target]:
        log = scratch / "serve.log"
        argv = [
            str(_smtp_proto_command()),
            "serve",
            "--port=0",
            f"--maildir={scratch / 'maildir'}",
            "--hostname=mx.example.test",
            "--tls=optional",
            f"--auth={USER}:{PASSWORD}",
            f"--transport={engine}",
            *(["--lmtp"] if lmtp else []),
        ]
        with log.open("wb") as sink:
            process = subprocess.Popen(argv, stdout=sink, stderr=sink)  # noqa: S603
        try:
            port = _wait_for_port(log, process)
            maildir = str(scratch / "maildir")
            yield Target(
                "127.0.0.1",
                port,
                user=USER,
                password=PASSWORD,
                maildir=maildir,
                timeout=TIMEOUT,
                quiet=QUIET,
                lmtp=lmtp,
            )
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    return start


@contextlib.contextmanager
def _aiosmtpd(scratch: Path) -> Iterator[Target]:
    from tests.conformance.aiosmtpd_server import running_aiosmtpd
    from tests.conformance.conformance_tls import server_context, write_self_signed

    context = server_context(*write_self_signed(scratch))
    # aiosmtpd logs every refused command and TLS failure the suite provokes; keep it quiet.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    with running_aiosmtpd(scratch / "maildir", context) as target:
        yield target


def _postfix(strict: bool) -> Starter:
    @contextlib.contextmanager
    def start(scratch: Path) -> Iterator[Target]:
        from tests.conformance.conformance_tls import write_self_signed
        from tests.conformance.postfix_server import running_postfix

        with running_postfix(strict=strict, tls=write_self_signed(scratch)) as postfix:
            yield Target(
                "127.0.0.1",
                postfix.port,
                maildir=str(postfix.maildir),
                timeout=TIMEOUT,
                quiet=QUIET,
            )

    return start


@contextlib.contextmanager
def _node(scratch: Path) -> Iterator[Target]:
    from tests.conformance.conformance_tls import write_self_signed
    from tests.conformance.node_server import running_node

    with running_node(scratch / "maildir", write_self_signed(scratch)) as node:
        yield Target(
            "127.0.0.1",
            node.port,
            user=node.user,
            password=node.password,
            maildir=str(node.maildir),
            timeout=TIMEOUT,
            quiet=QUIET,
        )


@contextlib.contextmanager
def _aiosmtpd_lmtp(scratch: Path) -> Iterator[Target]:
    from tests.conformance.aiosmtpd_lmtp import running_aiosmtpd_lmtp

    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    with running_aiosmtpd_lmtp(scratch / "maildir") as target:
        yield dataclasses.replace(target, timeout=TIMEOUT, quiet=QUIET)


@contextlib.contextmanager
def _node_lmtp(scratch: Path) -> Iterator[Target]:
    from tests.conformance.conformance_tls import write_self_signed
    from tests.conformance.node_server import running_node

    with running_node(scratch / "maildir", write_self_signed(scratch), lmtp=True) as node:
        yield Target(
            "127.0.0.1",
            node.port,
            maildir=str(node.maildir),
            timeout=TIMEOUT,
            quiet=QUIET,
            lmtp=True,
        )


@contextlib.contextmanager
def _opensmtpd(scratch: Path) -> Iterator[Target]:
    from tests.conformance.opensmtpd_server import running_opensmtpd

    with running_opensmtpd() as smtpd:
        # Its replies now and then take seconds under the suite's load; 5 s is too short.
        yield Target("127.0.0.1", smtpd.port, maildir=str(smtpd.maildir), timeout=15.0, quiet=QUIET)


def _opensmtpd_missing() -> str | None:
    from tests.conformance.opensmtpd_server import available

    return available()


def _opensmtpd_version() -> str:
    from tests.conformance.opensmtpd_server import version

    return version()


def _engine_missing(engine: str) -> Callable[[], str | None]:
    modules = {"trio": "trio", "gevent": "gevent", "asyncio": "anyio", "threads": "socket"}

    def missing() -> str | None:
        if not _smtp_proto_command().exists():
            return "smtp-proto is not installed next to this Python"
        try:
            __import__(modules[engine])
        except ImportError:
            return f"{modules[engine]} is not installed"
        return None

    return missing


def _postfix_missing() -> str | None:
    from tests.conformance.postfix_server import available

    return available()


def _postfix_version() -> str:
    from tests.conformance.postfix_server import version

    return version()


def _node_missing() -> str | None:
    from tests.conformance.node_server import available

    return available()


def _node_version() -> str:
    from tests.conformance.node_server import version

    return version()


def _aiosmtpd_missing() -> str | None:
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        return "aiosmtpd is not installed"
    return None


def _aiosmtpd_version() -> str:
    from tests.conformance.aiosmtpd_server import version

    return version()


def contenders() -> list[Contender]:
    """Every server the leaderboard knows, ours first."""
    ours = [
        Contender(
            f"smtp-proto ({engine})",
            "`serve`: STARTTLS, AUTH after TLS, Maildir",
            _smtp_proto_version,
            _smtp_proto(engine),
            _engine_missing(engine),
        )
        for engine in ENGINES
    ]
    return [
        *ours,
        Contender(
            "aiosmtpd",
            "STARTTLS, AUTH after TLS, SMTPUTF8, Mailbox",
            _aiosmtpd_version,
            _aiosmtpd,
            _aiosmtpd_missing,
        ),
        Contender(
            "Postfix (default)",
            "STARTTLS, virtual Maildir, no SASL",
            _postfix_version,
            _postfix(strict=False),
            _postfix_missing,
        ),
        Contender(
            "Postfix (strict)",
            "as default, plus smtpd_forbid_bare_newline, strict_rfc821_envelopes",
            _postfix_version,
            _postfix(strict=True),
            _postfix_missing,
        ),
        Contender(
            "node smtp-server",
            "STARTTLS, AUTH PLAIN/LOGIN/CRAM-MD5, Maildir",
            _node_version,
            _node,
            _node_missing,
        ),
        Contender(
            "OpenSMTPD",
            "Maildir, no STARTTLS (Debian's build fails every handshake), so no AUTH",
            _opensmtpd_version,
            _opensmtpd,
            _opensmtpd_missing,
        ),
        *[
            Contender(
                f"smtp-proto ({engine})",
                "`serve --lmtp`, Maildir",
                _smtp_proto_version,
                _smtp_proto(engine, lmtp=True),
                _engine_missing(engine),
                lmtp=True,
            )
            for engine in ENGINES
        ],
        Contender(
            "aiosmtpd LMTP",
            "`aiosmtpd.lmtp.LMTP`, Maildir",
            _aiosmtpd_version,
            _aiosmtpd_lmtp,
            _aiosmtpd_missing,
            lmtp=True,
        ),
        Contender(
            "node smtp-server",
            "`lmtp: true`, Maildir",
            _node_version,
            _node_lmtp,
            _node_missing,
            lmtp=True,
        ),
    ]
