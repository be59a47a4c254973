"""lorasweep's one adapter to Ray Tune, on Ray's public API only (``tests/test_public_apis.py``
checks it). No other lorasweep module imports ``ray`` (``tests/test_imports.py`` checks it), so the
installed Ray is checked here, against :data:`RAY_REQUIREMENT`, the range lorasweep is tested with.

- :mod:`.keys`: the keys lorasweep adds to a Tune trial's config (plain Python, no Ray import);
- :mod:`.trainable`: the Tune function around :func:`lorasweep.train.train.run_trial`;
- :mod:`.searchers`: lorasweep's Tune searcher on Optuna's ask-and-tell API (one per study), and
  the searcher that interleaves every study of an experiment in one Tune run;
- :mod:`.schedulers`: Tune schedulers by name, one per study, and the router between them;
- :mod:`.callbacks`: the store and progress callbacks (in the driver);
- :mod:`.tuner`: starting Ray and the Tune runs themselves.

Importing this package does not import Ray.
"""

from __future__ import annotations

import re
from importlib import metadata

from lorasweep.errors import LorasweepError

#: The Ray releases lorasweep supports: constraints.txt pins the newest (CI's main suite),
#: constraints-oldest.txt the oldest (.ci/oldest-ray); pyproject.toml states the same requirement,
#: and a test compares them. Below 2.45 is untested.
RAY_REQUIREMENT = "ray[default,tune]>=2.45,<2.61"
#: The same range as (major, minor) bounds: at least the first, below the second.
RAY_RANGE = ((2, 45), (2, 61))


def _release(version: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        raise LorasweepError(f"cannot read the installed Ray version {version!r}; install {RAY_REQUIREMENT}")
    return int(match[1]), int(match[2])


def ray_version_problem(version: str) -> str | None:
    """Why Ray ``version`` is not one lorasweep is tested with (None if it is)."""
    low, below = RAY_RANGE
    if low <= _release(version) < below:
        return None
    return (
        f"Ray {version} is installed, but lorasweep is tested with {RAY_REQUIREMENT.split(']')[1]} only "
        f"(the releases its tests run on); install '{RAY_REQUIREMENT}'"
    )


def installed_ray_version() -> str:
    try:
        return metadata.version("ray")
    except metadata.PackageNotFoundError as e:
        raise LorasweepError(f"Ray is not installed; install '{RAY_REQUIREMENT}'") from e


def check_ray_version(version: str | None = None) -> None:
    """Refuse a Ray outside the tested range, with one line that says which to install."""
    problem = ray_version_problem(version if version is not None else installed_ray_version())
    if problem is not None:
        raise LorasweepError(problem)
