# syntax=docker/dockerfile:1
# keyway: multi-stage build. The binary embeds its templates and CSS; at run time it needs only the shared libraries
# of SAML signature verification (libxmlsec1-openssl pulls libxmlsec1, libxml2 and libssl).

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY scripts/build-deps.sh scripts/build-deps.sh
RUN scripts/build-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin keyway \
    && cp target/release/keyway /usr/local/bin/keyway

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libxmlsec1-openssl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 keyway \
    && useradd --system --uid 10001 --gid keyway --home-dir /app --shell /usr/sbin/nologin keyway \
    && mkdir -p /app/keys /app/data \
    && chown -R keyway:keyway /app \
    && chmod 700 /app/keys
COPY --from=builder /usr/local/bin/keyway /usr/local/bin/keyway
WORKDIR /app
USER keyway
# keys/ holds the signing keys (share it between replicas); data/ the SQLite file when no PostgreSQL URL is set.
VOLUME ["/app/keys"]
ENV KEYWAY_BIND=0.0.0.0:8080
EXPOSE 8080
# `keyway healthcheck` asks /readyz on the bind port (the image has no curl): healthy = serving with its database.
HEALTHCHECK --interval=5s --timeout=4s --start-period=10s --retries=3 CMD ["keyway", "healthcheck"]
# SIGTERM drains requests in flight for up to KEYWAY_SHUTDOWN_TIMEOUT seconds (default 8, below Docker's 10 s
# stop grace).
STOPSIGNAL SIGTERM
ENTRYPOINT ["keyway"]
CMD ["serve"]
