"""The compiled core (SMTP_PROTO_COMPILE=1, setup.py) is the one running when a run says
it expects it, so a test run meant for it cannot pass on plain Python by mistake."""

from __future__ import annotations

import importlib
import os
from importlib.machinery import EXTENSION_SUFFIXES

import pytest

import smtp_proto
from setup import COMPILED

pytestmark = pytest.mark.skipif(
    os.environ.get("SMTP_PROTO_EXPECT_COMPILED") != "1",
    reason="for runs against the compiled core (SMTP_PROTO_EXPECT_COMPILED=1)",
)


@pytest.mark.parametrize("name", COMPILED)
def test_every_listed_module_is_compiled(name: str) -> None:
    module = importlib.import_module(f"smtp_proto.{name}")
    assert str(module.__file__).endswith(tuple(EXTENSION_SUFFIXES))


def test_the_package_says_so() -> None:
    assert smtp_proto.COMPILED
