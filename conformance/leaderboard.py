"""The leaderboard: each SMTP server installed here, graded by the whole suite, in one table.

Run by hand from a checkout, as root where Postfix should take part (its master starts as
root); it starts each server on 127.0.0.1 with the helpers in tests/conformance, with
STARTTLS, AUTH and a Maildir where the server offers them, and stops it afterwards::

    python -m conformance.leaderboard           # print the table, write it into README.md
    python -m conformance.leaderboard --print   # print it only

A server that is not installed is listed under the table, not graded. OpenSMTPD may be an
unpacked package (see tests/conformance/opensmtpd_server.py), as it conflicts with Postfix.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance.registry import select
from conformance.report import is_health
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import CheckResult, Level, Verdict

README = Path(__file__).with_name("README.md")
START, END = "<!-- leaderboard:start -->", "<!-- leaderboard:end -->"
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


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: the verdict counts of a server per level."""

    name: str
    version: str
    setup: str
    counts: dict[Level, dict[Verdict, int]]

    @property
    def skipped(self) -> int:
        """Checks skipped at any level."""
        return sum(c[Verdict.SKIP] for c in self.counts.values())


def tally(name: str, version: str, setup: str, results: Sequence[CheckResult]) -> Row:
    """A row from one run's results; health checks count as MUST."""
    counts = {level: dict.fromkeys(Verdict, 0) for level in Level}
    for r in results:
        counts[Level.MUST if is_health(r) else r.level][r.verdict] += 1
    return Row(name, version, setup, counts)


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table, the fewest MUST failures first."""
    head = (
        "| server | version | MUST passed | MUST failed | SHOULD passed / failed "
        "| hardening passed / failed | MAY passed / failed | skipped | set up with |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in sorted(rows, key=lambda r: (r.counts[Level.MUST][Verdict.FAIL], r.name)):
        c = row.counts
        pair = {level: f"{c[level][Verdict.PASS]} / {c[level][Verdict.FAIL]}" for level in Level}
        lines.append(
            f"| {row.name} | {row.version} | {c[Level.MUST][Verdict.PASS]} "
            f"| {c[Level.MUST][Verdict.FAIL]} | {pair[Level.SHOULD]} "
            f"| {pair[Level.HARDENING]} | {pair[Level.MAY]} | {row.skipped} | {row.setup} |"
        )
    return head + "\n".join(lines) + "\n"


def splice(text: str, block: str) -> str:
    """`text` with everything between the leaderboard markers replaced by `block`.
    Raises ValueError when the markers are missing."""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError("the leaderboard markers are missing")
    return pattern.sub(lambda _: f"{START}\n{block}{END}", text, count=1)


# --- the servers -------------------------------------------------------------------------


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


def _smtp_proto(engine: str) -> Starter:
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
    ]


def grade(contender: Contender) -> Row:
    """Start the contender's server in a scratch directory and run every non-slow check."""
    with tempfile.TemporaryDirectory(prefix="leaderboard-") as scratch:
        root = Path(scratch)
        root.chmod(0o755)  # a server's own user (node, postfix) may need to read its files
        with contender.start(root) as target:
            results = run_checks(target, select())
    return tally(contender.name, contender.version(), contender.setup, results)


def build(out: Callable[[str], None] = print) -> str:
    """Grade every installed contender; the Markdown block for the README."""
    rows: list[Row] = []
    notes: list[str] = []
    for contender in contenders():
        missing = contender.missing()
        if missing is not None:
            notes.append(f"{contender.name}: not graded, {missing}.")
            out(f"skip  {contender.name}: {missing}")
            continue
        try:
            row = grade(contender)
        except (OSError, RuntimeError) as err:
            notes.append(f"{contender.name}: not graded, {err}.")
            out(f"error {contender.name}: {err}")
            continue
        rows.append(row)
        out(f"done  {row.name} {row.version}: MUST {row.counts[Level.MUST][Verdict.FAIL]} failed")
    checks = len(select())
    when = datetime.datetime.now(datetime.UTC).date().isoformat()
    lines = [
        f"Graded on {when} by `python -m conformance.leaderboard`: {checks} checks each (the "
        "slow group left out) and the health check after each group, counted as a MUST; "
        "fewest MUST failures first.\n",
        "\n",
        table(rows),
    ]
    if notes:
        lines += ["\n", *(f"- {n}\n" for n in notes)]
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Grade, print the table, and unless --print write it into conformance/README.md."""
    parser = argparse.ArgumentParser(prog="python -m conformance.leaderboard")
    parser.add_argument("--print", action="store_true", help="print only; leave the README")
    args = parser.parse_args(argv)
    block = build(lambda line: print(line, file=sys.stderr))
    print(block)
    if not args.print:
        README.write_text(splice(README.read_text(encoding="utf-8"), block), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
