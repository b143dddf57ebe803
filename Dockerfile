# syntax=docker/dockerfile:1
# The one image of every role (api, worker, scheduler, standalone): the `odoo-sync` binary built
# in a Rust stage, copied into a small Debian runtime that runs it as a non-root user.
# The role is the command: `docker run IMAGE worker`; the compose file sets it per service.

# ---- build -------------------------------------------------------------------------------
# rust-version in Cargo.toml is 1.88; any newer stable builds it.
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the target dir between builds; the binary is copied out
# of the mounted target dir, which does not survive into the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin odoo-sync \
    && install -D -m 0755 target/release/odoo-sync /out/odoo-sync

# ---- runtime -----------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS towards Odoo, MongoDB Atlas and managed Redis; curl: the api's health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 odoo-sync \
    && useradd --system --uid 10001 --gid odoo-sync --home-dir /var/lib/odoo-sync \
        --shell /usr/sbin/nologin odoo-sync \
    && install -d -o odoo-sync -g odoo-sync -m 0750 /var/lib/odoo-sync
COPY --from=builder /out/odoo-sync /usr/local/bin/odoo-sync

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
