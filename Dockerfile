# The one image of every role (api, worker, scheduler, standalone): the `odoo-sync` binary built
# in a Rust stage, copied into a small Debian runtime that runs it as a non-root user.
# The role is the command: `docker run IMAGE worker`; the compose file sets it per service.
#
# Two ways to build it (README "Deployment and scaling"):
#   docker build -t odoo-sync:latest .                    # from the sources (the default target)
#   docker build --target prebuilt -t odoo-sync:latest .  # from target/release/odoo-sync, built
#                                                         # on a glibc >= 2.36 host (offline path)
# Both need BuildKit (Docker 23+ or Compose v2 by default; DOCKER_BUILDKIT=1 on Docker 20.10).
# There is deliberately no `# syntax=` line: it makes BuildKit pull a frontend image from a
# registry, which fails offline; the built-in frontend reads everything here.
#
# The base images are build args, so a machine without a registry can use local ones
# (scripts/compose-check.sh builds them from Debian's archive, docker/offline/):
#   --build-arg BUILDER_IMAGE=...  the Rust toolchain stage (default rust:1-bookworm)
#   --build-arg RUNTIME_IMAGE=...  the runtime (default debian:bookworm-slim; any Debian 12+)
#   --build-arg ODOO_SYNC_BINARY=... the prebuilt target's binary, a path in the build context
#                                    (default target/release/odoo-sync; .dockerignore lets only
#                                    that file and target/prebuilt/odoo-sync through)
ARG BUILDER_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- runtime base: everything but the binary ---------------------------------------------
# The stages are ordered so that `--target prebuilt` never reaches the Rust stage.
FROM ${RUNTIME_IMAGE} AS runtime-base
# ca-certificates: TLS towards Odoo, MongoDB Atlas and managed Redis; curl: the api's health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 odoo-sync \
    && useradd --system --uid 10001 --gid odoo-sync --home-dir /var/lib/odoo-sync \
        --shell /usr/sbin/nologin odoo-sync \
    && install -d -o odoo-sync -g odoo-sync -m 0750 /var/lib/odoo-sync

# Defaults that only make sense inside a container; everything else comes from the
# environment (README "Configuration" and "Deployment and scaling").
ENV BIND_ADDRESS=0.0.0.0:8080 \
    DATA_DIR=/var/lib/odoo-sync \
    RUST_LOG=info
VOLUME ["/var/lib/odoo-sync"]
WORKDIR /var/lib/odoo-sync
USER 10001:10001
EXPOSE 8080
# SIGTERM goes straight to odoo-sync (exec form, PID 1): workers finish in-flight batches
# within WORKER_SHUTDOWN_GRACE_SECONDS and release their leases.
STOPSIGNAL SIGTERM
ENTRYPOINT ["odoo-sync"]
# Without a role the image runs the embedded single-process mode on SQLite in DATA_DIR.
CMD ["standalone"]

# ---- prebuilt: the runtime with a binary built outside Docker ----------------------------
FROM runtime-base AS prebuilt
ARG ODOO_SYNC_BINARY=target/release/odoo-sync
COPY ${ODOO_SYNC_BINARY} /usr/local/bin/odoo-sync
# Fails the build at once when the binary does not run here (built against a newer glibc).
RUN ["odoo-sync", "--version"]

# ---- build -------------------------------------------------------------------------------
# rust-version in Cargo.toml is 1.88; any newer stable builds it.
FROM ${BUILDER_IMAGE} AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the target dir between builds; the binary is copied out
# of the mounted target dir, which does not survive into the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin odoo-sync \
    && install -D -m 0755 target/release/odoo-sync /out/odoo-sync

# ---- runtime (the default target): the runtime with the binary built above ---------------
FROM runtime-base AS runtime
COPY --from=builder /out/odoo-sync /usr/local/bin/odoo-sync
