#!/usr/bin/env bash
# docker/compose.yaml's stack, brought up for real (issue 24) on a Debian machine without a
# container registry or a Docker engine, and one compare run on it through `ray job submit`:
#
#   1. podman, the local Debian base and the lorasweep image: `docker/ci.sh --image-only` (same
#      LORASWEEP_CI_DIR, so a first run builds them and later runs reuse podman's layer cache);
#   2. podman-compose (pinned, from PyPI) in a venv of its own under LORASWEEP_CI_DIR;
#   3. stand-ins for the registry images compose.yaml names, tagged with those names in the CI
#      storage: PostgreSQL 15 from Debian's package on the local base (docker/ci/postgres/, started
#      the way the official image's POSTGRES_USER / POSTGRES_DB / POSTGRES_PASSWORD_FILE say), and
#      the lorasweep image under compose's tag;
#   4. the stack (postgres, migrate, ray-head, ray-worker, dashboard) with compose.yaml as it is plus
#      docker/ci/compose.ci.yaml (no GPU reservation; published ports moved to free ones), secrets
#      made fresh for the run. Debian's podman 4.3 cannot wait on `service_healthy` (podman-compose
#      skips it below podman 4.6) and runs healthchecks from systemd timers (no systemd here), so
#      this script starts the services in compose.yaml's depends_on order itself and runs each
#      compose healthcheck with `podman healthcheck run` until it passes;
#   5. `ray job submit` of docker/ci/tiny.yaml from compose's `sweep` service (working dir uploaded);
#      the job must SUCCEED; the database is then read from the host (`lorasweep report --storage
#      postgresql+psycopg://lorasweep@<postgres>/lorasweep`, password from the secret file) and
#      the experiment must be complete; optuna-dashboard must answer HTTP 200 and list its studies;
#      no container log nor the job's log may hold the database password or the Ray token;
#   6. teardown on every exit (trap): the project's containers, its network, its volume (pgdata)
#      and the run's folder with the secrets. The images stay in the CI storage for the next run.
#
# Usage: bash docker/compose-ci.sh [--reuse-image]   Run as root (or with sudo); nice it on a
# shared machine. --reuse-image skips step 1 when localhost/lorasweep:ci exists (a cached podman
# build still takes ~2 minutes on vfs): for right after docker/ci.sh, as .ci/run calls it (in the
# same conditions: the last commit changed docker/ or the Dockerfile's inputs, or
# LORASWEEP_CI_DOCKER=1).
# Environment: LORASWEEP_CI_DIR (as docker/ci.sh; default /var/tmp/lorasweep-ci),
# LORASWEEP_HOST_BIN (the host's lorasweep; default .venv/bin), and docker/ci.sh's own.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
if [ "$(id -u)" -ne 0 ]; then exec sudo --preserve-env "$0" "$@"; fi
REUSE_IMAGE=0
case "${1:-}" in
  "") ;;
  --reuse-image) REUSE_IMAGE=1 ;;
  *) echo "usage: bash docker/compose-ci.sh [--reuse-image]" >&2; exit 2 ;;
esac

CI_DIR=${LORASWEEP_CI_DIR:-/var/tmp/lorasweep-ci}
HOST_BIN=${LORASWEEP_HOST_BIN:-$ROOT/.venv/bin}
PROJECT=lorasweep-ci
EXPERIMENT=ci-compose
RUN_DIR=$CI_DIR/compose
PC_VENV=$CI_DIR/compose-venv
PODMAN_COMPOSE_VERSION=1.6.0
T0=$SECONDS
step() { printf '\n== [%4ss] %s\n' "$((SECONDS - T0))" "$*"; }
fail() { echo "docker/compose-ci.sh: $*" >&2; exit 1; }

# One run at a time on a CI_DIR: a second one's teardown would remove the first one's stack.
mkdir -p "$CI_DIR"
exec 9>"$CI_DIR/compose-ci.lock"
flock -n 9 || fail "another docker/compose-ci.sh holds $CI_DIR/compose-ci.lock"

