# replikit in front of a MySQL or MariaDB image, built offline from the
# static binary (scripts/build-static) and a local base image:
#   docker build --build-arg BASE_IMAGE=mysql:8.4 -t my-db .
# Here no registry can be reached, so scripts/cluster builds the base from
# Debian packages (scripts/base-image/build). A stage that compiles replikit
# from source comes with issue #5.
ARG BASE_IMAGE=mysql:8.4
FROM ${BASE_IMAGE}
COPY target/x86_64-unknown-linux-gnu/release/replikit /usr/local/bin/replikit
ENTRYPOINT ["replikit", "--", "docker-entrypoint.sh"]
# Fit to serve: the real server answers and, on a replica, both replication
# threads run without an error (replikit health; the role comes from the
# container's environment). A new replica is unhealthy while it seeds.
HEALTHCHECK --interval=5s --timeout=3s --start-period=120s --retries=3 CMD ["replikit", "health"]
CMD ["mysqld"]
