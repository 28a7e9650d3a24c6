"""Instructions per message of an engine's server, counted by valgrind's callgrind.

Rates on this shared host move by a third from one minute to the next; instruction counts
do not, so two versions of an engine can be told apart by a few per cent. The server
(`python -m bench.transport --serve ENGINE`) runs under callgrind twice, sent N and then
3N messages of 2,000 octets by smtp-source; (count(3N) - count(N)) / 2N leaves start-up and
imports out. Only user-space instructions count (no system calls, no kernel).

Run: python -m bench.instructions [--engines asyncio,gevent] [--mode one|many] [--messages N]
                                  [--hook none|plain|nonblocking|async]
     python -m bench.instructions --protocol [--mode one|many]   (core, session, pump alone)
Needs valgrind and smtp-source (Debian: valgrind, postfix). Slow: a minute or two an engine.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from bench import compiled, inprocess, servers
from bench.load import Load, Message, run_smtp_source, smtp_source

ROOT: Final = Path(__file__).resolve().parent.parent
_SUMMARY: Final = re.compile(rb"^summary: (\d+)$", re.MULTILINE)
_SESSIONS: Final = 5


def _callgrind(
    argv: list[str], feed: Callable[[subprocess.Popen[bytes]], None], cwd: Path = ROOT
) -> int:
    """User-space instructions of `argv` run under callgrind; `feed` drives it meanwhile."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--quiet"]
        with subprocess.Popen(
            [*command, sys.executable, *argv],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        ) as proc:
            feed(proc)
            proc.wait()
        found = _SUMMARY.search(out.read_bytes())
        if found is None:
            raise RuntimeError(f"no instruction count in {out}")
        return int(found.group(1))


def protocol(messages: int, per_session: int) -> int:
    """Instructions of `bench.inprocess` sessions: the protocol alone, no sockets."""
    argv = ["-m", "bench.instructions", "--inprocess", str(messages), str(per_session)]
    return _callgrind(argv, lambda proc: None)


def count(engine: str, load: Load, exe: str, hook: str = "none") -> int:
    """User-space instructions of one server process that serves `load`, start to stop."""

    def feed(proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        run_smtp_source(exe, port, load, Message.of_size(2000))
        proc.stdin.close()  # the server stops at the end of its input

    base, on_compiled = compiled.split(engine)
    argv = ["-m", "bench.transport", "--serve", base, "--serve-hook", hook]
    return _callgrind(argv, feed, compiled.tree() if on_compiled else ROOT)


def per_message(engine: str, messages: int, many: bool, exe: str, hook: str = "none") -> float:
    """Instructions per message, start-up left out."""
    small = count(engine, Load(_SESSIONS, messages, many), exe, hook)
    large = count(engine, Load(_SESSIONS, 3 * messages, many), exe, hook)
    return (large - small) / (2 * messages)


def main(argv: Sequence[str] | None = None) -> None:
    """The command line; see the module docstring."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--engines", default="asyncio", help="comma-separated")
    p.add_argument("--mode", choices=("one", "many"), default="many", help="messages per session")
    p.add_argument("--messages", type=int, default=200, help="N (the second run sends 3N)")
    p.add_argument("--hook", choices=servers.HOOKS, default="none", help="our engines' hook")
    p.add_argument(
        "--protocol", action="store_true", help="the protocol alone (bench.inprocess), no sockets"
    )
    p.add_argument("--inprocess", nargs=2, type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    per_session = 50 if args.mode == "many" else 1
    if args.inprocess:  # the program callgrind runs for --protocol
        inprocess.run_sessions(2000, *args.inprocess)
        return
    if args.protocol:
        n = args.messages
        found = (protocol(3 * n, per_session) - protocol(n, per_session)) / (2 * n)
        print(f"protocol alone, {per_session} per session: {found:,.0f} instructions per message")
        return
    exe = smtp_source()
    if exe is None or shutil.which("valgrind") is None:
        raise SystemExit("needs smtp-source and valgrind on PATH (Debian: postfix, valgrind)")
    print(f"{args.mode} per connection, {_SESSIONS} sessions, N = {args.messages}")
    for engine in args.engines.split(","):
        if reason := servers.missing(engine):
            print(f"{engine}: skipped ({reason})")
            continue
        instructions = per_message(engine, args.messages, args.mode == "many", exe, args.hook)
        print(f"{engine}: {instructions:,.0f} instructions per message")


if __name__ == "__main__":
    main()
