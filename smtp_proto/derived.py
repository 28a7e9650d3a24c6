"""What the core derives from a `ServerConfig`: built once per config, shared by sessions.

A config never changes, so neither does anything computed from it; each session used to
rebuild these (line limits, the greeting, the capability list) before its first byte.
"""

from __future__ import annotations

from smtp_proto.config import ServerConfig
from smtp_proto.ehlo import capabilities, param_keywords
from smtp_proto.replies import Reply
from smtp_proto.state import LINE_ALLOWANCE, Verb


class Derived:
    """Per-config values; `of(config)` returns the one instance for `config`."""

    __slots__ = ("_capabilities", "_keywords", "config", "greeting", "line_limits", "max_line")

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
        self._keywords: dict[bool, frozenset[str]] = {}
        self._capabilities: dict[tuple[bool, bool], tuple[str, ...]] = {}

    @staticmethod
    def of(config: ServerConfig) -> Derived:
        """The values derived from `config`, built on first use."""
        derived = config._derived
        if not isinstance(derived, Derived):
            derived = Derived(config)
            object.__setattr__(config, "_derived", derived)  # a cache, not a change
        return derived

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
