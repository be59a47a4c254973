"""lorasweep runs on the Ray it is tested with: pyproject.toml, the adapter's check and the
installed Ray agree."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from lorasweep.errors import LorasweepError
from lorasweep.search.ray_adapter import RAY_REQUIREMENT, check_ray_version, ray_version_problem

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_installed_ray_is_in_the_tested_range() -> None:
    installed = metadata.version("ray")
    problem = ray_version_problem(installed)
    assert problem is None, f"{problem} (pip install -c constraints.txt -e . installs the tested one)"


def test_pyproject_requires_the_range_the_adapter_checks() -> None:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    ray = [d for d in deps if d.startswith("ray")]
    assert ray == [RAY_REQUIREMENT]


def test_constraints_pin_a_ray_inside_the_range() -> None:
    pins = [
        line.split("==")[1]
        for line in (PYPROJECT.parent / "constraints.txt").read_text().split()
        if line.startswith("ray==")
    ]
    assert len(pins) == 1 and ray_version_problem(pins[0]) is None


@pytest.mark.parametrize("version", ["2.59.1", "2.61.0", "3.0.0.dev0", "1.13.0"])
def test_another_ray_is_refused_with_one_line_that_says_what_to_install(version: str) -> None:
    with pytest.raises(LorasweepError) as e:
        check_ray_version(version)
    message = str(e.value)
    assert "\n" not in message
    assert f"Ray {version} is installed" in message and RAY_REQUIREMENT in message


@pytest.mark.parametrize("version", ["2.60.0", "2.60.3"])
def test_a_tested_ray_passes(version: str) -> None:
    check_ray_version(version)
