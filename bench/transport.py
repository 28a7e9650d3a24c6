"""Transports side by side with aiosmtpd on loopback: messages/s and MB/s for 20 sessions of
2,000-octet messages (one per connection, and many per connection) and 2 sessions of 10 MB
messages, and each server's RSS with 1,000 idle connections.

Each server runs in its own process; the load comes from Postfix's `smtp-source` when it is
installed, otherwise from the lean client in `bench/load.py` (the output says which).

Run: python -m bench.transport [--engines threads,asyncio,trio,gevent,aiosmtpd] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from bench import compiled, hotspots, inprocess, servers
from bench.load import Load, LoadError, Message, open_idle, run_lean, run_smtp_source, smtp_source
from bench.report import Result, Run, idle_table, load_average, machine, throughput_table

ROOT: Final = Path(__file__).resolve().parent.parent
_HOOK_TITLES: Final = {
    "none": "",
    "plain": ", plain hook",
    "nonblocking": ", @nonblocking hook",
    "async": ", async hook",
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """One throughput scenario: its name, traffic and message size."""

    key: str
    title: str
    load: Load
    size: int
    target: float  # each engine's ratio to aiosmtpd, messages/s


def scenarios(scale: float) -> list[Scenario]:
    """The three throughput scenarios; `scale` multiplies the message counts."""

    def count(n: int, sessions: int) -> int:
        return max(sessions, round(n * scale))

    return [
        Scenario("one", "one message per connection", Load(20, count(2000, 20), False), 2000, 1.5),
        Scenario(
            "many", "many messages per connection", Load(20, count(5000, 20), True), 2000, 1.5
        ),
        Scenario("large", "10 MB messages", Load(2, count(12, 2), True), 10_000_000, 4.0),
    ]


class ServerProcess:
    """`python -m bench.transport --serve ENGINE` as a child; `port` once it listens."""

    def __init__(self, engine: str, maildir: Path | None = None, hook: str = "none") -> None:
        self.engine = engine
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        store = [] if maildir is None else ["--serve-maildir", str(maildir / engine)]
        store += ["--serve-hook", hook]
        base, on_compiled = compiled.split(engine)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.transport", "--serve", base, *store],
            cwd=compiled.tree() if on_compiled else ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # the child prints its port once bound
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError(f"{engine} server did not start:\n{self.errors()}")
        self.port = int(line)

    @property
    def pid(self) -> int:
        """The server process's id."""
        return self._proc.pid

    def rss(self) -> int:
        """Resident set size in octets (VmRSS in /proc/PID/status)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def cpu(self) -> tuple[float, float]:
        """CPU seconds the server has used so far: user, system (/proc/PID/stat)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
        ticks: int = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / ticks, int(fields[12]) / ticks

    def errors(self) -> str:
        """What the server wrote to standard error so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def close(self) -> None:
        """Close its standard input (it stops serving), wait, kill after 30 s."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._log.close()


@contextmanager
def running(
    engines: Sequence[str], maildir: Path | None = None, hook: str = "none"
) -> Iterator[dict[str, ServerProcess]]:
    """A server process per engine (storing into a folder of `maildir` each, if given, and
    with our engines' message `hook`), all stopped on exit."""
    with ExitStack() as stack:
        procs: dict[str, ServerProcess] = {}
        for engine in engines:
            proc = ServerProcess(engine, maildir, hook)
            stack.callback(proc.close)
            procs[engine] = proc
        yield procs


Sender = Callable[[int, Load, Message], float]


def pick_sender(kind: str) -> tuple[Sender, str]:
    """The load generator to use and how to describe it."""
    exe = smtp_source() if kind in ("auto", "smtp-source") else None
    if exe is not None:
        return (
            lambda port, load, msg: run_smtp_source(exe, port, load, msg)
        ), f"smtp-source ({exe})"
    if kind == "smtp-source":
        raise SystemExit("smtp-source is not on PATH (Debian: apt-get install postfix)")
    return (
        run_lean,
        "lean client (bench/load.py: one thread, non-blocking, MAIL/RCPT/DATA pipelined)",
    )


def measure(
    scenario: Scenario,
    engines: Sequence[str],
    send: Sender,
    runs: int,
    profile: str | None,
    maildir: Path | None = None,
    hook: str = "none",
) -> dict[str, Result]:
    """Run `scenario` `runs` times against each engine, interleaved; seconds per run."""
    message = Message.of_size(scenario.size)
    runs_of: dict[str, list[Run]] = {engine: [] for engine in engines}
    with running(engines, maildir, hook) as procs:
        warm = Load(scenario.load.sessions, scenario.load.sessions, scenario.load.per_connection)
        for proc in procs.values():
            send(proc.port, warm, message)  # first connections, imports, allocator growth
        for _ in range(runs):
            for engine, proc in procs.items():
                with _profiling(proc, scenario, engine == profile):
                    runs_of[engine].append(_timed(proc, send, scenario.load, message))
    return {
        engine: Result(engine, done, scenario.load.messages, scenario.size)
        for engine, done in runs_of.items()
    }