# --- secrets first, so that everything after runs with them masked in the output -----------------
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/secrets" "$RUN_DIR/job"
chmod 700 "$RUN_DIR/secrets"
for name in db_password ray_auth_token; do
  python3 -c 'import secrets; print(secrets.token_urlsafe(32), end="")' >"$RUN_DIR/secrets/$name.txt"
done
chmod 644 "$RUN_DIR/secrets/"*.txt # read in the containers by postgres (uid 999) and uid 1000
DB_PASSWORD=$(cat "$RUN_DIR/secrets/db_password.txt")
RAY_TOKEN=$(cat "$RUN_DIR/secrets/ray_auth_token.txt")
# token_urlsafe: [A-Za-z0-9_-] only, so both are literal sed patterns.
exec > >(sed -u -e "s/$DB_PASSWORD/***/g" -e "s/$RAY_TOKEN/***/g") 2>&1

# --- 1. podman, the base, the lorasweep image ------------------------------------------------------
export CONTAINERS_CONF=$CI_DIR/containers.conf CONTAINERS_STORAGE_CONF=$CI_DIR/storage.conf
if [ "$REUSE_IMAGE" = 1 ] && [ -f "$CONTAINERS_CONF" ] && podman image exists localhost/lorasweep:ci; then
  step "reusing localhost/lorasweep:ci (--reuse-image)"
else
  step "bash docker/ci.sh --image-only"
  bash docker/ci.sh --image-only
fi
nofile=$(ulimit -Hn)
ULIMITS=(--ulimit "nofile=${nofile}:${nofile}" --ulimit nproc=32768:32768)

# --- 2. podman-compose ---------------------------------------------------------------------------
if [ "$("$PC_VENV/bin/python" -m pip show podman-compose 2>/dev/null | awk '/^Version:/ {print $2}')" \
  != "$PODMAN_COMPOSE_VERSION" ]; then
  step "podman-compose $PODMAN_COMPOSE_VERSION into $PC_VENV"
  rm -rf "$PC_VENV"
  python3 -m venv "$PC_VENV"
  "$PC_VENV/bin/pip" install -q --disable-pip-version-check "podman-compose==$PODMAN_COMPOSE_VERSION"
fi
pc() {
  "$PC_VENV/bin/podman-compose" --in-pod false --project-name "$PROJECT" \
    -f "$RUN_DIR/compose.yaml" -f "$RUN_DIR/compose.ci.yaml" "$@"
}

# --- 3. stand-ins under compose.yaml's image names -----------------------------------------------
read -r PG_IMAGE LS_IMAGE < <("$PC_VENV/bin/python" - docker/compose.yaml <<'EOF'
import sys, yaml
services = yaml.safe_load(open(sys.argv[1]))["services"]
print(services["postgres"]["image"], services["ray-head"]["image"])
EOF
)
step "stand-in $PG_IMAGE: Debian's PostgreSQL 15 on localhost/lorasweep-base:bookworm"
podman build --network host "${ULIMITS[@]}" --build-arg BASE_IMAGE=localhost/lorasweep-base:bookworm \
  -t "$PG_IMAGE" docker/ci/postgres
podman tag localhost/lorasweep:ci "$LS_IMAGE"
podman image prune -f >/dev/null # earlier builds' untagged images (vfs: GBs each)
for image in "$PG_IMAGE" "$LS_IMAGE"; do
  podman image exists "$image" || fail "$image does not resolve to a local image"
done

