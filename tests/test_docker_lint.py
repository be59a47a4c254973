"""tools/docker_lint.py: the repository's docker/ is clean, and each checker fails on a bad snippet."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tools.docker_lint import (
    DOCKER,
    LIBRARY_ENV,
    ROOT,
    Parsed,
    base_image,
    check_commands,
    compose_env,
    compose_problems,
    compose_service_problems,
    dockerfile_env,
    dockerfile_problems,
    env_file,
    env_problems,
    literal_secret_problems,
    load_yaml,
    main,
    parse_dockerfile,
    problems,
    rayjob_env,
    rayjob_problems,
    service_commands,
)

pytestmark = pytest.mark.docker

# -- the files in docker/ ------------------------------------------------------------------------


def test_the_tool_finds_docker_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert problems() == []
    assert main([]) == 0
    assert capsys.readouterr().out == ""


def test_the_tool_prints_each_problem_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docker = tmp_path / "docker"
    shutil.copytree(DOCKER, docker)
    compose = docker / "compose.yaml"
    compose.write_text(compose.read_text().replace("127.0.0.1:", "0.0.0.0:"))
    (docker / ".env.example").write_text("POSTGRES_PASSWORD=hunter2\n")
    assert main([str(docker)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any("0.0.0.0" in line or "127.0.0.1" in line for line in out), out
    assert any(".env.example" in line and "POSTGRES_PASSWORD" in line for line in out), out
    (docker / "rayjob.yaml").unlink()
    assert problems(docker) == [f"{docker / 'rayjob.yaml'}: missing"]


def test_files_exist() -> None:
    for name in ("Dockerfile", "compose.yaml", "rayjob.yaml", "README.md", ".env.example"):
        assert (DOCKER / name).is_file(), name


def test_dockerfile() -> None:
    assert dockerfile_problems((DOCKER / "Dockerfile").read_text()) == []


def test_compose_secrets_images_and_ports() -> None:
    assert compose_problems(load_yaml("compose.yaml"), (DOCKER / "compose.yaml").read_text()) == []


def test_compose_services() -> None:
    assert compose_service_problems(load_yaml("compose.yaml")) == []


def test_compose_commands_parse() -> None:
    doc = load_yaml("compose.yaml")
    parsed = Parsed()
    for name, service in doc["services"].items():
        for argv in service_commands(service):
            check_commands(argv, f"compose {name}", parsed)
    assert parsed.problems == []
    ran = {ctx.command_path for ctx in [*parsed.lorasweep, *parsed.submitted]}
    assert {"lorasweep db upgrade", "lorasweep dashboard", "lorasweep compare"} <= ran
    assert {"ray start", "ray job submit", "ray status"} <= {ctx.command_path for ctx in parsed.ray}


def test_rayjob() -> None:
    docs = list(yaml.safe_load_all((DOCKER / "rayjob.yaml").read_text()))
    assert len(docs) == 1
    assert not any(d.get("kind") == "Secret" for d in docs)  # the password Secret is created apart
    assert rayjob_problems(docs[0], (DOCKER / "rayjob.yaml").read_text()) == []


def test_env_example_has_no_secrets() -> None:
    env = env_file(DOCKER / ".env.example")
    assert literal_secret_problems(env, ".env.example") == []


def test_every_env_var_is_read() -> None:
    """Fails until lorasweep reads each LORASWEEP_* variable the files set (a string literal)."""
    env = {
        **dict.fromkeys(dockerfile_env(parse_dockerfile((DOCKER / "Dockerfile").read_text())), "Dockerfile ENV"),
        **compose_env(load_yaml("compose.yaml")),
        **dict.fromkeys(env_file(DOCKER / ".env.example"), ".env.example"),
        **rayjob_env(load_yaml("rayjob.yaml")),
    }
    assert {"LORASWEEP_STORAGE", "LORASWEEP_DB_PASSWORD_FILE", "RAY_USAGE_STATS_ENABLED", "HF_HOME"} <= set(env)
    assert env_problems(env) == []


# -- the checkers fail on bad input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["lorasweep", "compare", "--gpus", "2"], "--gpus"),
        (["lorasweep", "sweep"], "sweep"),
        (["lorasweep", "dashboard", "--port", "http"], "http"),
        (["lorasweep", "db"], "COMMAND"),
        (["sh", "-c", "lorasweep db upgrade && exec lorasweep report --bogus"], "--bogus"),
        (["ray", "job", "submit", "--", "lorasweep", "compare", "--nope"], "--nope"),
        (["ray", "start", "--head", "--port", "12000", "--block"], "worker port range"),
        (["ray", "start", "--adress", "ray-head:26379"], "--adress"),
    ],
)
def test_command_checker_rejects(argv: list[str], expected: str) -> None:
    problems = check_commands(argv, "snippet").problems
    assert len(problems) == 1 and expected in problems[0], problems


def test_command_checker_accepts() -> None:
    parsed = check_commands(["sh", "-c", "lorasweep db upgrade --storage sqlite:///x.db && lorasweep spaces list"], "")
    assert parsed.problems == []
    assert [c.command_path for c in parsed.lorasweep] == ["lorasweep db upgrade", "lorasweep spaces list"]


BAD_DOCKERFILE = """\
FROM pytorch/pytorch:latest
ENV HF_HOME=/root/.cache/huggingface PGPASSWORD=hunter2
RUN pip install -c constraints.txt .
USER root
CMD ["lorasweep", "compare", "--trails", "4"]
"""


def test_dockerfile_checker_rejects() -> None:
    problems = "\n".join(dockerfile_problems(BAD_DOCKERFILE))
    for expected in ("not pinned", "non-root", "RAY_USAGE_STATS_ENABLED", "HF_HOME", "torch pin", "pip check"):
        assert expected in problems
    assert "PGPASSWORD is set to a literal" in problems
    assert "--trails" in problems
    assert "runs no lorasweep" in dockerfile_problems('FROM python:3.11.9\nUSER 1000\nCMD ["true"]\n')[-1]


def test_dockerfile_parser() -> None:
    ins = parse_dockerfile('ARG B=img:1.2.3\nFROM ${B}\n# c\nRUN a \\\n  # inner\n  && b\nENV A=1 B="x y"\nENV C 2\n')
    assert [i.keyword for i in ins] == ["ARG", "FROM", "RUN", "ENV", "ENV"]
    assert ins[2].args == "a && b" and ins[2].line == 4
    assert base_image(ins) == "img:1.2.3"
    assert dockerfile_env(ins) == {"A": "1", "B": "x y", "C": "2"}


BAD_COMPOSE = """\
services:
  postgres:
    image: postgres:latest
    environment:
      POSTGRES_PASSWORD: hunter2
      LORASWEEP_STORAGE: postgresql+psycopg://lorasweep:hunter2@postgres/lorasweep
    ports: ["5432:5432", "0.0.0.0:8265:8265", "127.0.0.1:12345:12345"]
  dashboard:
    image: lorasweep
    environment:
      LORASWEEP_DB_PASSWORD_FILE: /run/secrets/db_password
