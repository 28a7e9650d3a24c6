"""The `--relay` options of `smtp-proto serve`: read and checked into `RelayHandler`'s
arguments, each error naming its option."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path
from typing import Any

from smtp_proto.handlers.relay import DEFAULT_TIMEOUT as RELAY_TIMEOUT
from smtp_proto.handlers.relay import LMTP_PORT, RelayTls
from transports import cli_checks
from transports.cli_checks import CliError as UsageError


def add_options(p: argparse.ArgumentParser) -> None:
    relay = p.add_argument_group("relaying (instead of a Maildir)")
    relay.add_argument(
        "--relay",
        metavar="HOST[:PORT]",
        help="forward every message to this server; it is asked before each reply",
    )
    relay.add_argument(
        "--relay-tls",
        choices=tuple(mode.value for mode in RelayTls),
        default=RelayTls.STARTTLS.value,
        help="starttls (default; required, certificate verified), implicit or off",
    )
    relay.add_argument("--relay-ca", type=Path, metavar="PEM", help="trust these CAs upstream")
    relay.add_argument("--relay-auth", metavar="USER:PASSWORD", help="log in upstream")
    relay.add_argument("--relay-lmtp", action="store_true", help="speak LMTP upstream (port 24)")
    relay.add_argument(
        "--relay-timeout",
        type=cli_checks.seconds,
        default=RELAY_TIMEOUT,
        metavar="SECONDS",
        help=f"for each upstream connect and reply; default {RELAY_TIMEOUT:g}",
    )


def check_use(args: argparse.Namespace) -> None:
    """UsageError for relay options that cannot go together with the others."""
    if args.relay is not None and args.maildir is not None:
        raise UsageError("--relay forwards instead of storing: drop --maildir")
    if args.relay is None:
        for name in ("relay_auth", "relay_ca", "relay_lmtp"):
            if getattr(args, name):
                raise UsageError(f"--{name.replace('_', '-')} needs --relay HOST[:PORT]")


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """`RelayHandler`'s arguments from --relay and its options (UsageError when bad)."""
    if args.transport == "gevent":
        raise UsageError("--relay waits for the upstream in its hooks: use --transport threads")
    host, port = address(args.relay, LMTP_PORT if args.relay_lmtp else None)
    tls = RelayTls(args.relay_tls)
    auth = None
    if args.relay_auth is not None:
        user, sep, password = args.relay_auth.partition(":")
        if not sep or not user or not password:
            raise UsageError(f"--relay-auth {user}:...: expected USER:PASSWORD")
        if tls is RelayTls.OFF:
            raise UsageError("--relay-auth needs --relay-tls starttls or implicit")
        auth = (user, password)
    context = None
    if args.relay_ca is not None:
        try:
            context = ssl.create_default_context(cafile=args.relay_ca)
        except ssl.SSLError as err:
            raise UsageError(
                f"--relay-ca {args.relay_ca}: no CA certificate ({err.reason})"
            ) from err
        except OSError as err:
            raise UsageError(f"--relay-ca {args.relay_ca}: {err.strerror or err}") from err
    return {
        "host": host,
        "port": port,
        "tls": tls,
        "ssl_context": context,
        "auth": auth,
        "lmtp": args.relay_lmtp,
        "timeout": args.relay_timeout,
    }


def address(text: str, default_port: int | None) -> tuple[str, int | None]:
    """HOST, HOST:PORT or [IPv6]:PORT (a path for an LMTP Unix socket)."""
    if text.startswith("/"):
        return text, None
    host, sep, port = text.rpartition(":")
    if not sep or (":" in host and not host.startswith("[")):
        host, port = text, ""  # no port, or a bare IPv6 address
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise UsageError(f"--relay {text}: expected HOST[:PORT]")
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--relay {text}: bad port {port!r}, expected 1..65535")
    return host, int(port)
