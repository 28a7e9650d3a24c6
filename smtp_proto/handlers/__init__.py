"""Ready-made handlers: store messages into a Maildir, or keep them in memory."""

from smtp_proto.handlers.maildir import MaildirHandler, received_header, received_protocol
from smtp_proto.handlers.sink import SinkHandler, StoredMessage

__all__ = [
    "MaildirHandler",
    "SinkHandler",
    "StoredMessage",
    "received_header",
    "received_protocol",
]