# --- 4. the stack ------------------------------------------------------------------------------
cname() {
  podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n 1
}
logs_tail() {
  local c
  for service in postgres migrate ray-head ray-worker dashboard; do
    c=$(cname "$service")
    [ -n "$c" ] || continue
    echo "--- podman logs --tail 40 $c"
    podman logs --tail 40 "$c" 2>&1 || true
  done
}
cleanup() {
  local rc=$?
  trap - EXIT
  set +e
  if [ "$rc" -ne 0 ]; then
    step "failed (exit $rc): the containers' last lines"
    logs_tail
  fi
  step "tear down: containers, network, volumes of project $PROJECT"
  if [ -f "$RUN_DIR/compose.yaml" ]; then
    pc --profile sweep down --volumes --timeout 10 >/dev/null 2>&1
  fi
  podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman rm -f -v -t 5 >/dev/null 2>&1
  podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman volume rm -f >/dev/null 2>&1
  podman network ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman network rm -f >/dev/null 2>&1
  left=$(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" | wc -l)
  [ "$left" -eq 0 ] || echo "docker/compose-ci.sh: $left container(s) of $PROJECT left behind" >&2
  rm -rf "$RUN_DIR"
  step "done (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
LORASWEEP_CI_RAY_PORT=$(free_port)
LORASWEEP_CI_DASHBOARD_PORT=$(free_port)
cp docker/compose.yaml "$RUN_DIR/"
# podman-compose does not interpolate variables under `!override`: the ports are written in here.
sed -e "s/\${LORASWEEP_CI_RAY_PORT}/$LORASWEEP_CI_RAY_PORT/" \
  -e "s/\${LORASWEEP_CI_DASHBOARD_PORT}/$LORASWEEP_CI_DASHBOARD_PORT/" \
  docker/ci/compose.ci.yaml >"$RUN_DIR/compose.ci.yaml"
cp docker/.env.example "$RUN_DIR/.env" # HF_HUB_OFFLINE=1, as the README's `cp .env.example .env`
cp docker/ci/tiny.yaml "$RUN_DIR/job/tiny.yaml"

wait_healthy() { # SERVICE TRIES SLEEP: run the service's compose healthcheck until it passes
  local c
  c=$(cname "$1")
  for _ in $(seq "$2"); do
    if podman healthcheck run "$c" >/dev/null 2>&1; then return 0; fi
    [ "$(podman inspect -f '{{.State.Running}}' "$c")" = true ] || fail "$1 ($c) stopped before it was healthy"
    sleep "$3"
  done
  fail "$1 ($c) not healthy after $(($2 * $3)) s"
}

# vfs copies the whole image for each container: five lorasweep containers (~2.4 GB each) and
# postgres. Refuse to start on a disk that cannot hold them rather than fill a shared machine's.
avail_gb=$(df --output=avail -B1G "$CI_DIR" | tail -n 1 | tr -d ' ')
[ "$avail_gb" -ge 16 ] || fail "$CI_DIR has ${avail_gb} GB free; the stack needs about 16 GB under vfs"

step "up: postgres ($PG_IMAGE), then its healthcheck (pg_isready)"
pc up -d --no-deps postgres
wait_healthy postgres 60 2
step "up: migrate (lorasweep db upgrade), until it exits"
pc up -d --no-deps migrate
migrate_rc=$(podman wait "$(cname migrate)")
podman logs "$(cname migrate)"
[ "$migrate_rc" = 0 ] || fail "migrate exited $migrate_rc"
podman rm "$(cname migrate)" >/dev/null # done; its copy of the image is 2.4 GB under vfs
step "up: ray-head, then its healthcheck (ray status)"
pc up -d --no-deps ray-head
HEAD=$(cname ray-head)
wait_healthy ray-head 60 5
step "up: ray-worker and dashboard; the worker joins the head"
pc up -d --no-deps ray-worker dashboard
nodes=0
for _ in $(seq 60); do
  nodes=$(podman exec "$HEAD" ray status --address 127.0.0.1:26379 2>/dev/null | grep -Ec '^ +1 node_' || true)
  [ "$nodes" -ge 2 ] && break
  sleep 5
done
[ "$nodes" -ge 2 ] || fail "the Ray cluster has $nodes node(s), not 2 (head and worker)"
podman exec "$HEAD" ray status --address 127.0.0.1:26379

# --- 5. one compare through `ray job submit`, then the database, the dashboard, the logs -----------
SUBMISSION=ci-compose-$(date +%s)
step "ray job submit (sweep service) -- lorasweep compare --config tiny.yaml --name $EXPERIMENT"
submit_rc=0
pc --profile sweep run --rm --no-deps -T -v "$RUN_DIR/job:/job:ro" sweep \
  ray job submit --address http://ray-head:8265 --submission-id "$SUBMISSION" --working-dir /job \
  -- lorasweep compare --config tiny.yaml --name "$EXPERIMENT" || submit_rc=$?
status=$(podman exec "$HEAD" python -c '
import sys
from ray.job_submission import JobSubmissionClient
print(JobSubmissionClient("http://127.0.0.1:8265").get_job_status(sys.argv[1]).value)
' "$SUBMISSION" 2>&1 | tail -n 1)
echo "job $SUBMISSION: $status"
[ "$status" = SUCCEEDED ] || fail "job $SUBMISSION is $status, not SUCCEEDED (ray job submit exited $submit_rc)"
[ "$submit_rc" = 0 ] || fail "ray job submit exited $submit_rc although the job succeeded"

step "lorasweep report on the host, from the compose PostgreSQL"
PG_IP=$(podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(cname postgres)")
STORAGE=postgresql+psycopg://lorasweep@$PG_IP:5432/lorasweep
export LORASWEEP_DB_PASSWORD_FILE=$RUN_DIR/secrets/db_password.txt
"$HOST_BIN/lorasweep" report --storage "$STORAGE" --experiment "$EXPERIMENT" --json >"$RUN_DIR/report.json"
"$HOST_BIN/python" - "$RUN_DIR/report.json" docker/ci/tiny.yaml <<'EOF'
import json, sys, yaml
doc = json.load(open(sys.argv[1]))
config = yaml.safe_load(open(sys.argv[2]))
trials = config["budget"]["trials"]
problems = [] if doc["status"] == "complete" else [f"status {doc['status']!r}, not 'complete'"]
if sorted(doc["spaces"]) != sorted(config["spaces"]):
    problems.append(f"spaces {sorted(doc['spaces'])}, not {sorted(config['spaces'])}")
for name, space in doc["spaces"].items():
    finished = space["n_complete"] + space["n_pruned"]
    if space["n_trials"] != trials or finished != trials or space["best_value"] is None:
        problems.append(f"{name}: {space['n_trials']} trials, {finished} finished, best {space['best_value']}")
if problems:
    sys.exit("docker/compose-ci.sh: the database does not hold the experiment complete: " + "; ".join(problems))
print(f"experiment {doc['experiment']}: {doc['status']}, " + ", ".join(
    f"{n}: {s['n_trials']} trials, best {doc['metric']} {s['best_value']:.4f}" for n, s in doc["spaces"].items()))
EOF
"$HOST_BIN/lorasweep" report --storage "$STORAGE" --experiment "$EXPERIMENT"

step "optuna-dashboard on 127.0.0.1:$LORASWEEP_CI_DASHBOARD_PORT (published by the dashboard service)"
DASH=http://127.0.0.1:$LORASWEEP_CI_DASHBOARD_PORT
code=000
for _ in $(seq 60); do
  code=$(curl -s -L -o /dev/null -w '%{http_code}' "$DASH/" || true)
  [ "$code" = 200 ] && break
  sleep 2
done
[ "$code" = 200 ] || fail "the dashboard answered HTTP $code on $DASH/"
studies=$(curl -fsS "$DASH/api/studies")
"$HOST_BIN/python" -c '
import json, sys
names = [s["study_name"] for s in json.loads(sys.argv[1])["study_summaries"]]
print(f"HTTP 200; {len(names)} studies: {names}")
sys.exit(0 if any(sys.argv[2] in n for n in names) else f"no study of {sys.argv[2]} in the dashboard")
' "$studies" "$EXPERIMENT"
echo "dashboard restarts: $(podman inspect -f '{{.RestartCount}}' "$(cname dashboard)")"

step "no log holds the database password or the Ray token"
leaks=$({
  for service in postgres migrate ray-head ray-worker dashboard; do podman logs "$(cname "$service")" 2>&1; done
  podman exec "$HEAD" ray job logs --address http://127.0.0.1:8265 "$SUBMISSION" 2>&1
} | grep -cF -e "$DB_PASSWORD" -e "$RAY_TOKEN" || true)
[ "$leaks" = 0 ] || fail "$leaks log line(s) hold a secret"
echo "none"
