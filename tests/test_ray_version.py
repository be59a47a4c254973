"""lorasweep runs on the Ray it is tested with: pyproject.toml, the adapter's check and the
installed Ray agree."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from lorasweep.errors import LorasweepError
from lorasweep.search.ray_adapter import RAY_RANGE, RAY_REQUIREMENT, check_ray_version, ray_version_problem

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_installed_ray_is_in_the_tested_range() -> None:
    installed = metadata.version("ray")
    problem = ray_version_problem(installed)
    assert problem is None, f"{problem} (pip install -c constraints.txt -e . installs the tested one)"


def test_pyproject_requires_the_range_the_adapter_checks() -> None:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    ray = [d for d in deps if d.startswith("ray")]
    assert ray == [RAY_REQUIREMENT]


def _pin(constraints: str, package: str) -> str:
    pins = [
        line.split("==")[1]
        for line in (PYPROJECT.parent / constraints).read_text().split()
        if line.startswith(f"{package}==")
    ]
    assert len(pins) == 1, f"{constraints} pins {package} {len(pins)} times"
    return pins[0]


def test_the_constraints_pin_both_ends_of_the_range() -> None:
    """constraints.txt (CI's main suite) pins the newest supported Ray, constraints-oldest.txt
    (.ci/oldest-ray) the oldest: both ends are tested."""
    (low_major, low_minor), (below_major, below_minor) = RAY_RANGE
    newest, oldest = _pin("constraints.txt", "ray"), _pin("constraints-oldest.txt", "ray")
    assert ray_version_problem(newest) is None and ray_version_problem(oldest) is None
    assert oldest.startswith(f"{low_major}.{low_minor}.")
    assert newest.startswith(f"{below_major}.{below_minor - 1}.")
    optuna = [d for d in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"] if d.startswith("optuna>")]
    assert optuna == [f"optuna>={'.'.join(_pin('constraints-oldest.txt', 'optuna').split('.')[:2])}"]


@pytest.mark.parametrize("version", ["2.44.1", "2.61.0", "3.0.0.dev0", "1.13.0"])
def test_another_ray_is_refused_with_one_line_that_says_what_to_install(version: str) -> None:
    with pytest.raises(LorasweepError) as e:
        check_ray_version(version)
    message = str(e.value)
    assert "\n" not in message
    assert f"Ray {version} is installed" in message and RAY_REQUIREMENT in message


@pytest.mark.parametrize("version", ["2.45.0", "2.52.1", "2.60.0", "2.60.3"])
def test_a_tested_ray_passes(version: str) -> None:
    check_ray_version(version)
