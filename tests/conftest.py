"""Test-wide settings: Hypothesis profiles, picked by HYPOTHESIS_PROFILE (default `dev`).

`ci` is derandomized and has no deadline, so a run on a slow machine is repeatable;
`deep` runs many more examples, for hunting bugs by hand.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.register_profile("deep", deadline=None, max_examples=5000)  # bug hunting by hand
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
