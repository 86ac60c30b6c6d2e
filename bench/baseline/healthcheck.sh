#!/bin/bash
# The usual shell approach to a replica health check, for comparison with
# `replikit health` (bench/health.py): what mariadb-docker's healthcheck.sh
# does for --replication_io --replication_sql, written for this benchmark:
# bash, the client once over the socket, and text matching on its output.
set -eu
status=$(mariadb --defaults-extra-file="$HEALTH_CNF" -e 'SHOW REPLICA STATUS\G') || exit 1
grep -q 'Slave_IO_Running: Yes' <<<"$status" || { echo "replication I/O thread not running" >&2; exit 1; }
grep -q 'Slave_SQL_Running: Yes' <<<"$status" || { echo "replication SQL thread not running" >&2; exit 1; }
