"""Optional: the protocol core compiled to C with mypyc (SMTP_PROTO_COMPILE=1).

Metadata lives in pyproject.toml. Without the variable this adds nothing and the package
is pure Python; with it, the modules below become C extensions beside their sources
(which Python then imports first), and a C compiler is needed.
"""

from __future__ import annotations

import os

from setuptools import setup

# The modules every message passes through; the others (the handler, errors, config) are
# subclassed or built by applications and stay plain Python.
COMPILED = [
    "address",
    "bdat",
    "commands",
    "config_values",
    "connection",
    "context",
    "data",
    "driver",
    "ehlo",
    "events",
    "params",
    "replies",
    "sasl",
    "session",
    "state",
]


def _extensions() -> list[object]:
    if os.environ.get("SMTP_PROTO_COMPILE") != "1":
        return []
    from mypyc.build import mypycify

    return list(mypycify([f"smtp_proto/{name}.py" for name in COMPILED], opt_level="3"))


if __name__ == "__main__":  # setuptools runs it so; tests import COMPILED
    setup(ext_modules=_extensions())
