"""docker/compose-ci.sh and docker/ci/compose.ci.yaml stay in step with docker/compose.yaml.

The script starts compose.yaml's services itself, in depends_on order (Debian's podman cannot wait on
``service_healthy``), and its override file changes only what it says. These tests read the files
(no podman): a service added to compose.yaml, a new dependency or an override that grew would
otherwise only show on the next podman run in CI.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.docker

DOCKER = Path(__file__).resolve().parents[1] / "docker"


class _Tagged:
    """A value under podman-compose's ``!override`` or ``!reset`` tag."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag, self.value = tag, value


class _OverrideLoader(yaml.SafeLoader):
    pass


def _tagged(tag: str) -> Callable[[yaml.SafeLoader, yaml.Node], _Tagged]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> _Tagged:
        if isinstance(node, yaml.SequenceNode):
            return _Tagged(tag, loader.construct_sequence(node))
        if isinstance(node, yaml.MappingNode):
            return _Tagged(tag, loader.construct_mapping(node))
        return _Tagged(tag, loader.construct_scalar(node))

    return construct


_OverrideLoader.add_constructor("!override", _tagged("!override"))
_OverrideLoader.add_constructor("!reset", _tagged("!reset"))


def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]


def override() -> dict[str, Any]:
    return yaml.load((DOCKER / "ci" / "compose.ci.yaml").read_text(), Loader=_OverrideLoader)["services"]


def script() -> str:
    return (DOCKER / "compose-ci.sh").read_text()


def up_order(text: str) -> list[list[str]]:
    """The services of each ``pc up -d --no-deps ...`` line, in the script's order."""
    return [line.split() for line in re.findall(r"^pc up -d --no-deps (.+)$", text, flags=re.M)]


def check_order(services: dict[str, Any], text: str) -> list[str]:
    """What the script's bring-up gets wrong about compose.yaml's services and depends_on."""
    problems = []
    started: list[str] = []
    for batch in up_order(text):
        for name in batch:
            if name not in services:
                problems.append(f"{name}: started but not in compose.yaml")
                continue
            deps = services[name].get("depends_on", {})
            for dep, spec in deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps):
                if dep not in started:
                    problems.append(f"{name}: started before its dependency {dep}")
                condition = spec.get("condition", "service_started")
                if condition == "service_healthy" and not re.search(rf"^wait_healthy {re.escape(dep)} ", text, re.M):
                    problems.append(f"{name}: needs {dep} healthy; the script never runs its healthcheck")
                if condition == "service_completed_successfully" and f'podman wait "$(cname {dep})"' not in text:
                    problems.append(f"{name}: needs {dep} completed; the script never waits for it")
        started += batch
    wanted = {n for n, s in services.items() if not s.get("profiles")}
    problems += [f"{n}: never started" for n in sorted(wanted - set(started))]
    problems += [f"{n}: started twice" for n in sorted({n for n in started if started.count(n) > 1})]
    return problems


def test_the_script_starts_every_service_after_what_it_depends_on() -> None:
    assert check_order(compose(), script()) == []
    assert up_order(script())[0] == ["postgres"]


def test_the_order_check_fails_on_a_dependency_started_late_or_a_service_left_out() -> None:
    text = script()
    swapped = text.replace("pc up -d --no-deps postgres\n", "").replace(
        "pc up -d --no-deps migrate\n", "pc up -d --no-deps migrate\npc up -d --no-deps postgres\n"
    )
    assert "migrate: started before its dependency postgres" in check_order(compose(), swapped)
    services = {**compose(), "extra": {"image": "x:1.0", "depends_on": {"postgres": {"condition": "service_healthy"}}}}
    assert "extra: never started" in check_order(services, text)
    no_wait = text.replace("wait_healthy ray-head ", "true ")
    assert "ray-worker: needs ray-head healthy; the script never runs its healthcheck" in check_order(
        compose(), no_wait
    )


def test_the_override_only_drops_the_gpu_and_moves_published_ports_to_loopback() -> None:
    services, over = compose(), override()
    assert set(over) <= set(services)
    for name, changes in over.items():
        assert set(changes) <= {"ports", "deploy"}, name
        if "deploy" in changes:
            assert changes["deploy"].tag == "!reset"
            assert "nvidia" in str(services[name]["deploy"])
        if "ports" in changes:
            assert changes["ports"].tag == "!override"
            ours = [p.rsplit(":", 1) for p in changes["ports"].value]
            theirs = [p.rsplit(":", 1) for p in services[name]["ports"]]
            assert [c for _, c in ours] == [c for _, c in theirs], name  # same container ports
            assert all(host.startswith("127.0.0.1:${LORASWEEP_CI_") for host, _ in ours), name
            assert all(re.search(rf"\${{{v}}}", script()) for v in re.findall(r"\$\{(\w+)\}", str(ours))), name
    assert "deploy" in over["ray-worker"]


def test_the_script_tears_down_on_every_exit_and_masks_the_secrets() -> None:
    text = script()
    assert "trap cleanup EXIT" in text
    assert "down --volumes" in text
    assert re.search(r'exec > >\(sed -u -e "s/\$DB_PASSWORD/\*\*\*/g" -e "s/\$RAY_TOKEN/\*\*\*/g"\) 2>&1', text)
    # the masking starts before anything runs that could print a secret
    assert text.index("exec > >(sed") < text.index("bash docker/ci.sh --image-only")
