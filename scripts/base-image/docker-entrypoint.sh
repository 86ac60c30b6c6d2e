#!/bin/bash
# TEST SCAFFOLDING, not part of replikit. The official mysql/mariadb images
# cannot be pulled on our build machines, so scripts/base-image makes base
# images from Debian packages and this script stands in for their
# entrypoint. Written from the documented contract of those images:
#   - `docker-entrypoint.sh -opt ...` means `mysqld -opt ...`;
#   - first start (no system tables in the datadir): initialise it, start a
#     temporary server with --skip-networking, set the root password from
#     MYSQL_ROOT_PASSWORD(_FILE) or MYSQL_ALLOW_EMPTY_PASSWORD, create
#     MYSQL_DATABASE and MYSQL_USER/MYSQL_PASSWORD(_FILE), run
#     /docker-entrypoint-initdb.d/*.sh (sourced, with docker_process_sql)
#     and *.sql, stop the temporary server;
#   - then exec the server (as root here: these images have no mysql user).
set -eo pipefail

log() { echo "entrypoint: $*" >&2; }

if [ "${1:0:1}" = - ]; then
    set -- mysqld "$@"
fi
case $1 in
    mysqld | mariadbd) ;;
    *) exec "$@" ;;
esac
server=$1
shift
if command -v mariadbd >/dev/null; then
    server=mariadbd client=mariadb
else
    server=mysqld client=mysql
fi

file_env() { # VAR: take VAR from VAR_FILE when that is set
    local var=$1 file_var="${1}_FILE"
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        log "both $var and $file_var are set; set one"
        exit 1
    fi
    if [ -n "${!file_var:-}" ]; then
        export "$var"="$(< "${!file_var}")"
    fi
}
file_env MYSQL_ROOT_PASSWORD
file_env MYSQL_PASSWORD

datadir=/var/lib/mysql
mkdir -p "$datadir" /run/mysqld /var/lib/mysql-files
if [ ! -d "$datadir/mysql" ]; then
    if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]; then
        log "database is uninitialised: set MYSQL_ROOT_PASSWORD or MYSQL_ALLOW_EMPTY_PASSWORD"
        exit 1
    fi
    log "initialising $datadir"
    if [ "$server" = mysqld ]; then
        mysqld --initialize-insecure --user=root --datadir="$datadir" "$@"
    else
        mariadb-install-db --force --user=root --datadir="$datadir" --skip-test-db \
            --auth-root-authentication-method=normal "$@" >/dev/null
    fi
    socket=/run/mysqld/init.sock
    "$server" --user=root --datadir="$datadir" --skip-networking --socket="$socket" "$@" &
    pid=$!
    sql() { "$client" --protocol=socket --socket="$socket" -uroot "$@"; }
    for _ in $(seq 300); do
        sql -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.1
    done
    sql -e 'SELECT 1' >/dev/null
    {
        echo "SET @@SESSION.SQL_LOG_BIN = 0;"
        if [ -n "${MYSQL_ROOT_PASSWORD:-}" ]; then
            pw=${MYSQL_ROOT_PASSWORD//\\/\\\\}
            pw=${pw//\'/\\\'}
            echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';"
            echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$pw';"
            echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
        fi
        if [ -n "${MYSQL_DATABASE:-}" ]; then
            echo "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"
        fi
        if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
            upw=${MYSQL_PASSWORD//\\/\\\\}
            upw=${upw//\'/\\\'}
            echo "CREATE USER '$MYSQL_USER'@'%' IDENTIFIED BY '$upw';"
            if [ -n "${MYSQL_DATABASE:-}" ]; then
                echo "GRANT ALL ON \`$MYSQL_DATABASE\`.* TO '$MYSQL_USER'@'%';"
            fi
        fi
    } | sql
    export MYSQL_PWD=${MYSQL_ROOT_PASSWORD:-}
    # The official entrypoints' helper for *.sh init files: SQL on stdin,
    # run on the temporary server.
    docker_process_sql() { sql ${MYSQL_DATABASE:+--database="$MYSQL_DATABASE"} "$@"; }
    for f in /docker-entrypoint-initdb.d/*; do
        case $f in
            *.sh) log "running $f"; . "$f" ;;
            *.sql) log "running $f"; sql ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} < "$f" ;;
            *) ;;
        esac
    done
    unset MYSQL_PWD
    kill -TERM "$pid"
    wait "$pid"
    log "initialised; starting the server"
fi
exec "$server" --user=root --datadir="$datadir" "$@"
