"""An RFC conformance and robustness suite that grades any SMTP server over raw bytes.

It never imports `smtp_proto` or `transports`: it parses replies itself.
"""

from conformance.target import Target

__all__ = ["Target"]
