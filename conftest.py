"""Settings shared by every test directory of the repository.

Hypothesis' per-example deadline and its "too slow" health check measure the machine, not the
code: under coverage on a busy 2-core CI machine a correct property can take longer than
200 ms per example. Speed is checked by the benchmarks in ``bench/``, so the project's tests
run without them. (The contract suite sets its own seeded settings per property.)
"""

from __future__ import annotations

from hypothesis import HealthCheck
from hypothesis import settings

settings.register_profile(
    "lmux-plug-tests", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("lmux-plug-tests")
