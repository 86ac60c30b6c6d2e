# replikit in front of a stock MySQL or MariaDB image.
#
# With a registry, from source (needs BuildKit, Docker's default builder):
#   docker build -t my-db .                                  # mysql:8.4
#   docker build --build-arg BASE_IMAGE=mariadb:11.8 -t my-db .
#
# Offline (air-gapped, and how the tests here build it): a binary built
# beforehand with scripts/build-static and a base image already loaded;
# --target stops before the source stages, so nothing is pulled, with
# BuildKit or the legacy builder (DOCKER_BUILDKIT=0):
#   scripts/build-static
#   docker build --target prebuilt --build-arg BASE_IMAGE=mysql:8.4 -t my-db .
ARG BASE_IMAGE=mysql:8.4
ARG BUILDER_IMAGE=rust:1-bookworm

# Everything but the binary: the settings replication needs, the sample
# schema (loaded on the primary only), the entrypoint and the health check.
FROM ${BASE_IMAGE} AS server
COPY conf/replication.cnf /etc/mysql/conf.d/replication.cnf
COPY sql/*.sql /usr/share/replikit/sql/
COPY sql/load-on-primary.sh /docker-entrypoint-initdb.d/replikit-sql.sh
ENTRYPOINT ["replikit", "--", "docker-entrypoint.sh"]
CMD ["mysqld"]
# Fit to serve: the real server answers and, on a replica, both replication
# threads run without an error (replikit health; the role comes from the
# container's environment). A new replica is unhealthy while it seeds.
HEALTHCHECK --interval=5s --timeout=3s --start-period=120s --retries=3 CMD ["replikit", "health"]

# Offline: the static binary from scripts/build-static.
FROM server AS prebuilt
COPY target/x86_64-unknown-linux-gnu/release/replikit /usr/local/bin/replikit

# From source: the same static build as scripts/build-static.
FROM ${BUILDER_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
RUN RUSTFLAGS='-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs' \
    cargo build --release --locked --target x86_64-unknown-linux-gnu

FROM server AS source
COPY --from=build /src/target/x86_64-unknown-linux-gnu/release/replikit /usr/local/bin/replikit
