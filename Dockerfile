# syntax=docker/dockerfile:1.7
#
# The one `mom` binary in a slim image; every service container runs `mom serve <service>`.
#
#   docker build -t mom:dev .
#   docker run --rm mom:dev serve production --help
#
# Stages: `builder` compiles the binary (librdkafka is built from source by rdkafka-sys with its
# default features: it needs gcc, make and perl, all in the rust image; no cmake, no protoc:
# crates/proto compiles proto/ with protox), `health-probe` fetches grpc_health_probe for the
# docker-compose health checks, `runtime` is Debian slim with the two binaries and a non-root user.
# The builder and the runtime must stay on the same Debian release (glibc); tests/tests/
# deploy_files.rs checks that, and that the Rust version is at least the workspace's rust-version.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the target directory between builds; the binary is copied
# out of the cache mount because the mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin mom \
    && install -D -m 0755 target/release/mom /out/mom

# grpc_health_probe (https://github.com/grpc-ecosystem/grpc-health-probe) answers the compose
# health checks with the standard grpc.health.v1 protocol. It is downloaded at image build time,
# so building the image needs access to GitHub releases; the amd64 checksum is pinned, other
# architectures must pass theirs: --build-arg GRPC_HEALTH_PROBE_SHA256=<sha256>.
# Kubernetes does not need it: its probes speak gRPC health natively (deploy/k8s).
FROM debian:bookworm-slim AS health-probe
ARG TARGETARCH=amd64
ARG GRPC_HEALTH_PROBE_VERSION=v0.4.37
ARG GRPC_HEALTH_PROBE_SHA256_AMD64=8302d54fc41d4ffbfea6871b6a04584265d5eabbe738aee2966f9a574b6f17d1
ARG GRPC_HEALTH_PROBE_SHA256=
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    rm -rf /var/lib/apt/lists/*; \
    curl -fsSL -o /grpc_health_probe \
      "https://github.com/grpc-ecosystem/grpc-health-probe/releases/download/${GRPC_HEALTH_PROBE_VERSION}/grpc_health_probe-linux-${TARGETARCH}"; \
    sum="${GRPC_HEALTH_PROBE_SHA256}"; \
    if [ -z "$sum" ] && [ "$TARGETARCH" = amd64 ]; then sum="$GRPC_HEALTH_PROBE_SHA256_AMD64"; fi; \
    if [ -z "$sum" ]; then echo "pass --build-arg GRPC_HEALTH_PROBE_SHA256=... for $TARGETARCH" >&2; exit 1; fi; \
    echo "$sum  /grpc_health_probe" | sha256sum -c -; \
    chmod 0755 /grpc_health_probe

FROM debian:bookworm-slim AS runtime
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates zlib1g; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 mom; \
    useradd --system --uid 10001 --gid mom --home-dir /var/lib/mom --create-home --shell /usr/sbin/nologin mom
COPY --from=builder /out/mom /usr/local/bin/mom
COPY --from=health-probe /grpc_health_probe /usr/local/bin/grpc_health_probe
USER 10001:10001
WORKDIR /var/lib/mom
# production, quality, maintenance, inventory (MOM_<SERVICE>_GRPC_ADDR)
EXPOSE 50051 50052 50053 50054 50056 8086
# mom handles SIGTERM itself (in-flight commands finish, then it exits), also as PID 1.
ENTRYPOINT ["mom"]
CMD ["--help"]
