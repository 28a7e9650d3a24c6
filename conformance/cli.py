"""Command line: `python -m conformance HOST:PORT` grades a server and prints the report.

Exit status: 1 when a check at a level `--fail-on` counts failed (default: any MUST check, or
a health check), or the server cannot be reached; 2 for a usage error; else 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.client import ConnectionClosed as ClosedEarly
from conformance.client import NoReply
from conformance.junit import to_junit
from conformance.page import to_html
from conformance.registry import Check, select
from conformance.report import FAIL_ON, TextReport, failed, to_json
from conformance.runner import discover, run_checks
from conformance.target import Target, parse_hostport
from conformance.verdict import CheckFailed


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used for --help)."""
    p = argparse.ArgumentParser(
        prog="smtp-proto check",
        description="Grade an SMTP server against the RFCs, check by check, over raw bytes.",
    )
    p.add_argument(
        "address",
        nargs="?",
        help="HOST[:PORT] of the server ([v6]:PORT for IPv6; port 25 when none)",
    )
    p.add_argument("--tls-implicit", action="store_true", help="connect with TLS (SMTPS)")
    p.add_argument("--starttls", action="store_true", help="run sessions after STARTTLS")
    p.add_argument(
        "--tls-name",
        metavar="NAME",
        help="the name the TLS certificate must carry (default: the host, or for an address "
        "the domain of the greeting)",
    )
    p.add_argument(
        "--proxy",
        choices=("v1", "v2"),
        help="open each connection with a PROXY header, as a load balancer would",
    )
    p.add_argument(
        "--lmtp",
        action="store_true",
        help="the server speaks LMTP (RFC 2033): greet with LHLO; run the rfc2033 group and "
        "the groups valid over LMTP, not those sending HELO/EHLO or several RCPTs themselves",
    )
    p.add_argument("--user", help="AUTH user name (enables the successful AUTH checks)")
    p.add_argument("--password", help="AUTH password")
    p.add_argument("--maildir", metavar="DIR", help="where the server stores messages")
    p.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="NAME",
        help="a group, a check id, or an id prefix ending in *; repeatable",
    )
    p.add_argument("--slow", action="store_true", help="include the slow idle time-out group")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML")
    p.add_argument("--html", metavar="FILE", help="also write the results as one HTML page")
    p.add_argument(
        "--fail-on",
        choices=tuple(FAIL_ON),
        default="must",
        help="which failures make the exit status 1: must (default), should (MUST or SHOULD), "
        "hardening (those or hardening), any (MAY too)",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a reply")
    p.add_argument(
        "--quiet-timeout",
        type=float,
        default=2.0,
        help="seconds to wait when the server must NOT answer",
    )
    p.add_argument(
        "--idle-limit", type=float, default=330.0, help="seconds the slow group waits for a close"
    )
    p.add_argument("--flood", type=int, default=20, help="parallel connections in the flood check")
    p.add_argument("--helo", default="conformance.example.test", help="the EHLO (LHLO) domain")
    p.add_argument("--mail-from", default="sender@example.test", help="sender address")
    p.add_argument("--rcpt-to", default="rcpt@example.test", help="recipient address")
    p.add_argument("--list", action="store_true", help="list the selected checks and exit")
    return p


def list_checks(checks: Sequence[Check]) -> None:
    """Print one line per check: id, level, RFC section, title."""
    for c in checks:
        print(f"{c.id:<40} {c.level.value:<9} {c.rfc:<26} {c.title}")


def target_from(args: argparse.Namespace, host: str, port: int) -> Target:
    """The `Target` the options describe."""
    return Target(
        host,
        port,
        tls_implicit=args.tls_implicit,
        starttls=args.starttls,
        user=args.user,
        password=args.password,
        maildir=args.maildir,
        timeout=args.timeout,
        quiet=args.quiet_timeout,
        idle_limit=args.idle_limit,
        flood=args.flood,
        helo=args.helo,
        mail_from=args.mail_from,
        rcpt_to=args.rcpt_to,
        proxy=args.proxy,
        tls_name=args.tls_name,
        lmtp=args.lmtp,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the suite as the options say; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        checks = select(args.select, slow=args.slow, lmtp=args.lmtp)
    except ValueError as err:
        parser.error(str(err))
    if args.list:
        list_checks(checks)
        return 0
    if args.address is None:
        parser.error("HOST[:PORT] is required")
    try:
        host, port = parse_hostport(args.address)
    except ValueError as err:
        parser.error(str(err))
    target = target_from(args, host, port)
    try:
        caps = discover(target)
    except (CheckFailed, OSError) as err:
        hint = ""
        if isinstance(err, ClosedEarly | NoReply) and args.proxy is None:
            hint = " (a server behind a load balancer may wait for a PROXY header: try --proxy)"
        print(f"cannot grade {args.address}: {err}{hint}", file=sys.stderr)
        return 1
    protocol = "LMTP" if args.lmtp else "SMTP"
    report = TextReport(
        sys.stdout, f"{protocol} conformance of {args.address}: {len(checks)} checks"
    )
    results = run_checks(target, checks, caps=caps, on_result=report.add)
    report.finish()
    if args.json:
        document = to_json(args.address, results)
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.junit:
        Path(args.junit).write_bytes(to_junit(args.address, results))
    if args.html:
        Path(args.html).write_text(to_html(args.address, results), encoding="utf-8")
    return 1 if failed(results, FAIL_ON[args.fail_on]) else 0
