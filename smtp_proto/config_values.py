"""Values the core computes from a `ServerConfig`: built once per config, shared by sessions.

A config never changes, so neither does anything computed from it; each session used to
rebuild these (line limits, the greeting, the capability list) before its first byte.
They are kept here, keyed by the config's identity, not in the frozen config itself.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from smtp_proto.config import ServerConfig
from smtp_proto.ehlo import capabilities, param_keywords
from smtp_proto.replies import Reply
from smtp_proto.state import LINE_ALLOWANCE, Verb

_KEPT: Final = 64  # configs whose values are kept; a server uses one or two


class ConfigValues:
    """Per-config values; `of(config)` returns the one instance for `config`."""

    __slots__ = (
        "_capabilities",
        "_keywords",
        "config",
        "greeting",
        "line_limits",
        "max_line",
        "proxy_trusted",
        "xclient_trusted",
    )

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        limits = config.limits
        mail_line = limits.command_line + sum(
            LINE_ALLOWANCE.get(k, 0) for k in param_keywords(config, encrypted=True)
        )
        self.max_line = max(limits.auth_line, mail_line)  # no command line is longer
        # Verbs whose lines may be longer than a plain command line.
        self.line_limits: dict[Verb | None, int] = {
            Verb.MAIL: mail_line,
            Verb.RCPT: mail_line,
            Verb.AUTH: limits.auth_line,
        }
        self.greeting = Reply(220, (f"{config.hostname} {config.greeting}",))
        self.proxy_trusted = tuple(ipaddress.ip_network(n) for n in config.proxy_trusted)
        self.xclient_trusted = tuple(ipaddress.ip_network(n) for n in config.xclient_trusted)
        self._keywords: dict[bool, frozenset[str]] = {}
        self._capabilities: dict[tuple[bool, bool], tuple[str, ...]] = {}

    @staticmethod
    def of(config: ServerConfig) -> ConfigValues:
        """The values computed from `config`, built on first use."""
        # By identity: hashing a config field by field would cost more than the lookup saves.
        found = _BY_ID.get(id(config))
        if found is not None and found.config is config:
            return found
        values = ConfigValues(config)  # the config is kept alive here, so its id is not reused
        if len(_BY_ID) >= _KEPT:
            del _BY_ID[next(iter(_BY_ID))]  # the oldest: dicts keep insertion order
        _BY_ID[id(config)] = values
        return values

    def trusts_proxy(self, address: str) -> bool:
        """Whether a PROXY header from `address` is believed (`ServerConfig.proxy_trusted`)."""
        return _within(address, self.proxy_trusted)

    def trusts_xclient(self, address: str) -> bool:
        """Whether `address` may send XCLIENT by the config (`ServerConfig.xclient_trusted`)."""
        return bool(self.xclient_trusted) and _within(address, self.xclient_trusted)

    def keywords(self, *, encrypted: bool) -> frozenset[str]:
        """`param_keywords` of the config (STARTTLS may let AUTH= in)."""
        found = self._keywords.get(encrypted)
        if found is None:
            found = self._keywords[encrypted] = param_keywords(self.config, encrypted=encrypted)
        return found

    def capabilities(self, *, encrypted: bool, cram_md5: bool) -> tuple[str, ...]:
        """The EHLO keyword lines, as `ehlo.capabilities` gives them."""
        key = (encrypted, cram_md5)
        found = self._capabilities.get(key)
        if found is None:
            found = self._capabilities[key] = tuple(
                capabilities(self.config, encrypted=encrypted, cram_md5=cram_md5)
            )
        return found


_BY_ID: dict[int, ConfigValues] = {}


def _within(
    address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
