"""The build backend: setuptools', asking for mypy too when SMTP_PROTO_COMPILE=1 (mypyc,
which compiles the core, comes with it); see setup.py."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 (every hook setuptools defines)

_VARIABLE = "SMTP_PROTO_COMPILE"
MYPYC = "mypy==2.4.1"  # the release the code is checked with


def _plus_mypyc(
    hook: Callable[[dict[str, Any] | None], list[str]], settings: dict[str, Any] | None
) -> list[str]:
    compiling = os.environ.get(_VARIABLE) == "1"
    # setuptools runs setup.py to answer, before mypy is there: ask it as for a plain build.
    saved = os.environ.pop(_VARIABLE, None)
    try:
        needs = list(hook(settings))
    finally:
        if saved is not None:
            os.environ[_VARIABLE] = saved
    return [*needs, MYPYC] if compiling else needs


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    """setuptools' requirements, plus mypy when compiling."""
    return _plus_mypyc(_setuptools.get_requires_for_build_wheel, config_settings)


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    """setuptools' requirements, plus mypy when compiling."""
    return _plus_mypyc(_setuptools.get_requires_for_build_editable, config_settings)