secrets:
  db_password:
    environment: DB_PASSWORD
"""


def test_compose_checker_rejects() -> None:
    problems = "\n".join(compose_problems(yaml.safe_load(BAD_COMPOSE), BAD_COMPOSE))
    assert "POSTGRES_PASSWORD is set to a literal" in problems
    assert "URL carries a password" in problems and "holds a URL with a password" in problems
    assert problems.count("all interfaces") == 2
    assert "12345" in problems and "worker range" in problems
    assert "'postgres:latest' is not pinned" in problems and "'lorasweep' is not pinned" in problems
    assert "secret db_password: must come from a file" in problems
    assert "secret db_password is not attached" in problems
    services = "\n".join(compose_service_problems(yaml.safe_load(BAD_COMPOSE)))
    assert "missing" in services


def test_compose_service_checker_rejects() -> None:
    doc = load_yaml("compose.yaml")
    del doc["services"]["postgres"]["healthcheck"]
    doc["services"]["postgres"]["volumes"] = ["./pgdata:/var/lib/postgresql/data"]
    del doc["services"]["ray-worker"]["deploy"]
    doc["services"]["ray-worker"]["environment"]["RAY_AUTH_MODE"] = "disabled"
    doc["services"]["dashboard"]["ports"] = ["8080:8080"]
    doc["services"]["dashboard"]["environment"]["LORASWEEP_STORAGE"] = "sqlite:///other.db"
    problems = "\n".join(compose_service_problems(doc))
    for expected in ("pg_isready", "named volume", "GPU reservation", "RAY_AUTH_MODE", "127.0.0.1 only", "disagree"):
        assert expected in problems


def test_rayjob_checker_rejects() -> None:
    doc = load_yaml("rayjob.yaml")
    spec = doc["spec"]
    spec["shutdownAfterJobFinishes"] = False
    spec["entrypoint"] = "lorasweep compare --config default --storage-url x"
    spec["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["port"] = "10005"
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["env"].append({"name": "PGPASSWORD", "value": "hunter2"})
    head["ports"].append({"containerPort": 8080, "hostPort": 8080})
    worker = spec["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    worker["resources"]["limits"].pop("nvidia.com/gpu")
    worker["image"] = "registry.example.com/lorasweep:latest"
    problems = "\n".join(rayjob_problems(doc, yaml.safe_dump(doc)))
    for expected in (
        "shutdownAfterJobFinishes",
        "--storage-url",
        "port=10005",
        "PGPASSWORD",
        "hostPort",
        "nvidia.com/gpu",
    ):
        assert expected in problems
    assert "not pinned" in problems and "same image" in problems


def test_env_checker_rejects() -> None:
    assert not [name for name in LIBRARY_ENV if name.startswith("LORASWEEP_")]  # lorasweep's own must be read
    problems = env_problems({"LORASWEEP_NOT_A_SETTING": "compose x", "HF_HOME": "Dockerfile", "TOTALLY_UNKNOWN": "y"})
    assert len(problems) == 2
    assert "LORASWEEP_NOT_A_SETTING" in problems[0] and "TOTALLY_UNKNOWN" in problems[1]


def test_dockerignore_keeps_the_venv_git_and_secrets_out_of_the_build_context() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git", "docker/secrets", "docker/.env"} <= patterns


def test_the_readme_docker_run_sizes_shared_memory() -> None:
    runs = [line for line in (DOCKER / "README.md").read_text().splitlines() if "docker run" in line]
    assert runs and all("--shm-size" in line for line in runs)
