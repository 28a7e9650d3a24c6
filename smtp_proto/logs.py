"""Logging for the session layer: the `smtp_proto` logger with a session id on every record.

Only the session layer and the transports log; the protocol core never does.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, Final

LOGGER: Final = logging.getLogger("smtp_proto")


class SessionLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes each message with `[session_id]` and sets `record.session_id`."""

    def __init__(self, session_id: str, logger: logging.Logger = LOGGER) -> None:
        super().__init__(logger, {"session_id": session_id})
        self.session_id = session_id

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Add the session id to the record's `extra` and to the message text."""
        kwargs["extra"] = {**(kwargs.get("extra") or {}), "session_id": self.session_id}
        return f"[{self.session_id}] {msg}", kwargs
