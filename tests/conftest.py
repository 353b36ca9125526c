"""Hypothesis profiles. CI runs HYPOTHESIS_PROFILE=ci: the same examples every run (derandomize),
so a clean clone passes or fails the same way twice; a developer's run ('dev', the default)
draws new examples each time and keeps the failing ones in .hypothesis/ to replay."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("dev")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
