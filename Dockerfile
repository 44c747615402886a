# dbkeep container image: a build stage on Debian 12 that compiles the Release binary and packs the .deb,
# and a small runtime stage on debian:bookworm-slim that installs that .deb with apt (so the package's
# declared dependencies are what the image runs with).
#
#   DOCKER_BUILDKIT=1 docker build -t dbkeep .                          # compiles inside the build stage
#   DOCKER_BUILDKIT=1 docker build --build-arg DEB_FROM=context -t dbkeep .
#       # takes build/package/dbkeep_*.deb from the build context instead (CI builds it once); BuildKit
#       # then skips the build stage entirely
#   docker build --build-arg PG_MAJORS="13 14 16 17" -t dbkeep .        # adds pg_dump for more majors
#
# No "# syntax=" line on purpose: it would make BuildKit pull a frontend image from a registry.

ARG DEBIAN_IMAGE=debian:bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
# Where the runtime stage takes the .deb from: "build" (compile here) or "context" (a prebuilt .deb).
ARG DEB_FROM=build

FROM ${DEBIAN_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# The build_pkgs of scripts/install-deps.sh, minus the linters, test and sanitizer libraries.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config git file dpkg-dev ca-certificates \
      libcurl4-openssl-dev libssl-dev libsodium-dev libzstd-dev zlib1g-dev libpq-dev libsqlite3-dev \
      libyaml-cpp-dev libcli11-dev libfmt-dev nlohmann-json3-dev libhowardhinnant-date-dev tzdata \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# .git stays out of the context: the commit `dbkeep --version` prints comes from this argument.
ARG REVISION=unknown
RUN cmake -S . -B build/package -G Ninja -DCMAKE_BUILD_TYPE=Release -DDBKEEP_BUILD_TESTS=OFF \
      -DDBKEEP_GIT_COMMIT="${REVISION}" \
 && cmake --build build/package \
 && (cd build/package && cpack -G DEB) \
 && mkdir -p /out && cp build/package/dbkeep_*.deb /out/

# The .deb from the build stage...
FROM scratch AS deb-build
COPY --from=build /out/ /out/

# ...or from the build context. README.md is listed so that the COPY never has zero sources (the legacy
# builder runs this stage even when it is not selected); the runtime stage checks that a .deb came along.
FROM scratch AS deb-context
COPY README.md build/package/dbkeep_*.de[b] /out/

FROM deb-${DEB_FROM} AS deb

FROM ${RUNTIME_IMAGE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
ARG RUNTIME_IMAGE
# Extra PostgreSQL majors (e.g. "13 14 16 17") from apt.postgresql.org; Debian 12 ships pg_dump 15.
# dbkeep picks the pg_dump matching each server from /usr/lib/postgresql/*/bin.
ARG PG_MAJORS=""
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="dbkeep" \
      org.opencontainers.image.description="Database backups (PostgreSQL, Redis) streamed through zstd and age into local or S3 storage" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}" \
      org.opencontainers.image.documentation="README.md, section Deploying"
COPY --from=deb /out/ /tmp/deb/
RUN set -eu; \
    ls /tmp/deb/dbkeep_*.deb >/dev/null 2>&1 || { \
      echo "no dbkeep_*.deb: build it first (README, Deploying) or use DEB_FROM=build" >&2; exit 1; }; \
    apt-get update; \
    apt-get install -y --no-install-recommends /tmp/deb/dbkeep_*.deb \
      tzdata ca-certificates curl postgresql-client redis-tools mariadb-client; \
    if [ -n "${PG_MAJORS}" ]; then \
      . /etc/os-release; \
      install -d /usr/share/keyrings; \
      curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc -o /usr/share/keyrings/apt.postgresql.org.asc; \
      echo "deb [signed-by=/usr/share/keyrings/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list; \
      apt-get update; \
      pkgs=""; for v in ${PG_MAJORS}; do pkgs="$pkgs postgresql-client-$v"; done; \
      apt-get install -y --no-install-recommends $pkgs; \
    fi; \
    rm -rf /tmp/deb /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 dbkeep; \
    useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/dbkeep --create-home --shell /usr/sbin/nologin dbkeep; \
    install -d -o root -g 10001 -m 0750 /etc/dbkeep; \
    dbkeep --version
# ./dbkeep.yaml is the default configuration file: mount it at /etc/dbkeep/dbkeep.yaml, or pass --config.
WORKDIR /etc/dbkeep
USER 10001:10001
ENV HOME=/var/lib/dbkeep DBKEEP_LISTEN_PORT=9187
EXPOSE 9187
# Only the daemon serves /healthz; one-shot commands (run --due, backup) exit before the first probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${DBKEEP_LISTEN_PORT}/healthz" || exit 1
ENTRYPOINT ["dbkeep"]
CMD ["daemon", "--listen", "0.0.0.0:9187"]