def _client_cpu() -> float:
    """CPU seconds of this process and its reaped children (smtp-source)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total: float = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return total


def _timed(proc: ServerProcess, send: Sender, load: Load, message: Message) -> Run:
    (user, system), client = proc.cpu(), _client_cpu()
    seconds = send(proc.port, load, message)
    user_after, system_after = proc.cpu()
    return Run(seconds, user_after - user, system_after - system, _client_cpu() - client)


@contextmanager
def _profiling(proc: ServerProcess, scenario: Scenario, wanted: bool) -> Iterator[None]:
    spy, perf = (hotspots.py_spy(), hotspots.perf()) if wanted else (None, None)
    out = Path(tempfile.gettempdir()) / f"bench-{proc.engine}-{scenario.key}-{time.time_ns()}.txt"
    recorder = None if spy is None else hotspots.Recorder(spy, proc.pid, out)
    counters = None if perf is None else hotspots.Counters(perf, proc.pid)
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        counts = {} if counters is None else counters.stop()
        if recorder is not None:
            recorder.stop()
        if wanted:
            print(f"\n#### profile: {proc.engine}, {scenario.title} ({elapsed:.2f} s)\n")
            print("```")
            if counts:
                each = ", ".join(
                    f"{n / scenario.load.messages:,.1f} {name}" for name, n in counts.items()
                )
                print(f"perf stat, per message: {each}")
            if recorder is not None:
                print(f"py-spy (raw samples: {out}):\n" + hotspots.summarise(out).report())
            print("```")


def measure_idle(engines: Sequence[str], count: int) -> dict[str, tuple[int, int]]:
    """RSS of each server before and with `count` idle connections, octets."""
    found: dict[str, tuple[int, int]] = {}
    for engine in engines:
        with running([engine]) as procs:
            proc = procs[engine]
            before = proc.rss()
            socks = open_idle(proc.port, count)
            try:
                # Sample for a moment: the server may still be settling after the greetings.
                after = 0
                for _ in range(5):
                    after = max(after, proc.rss())
                    time.sleep(0.1)
            finally:
                for sock in socks:
                    sock.close()
            found[engine] = (before, after)
    return found


def main(argv: Sequence[str] | None = None) -> None:
    """The command line; see the module docstring."""
    args = _parser().parse_args(argv)
    if args.serve:
        servers.serve(args.serve, args.port_file, args.serve_maildir, args.serve_hook)
        return
    servers.raise_file_limit()
    engines = _engines(args.engines)
    send, described = pick_sender(args.client)
    print(machine(described, args.runs, " ".join(["python -m bench.transport", *sys.argv[1:]])))
    chosen = set(args.scenarios.split(","))
    if set(engines) - {"aiosmtpd", *servers.REFERENCES} and chosen & {"one", "many"}:
        print(inprocess.report(scenarios(args.scale)[0].size))
    with ExitStack() as stack:
        maildir = None
        if args.maildir:
            maildir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-mail-")))
            print(
                "\nEvery message is stored: ours by MaildirHandler, aiosmtpd's by Mailbox, "
                "node's smtp-server by bench/node/server.js."
            )
        elif args.hook != "none":
            print(
                f"\nOur engines run the {args.hook} `on_message_data_event` (bench/hooks.py; "
                "async only on asyncio and trio, plain elsewhere); aiosmtpd its handle_DATA, "
                "node's smtp-server its onData."
            )
        for scenario in scenarios(args.scale):
            if scenario.key in chosen:
                _run_scenario(scenario, engines, send, args, maildir)
    if "idle" in chosen:
        print(idle_table(measure_idle(engines, args.idle), args.idle))
    print(f"\nload average at the end: {load_average()}")


def _engines(names: str) -> list[str]:
    """The engines asked for that can run here; exits on an unknown name."""
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(servers.KNOWN) - set(servers.COMPILED))
    if unknown:
        raise SystemExit(
            f"unknown engines: {', '.join(unknown)} (known: {', '.join(servers.KNOWN)})"
        )
    engines = []
    for engine in wanted:
        reason = servers.missing(engine)
        if reason is None:
            engines.append(engine)
        else:
            print(f"note: skipping {engine}: {reason}")
    return engines


def _run_scenario(
    scenario: Scenario,
    engines: Sequence[str],
    send: Sender,
    args: argparse.Namespace,
    maildir: Path | None,
) -> None:
    try:
        results = measure(scenario, engines, send, args.runs, args.profile, maildir, args.hook)
    except LoadError as err:
        print(f"\n{scenario.title}: failed: {err}")
        return
    # The targets speak of the base Handler.
    target = None if maildir or args.hook != "none" else scenario.target
    title = scenario.title + (", into a Maildir" if maildir else _HOOK_TITLES[args.hook])
    print(throughput_table(title, scenario.load, scenario.size, results, target))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--engines",
        default=",".join(servers.ENGINES),
        help=f"comma-separated; also {', '.join(servers.REFERENCES)} (an I/O floor)",
    )
    p.add_argument("--scenarios", default="one,many,large,idle", help="comma-separated")
    p.add_argument("--runs", type=int, default=3, help="runs per scenario and engine (median)")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every message count")
    p.add_argument("--idle", type=int, default=1000, help="idle connections for the RSS scenario")
    p.add_argument("--client", choices=("auto", "smtp-source", "lean"), default="auto")
    p.add_argument("--profile", metavar="ENGINE", help="sample ENGINE with py-spy during its runs")
    p.add_argument(
        "--maildir", action="store_true", help="store every message in a Maildir, as serve does"
    )
    p.add_argument(
        "--hook",
        choices=servers.HOOKS,
        default="none",
        help="our engines' message hook: none (a floor), plain def, @nonblocking def, async def",
    )
    p.add_argument("--serve", choices=servers.KNOWN, help=argparse.SUPPRESS)
    p.add_argument("--serve-hook", choices=servers.HOOKS, default="none", help=argparse.SUPPRESS)
    p.add_argument("--serve-maildir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    return p


if __name__ == "__main__":
    main()
