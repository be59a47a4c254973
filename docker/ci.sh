#!/usr/bin/env bash
# The container, built and run for real (issue 24), from nothing on a Debian machine without a
# container registry:
#
#   1. rootful podman from Debian's packages (podman, debootstrap, runc), configured in a folder of
#      its own (CONTAINERS_CONF / CONTAINERS_STORAGE_CONF: the machine's /etc/containers is left
#      as it is): vfs storage, runc, the cgroupfs manager, host networking, default_ulimits pinned
#      to the machine's hard nofile limit and nproc 32768 (podman's defaults fail with EPERM here);
#   2. a base image made locally: `debootstrap --variant=minbase bookworm` + `podman import`, with
#      a venv on PATH holding the CPU torch wheel pip caches here, and the host's extra CA
#      certificates (/usr/local/share/ca-certificates) with PIP_CERT for pip;
#   3. docker/Dockerfile built on it with --build-arg BASE_IMAGE;
#   4. `lorasweep compare` (a tiny experiment) run in the image as uid 1000 with /data mounted,
#      then the database read on the host with `lorasweep report`;
#   (docker/compose-ci.sh runs docker/compose.yaml's stack on the same podman and image.)
#
# Usage: bash docker/ci.sh [--image-only]   Run as root (or with sudo). --image-only stops after
# step 3 (docker/compose-ci.sh uses it to get podman set up and the image built or refreshed).
# .ci/run calls it when the last commit changed docker/ or the Dockerfile's inputs.
# Environment: LORASWEEP_CI_DIR (state: podman storage, base rootfs; default
# /var/tmp/lorasweep-ci), LORASWEEP_CI_FRESH=1 (start from nothing: remove that state first),
# TORCH_WHEEL (the CPU torch wheel for the base; default: the one pip finds in PIP_FIND_LINKS or
# its cache), LORASWEEP_HOST_BIN (the host's lorasweep; default .venv/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
if [ "$(id -u)" -ne 0 ]; then exec sudo --preserve-env "$0" "$@"; fi
IMAGE_ONLY=0
case "${1:-}" in
  "") ;;
  --image-only) IMAGE_ONLY=1 ;;
  *) echo "usage: bash docker/ci.sh [--image-only]" >&2; exit 2 ;;
esac

CI_DIR=${LORASWEEP_CI_DIR:-/var/tmp/lorasweep-ci}
BASE=localhost/lorasweep-base:bookworm
IMAGE=localhost/lorasweep:ci
HOST_BIN=${LORASWEEP_HOST_BIN:-$ROOT/.venv/bin}
T0=$SECONDS
step() { printf '\n== [%4ss] %s\n' "$((SECONDS - T0))" "$*"; }

if [ "${LORASWEEP_CI_FRESH:-0}" = 1 ] && [ -d "$CI_DIR" ]; then
  step "fresh: removing $CI_DIR"
  if [ -f "$CI_DIR/containers.conf" ]; then
    CONTAINERS_CONF=$CI_DIR/containers.conf CONTAINERS_STORAGE_CONF=$CI_DIR/storage.conf \
      podman system reset --force >/dev/null 2>&1 || true
  fi
  rm -rf "$CI_DIR"
fi
mkdir -p "$CI_DIR"

# --- 1. podman -------------------------------------------------------------------------------
missing=()
for tool in podman debootstrap runc; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
nofile=$(ulimit -Hn)
cat >"$CI_DIR/containers.conf" <<EOF
[containers]
netns = "host"
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_config_dir = "$CI_DIR/networks"
EOF
cat >"$CI_DIR/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$CI_DIR/storage"
runroot = "$CI_DIR/run"
EOF
export CONTAINERS_CONF=$CI_DIR/containers.conf CONTAINERS_STORAGE_CONF=$CI_DIR/storage.conf
ULIMITS=(--ulimit "nofile=${nofile}:${nofile}" --ulimit nproc=32768:32768)
podman --version

# --- 2. the base image -----------------------------------------------------------------------
if ! podman image exists "$BASE"; then
  wheel=${TORCH_WHEEL:-}
  if [ -z "$wheel" ]; then
    for dir in ${PIP_FIND_LINKS:-} "$HOME/.cache/pip"; do
      wheel=$(find "$dir" -name 'torch-2.13.0+cpu-cp311-*.whl' 2>/dev/null | head -n 1)
      [ -n "$wheel" ] && break
    done
  fi
  if [ -z "$wheel" ] || [ ! -f "$wheel" ]; then
    echo "docker/ci.sh: no CPU torch 2.13.0 wheel for CPython 3.11 found: set TORCH_WHEEL" >&2
    exit 2
  fi
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  rootfs=$CI_DIR/rootfs
  rm -rf "$rootfs"
  step "debootstrap --variant=minbase bookworm ($mirror)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$CI_DIR/debootstrap.log"
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  chroot "$rootfs" update-ca-certificates >/dev/null
  step "base venv /opt/venv with $(basename "$wheel")"
  cp "$wheel" "$rootfs/tmp/"
  mount -t proc proc "$rootfs/proc"
  trap 'umount "$CI_DIR/rootfs/proc" 2>/dev/null || true' EXIT
  chroot "$rootfs" python3 -m venv /opt/venv
  chroot "$rootfs" env PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    /opt/venv/bin/pip install -q --no-cache-dir "/tmp/$(basename "$wheel")"
  umount "$rootfs/proc"
  trap - EXIT
  rm -f "$rootfs/tmp/$(basename "$wheel")"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  step "podman import $BASE"
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  rm -rf "$rootfs"
fi

# --- 3. the image ----------------------------------------------------------------------------
step "podman build -f docker/Dockerfile --build-arg BASE_IMAGE=$BASE"
podman build --network host "${ULIMITS[@]}" --build-arg "BASE_IMAGE=$BASE" \
  -f docker/Dockerfile -t "$IMAGE" .
# vfs keeps a full copy of the tree per layer (~1-2.4 GB each): drop the previous builds' images
# that no tag uses any more, or every rebuild adds ~15 GB.
podman image prune -f >/dev/null
step "pip check in the image"
podman run --rm --network host "$IMAGE" python -m pip check
if [ "$IMAGE_ONLY" = 1 ]; then
  step "image ready: $IMAGE"
  exit 0
fi

run_in_image() {
  podman run --rm --network host "${ULIMITS[@]}" --shm-size 1g --user 1000:1000 \
    -e HF_HUB_OFFLINE=1 "$@"
}

{
  # --- 4. compare in the image, report on the host ---------------------------------------------
  data=$CI_DIR/data
  rm -rf "$data"
  mkdir -p "$data"
  cp docker/ci/tiny.yaml "$data/tiny.yaml"
  chown -R 1000:1000 "$data"
  step "lorasweep compare in the image as uid 1000, /data mounted"
  run_in_image -v "$data:/data" "$IMAGE" \
    lorasweep compare --config /data/tiny.yaml --storage sqlite:////data/ci.db --name ci-image
  owner=$(stat -c %u "$data/ci.db")
  if [ "$owner" != 1000 ]; then
    echo "docker/ci.sh: /data/ci.db is owned by uid $owner, not 1000" >&2
    exit 1
  fi
  step "lorasweep report on the host"
  "$HOST_BIN/lorasweep" report --storage "sqlite:///$data/ci.db" --experiment ci-image
}
step "done"
