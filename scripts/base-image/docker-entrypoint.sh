#!/bin/bash
# TEST SCAFFOLDING, not part of replikit. The official mysql/mariadb images
# cannot be pulled on our build machines, so scripts/base-image makes base
# images from Debian packages and this script stands in for their
# entrypoint. Written from the documented behaviour of those images
# (docker-library/mysql, MariaDB/mariadb-docker), not from their code:
#   - `docker-entrypoint.sh -opt ...` means `mysqld -opt ...`;
#   - started as root to run the server: secrets are read from their
#     *_FILE while root may, the data and socket folders go to the `mysql`
#     user and the script runs again as that user (gosu); any other user
#     (docker run --user) runs it as it is;
#   - first start (no system tables in the datadir): initialise it, start a
#     temporary server with --skip-networking on the usual socket, load the
#     time zones (MySQL: with the binary log on, as that image does;
#     MariaDB: kept out of it), set root's password from
#     MYSQL_ROOT_PASSWORD(_FILE), or allow it empty, or make a random one
#     (MYSQL_RANDOM_ROOT_PASSWORD, printed once), for root@localhost and
#     root@MYSQL_ROOT_HOST (default %); create MYSQL_DATABASE and
#     MYSQL_USER/MYSQL_PASSWORD(_FILE);
#   - MariaDB images only: the health-check account healthcheck@localhost,
#     @127.0.0.1 and @::1 with a random password and USAGE plus
#     MARIADB_HEALTHCHECK_GRANTS, and that password in the data
#     directory's .my-healthcheck.cnf ([mariadb-client], protocol=tcp),
#     which healthcheck.sh reads; a later start without that file logs
#     that an upgrade is needed but skipped;
#   - MariaDB images only: MARIADB_REPLICATION_USER with
#     MARIADB_REPLICATION_PASSWORD(_HASH) creates that replication account
#     when MARIADB_MASTER_HOST is unset; with it set, the node is made a
#     replica of that host (CHANGE MASTER TO, port MARIADB_MASTER_PORT),
#     and the real server starts replicating from it;
#   - then /docker-entrypoint-initdb.d/*.sh (sourced, with
#     docker_process_sql) and *.sql; expire root's password
#     (MYSQL_ONETIME_PASSWORD); stop the temporary server, and exec the
#     real one.
# On MariaDB images every MYSQL_* name above is read as MARIADB_* first.
set -eo pipefail

log() { echo "entrypoint: $*" >&2; }

if [ "${1:0:1}" = - ]; then
    set -- mysqld "$@"
fi
case $1 in
    mysqld | mariadbd) ;;
    *) exec "$@" ;;
esac
shift
if command -v mariadbd >/dev/null; then
    server=mariadbd client=mariadb flavor=mariadb
else
    server=mysqld client=mysql flavor=mysql
fi

datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock
if [ "$(id -u)" = 0 ]; then
    # Secret files may be readable by root alone (Compose's secrets are):
    # read them now, and hand their values on in the environment.
    for name in ROOT_PASSWORD PASSWORD ROOT_HOST DATABASE USER REPLICATION_PASSWORD; do
        for var in MYSQL_$name MARIADB_$name; do
            file=${var}_FILE
            [ -n "${!file:-}" ] || continue
            if [ -n "${!var:-}" ]; then
                log "both $var and $file are set; set one"
                exit 1
            fi
            export "$var"="$(< "${!file}")"
            unset "$file"
        done
    done
    mkdir -p "$datadir" /run/mysqld
    find "$datadir" /run/mysqld \! -user mysql -exec chown mysql:mysql '{}' +
    exec gosu mysql "$BASH_SOURCE" "$server" "$@"
fi

# NAME: MARIADB_NAME on MariaDB images, else MYSQL_NAME; NAME_FILE too.
setting() {
    local name=$1 var value file
    for var in ${flavor^^}_$name MYSQL_$name; do
        file=${var}_FILE
        if [ -n "${!var:-}" ] && [ -n "${!file:-}" ]; then
            log "both $var and $file are set; set one"
            exit 1
        fi
        if [ -n "${!file:-}" ]; then
            value=$(< "${!file}")
            break
        fi
        if [ -n "${!var:-}" ]; then
            value=${!var}
            break
        fi
    done
    printf '%s' "${value:-}"
}
sql_string() { # a single-quoted SQL string literal
    local s=${1//\\/\\\\}
    printf "'%s'" "${s//\'/\\\'}"
}

if [ ! -d "$datadir/mysql" ]; then
    root_password=$(setting ROOT_PASSWORD)
    allow_empty=$(setting ALLOW_EMPTY_PASSWORD)
    [ "$flavor" = mariadb ] && [ -n "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}" ] && allow_empty=yes
    random_root=$(setting RANDOM_ROOT_PASSWORD)
    if [ -z "$root_password" ] && [ -z "$allow_empty" ] && [ -z "$random_root" ]; then
        log "database is uninitialised: set MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD or MYSQL_RANDOM_ROOT_PASSWORD"
        exit 1
    fi
    if [ -n "$random_root" ]; then
        root_password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
        echo "GENERATED ROOT PASSWORD: $root_password" >&2
    fi
    log "initialising $datadir"
    if [ "$flavor" = mysql ]; then
        mysqld --initialize-insecure --datadir="$datadir" "$@"
    else
        mariadb-install-db --force --datadir="$datadir" --skip-test-db \
            --auth-root-authentication-method=normal "$@" >/dev/null
    fi
    "$server" --datadir="$datadir" --skip-networking --socket="$socket" "$@" &
    pid=$!
    sql() { "$client" --protocol=socket --socket="$socket" -uroot "$@"; }
    for _ in $(seq 300); do
        sql -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.1
    done
    sql -e 'SELECT 1' >/dev/null
    if [ -z "$(setting INITDB_SKIP_TZINFO)" ]; then
        # One zone's abbreviation is a sentence, too long for its column.
        if [ "$flavor" = mysql ]; then
            mysql_tzinfo_to_sql /usr/share/zoneinfo 2>/dev/null
        else
            mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null
        fi | sed 's/Local time zone must be set--see zic manual page/FCTY/' | sql --database=mysql
    fi
    healthcheck_password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    root_host=$(setting ROOT_HOST)
    root_host=${root_host:-%}
    database=$(setting DATABASE)
    user=$(setting USER)
    user_password=$(setting PASSWORD)
    {
        echo "SET @@SESSION.SQL_LOG_BIN = 0;"
        pw=$(sql_string "$root_password")
        echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;"
        if [ "$root_host" != localhost ]; then
            echo "CREATE USER IF NOT EXISTS 'root'@'$root_host' IDENTIFIED BY $pw;"
            echo "GRANT ALL ON *.* TO 'root'@'$root_host' WITH GRANT OPTION;"
        fi
        if [ -n "$database" ]; then
            echo "CREATE DATABASE IF NOT EXISTS \`$database\`;"
        fi
        if [ -n "$user" ] && [ -n "$user_password" ]; then
            echo "CREATE USER '$user'@'%' IDENTIFIED BY $(sql_string "$user_password");"
            if [ -n "$database" ]; then
                echo "GRANT ALL ON \`$database\`.* TO '$user'@'%';"
            fi
        fi
        if [ "$flavor" = mariadb ]; then
            # mariadb-docker's health-check account, on each local address,
            # with a random password that only .my-healthcheck.cnf holds.
            for host in localhost 127.0.0.1 ::1; do
                echo "CREATE USER 'healthcheck'@'$host' IDENTIFIED BY $(sql_string "$healthcheck_password");"
                echo "GRANT ${MARIADB_HEALTHCHECK_GRANTS:-USAGE} ON *.* TO 'healthcheck'@'$host';"
            done
        fi
        if [ "$flavor" = mariadb ] && [ -n "${MARIADB_REPLICATION_USER:-}" ]; then
            repl_password=$(setting REPLICATION_PASSWORD)
            if [ -z "${MARIADB_MASTER_HOST:-}" ]; then
                if [ -n "${MARIADB_REPLICATION_PASSWORD_HASH:-}" ]; then
                    echo "CREATE USER '$MARIADB_REPLICATION_USER'@'%' IDENTIFIED BY PASSWORD '$MARIADB_REPLICATION_PASSWORD_HASH';"
                else
                    echo "CREATE USER '$MARIADB_REPLICATION_USER'@'%' IDENTIFIED BY $(sql_string "$repl_password");"
                fi
                echo "GRANT REPLICATION REPLICA ON *.* TO '$MARIADB_REPLICATION_USER'@'%';"
            else
                log "making this node a replica of $MARIADB_MASTER_HOST"
                echo "CHANGE MASTER TO MASTER_HOST=$(sql_string "$MARIADB_MASTER_HOST"), MASTER_PORT=${MARIADB_MASTER_PORT:-3306}, MASTER_USER=$(sql_string "$MARIADB_REPLICATION_USER"), MASTER_PASSWORD=$(sql_string "$repl_password"), MASTER_CONNECT_RETRY=10;"
            fi
        fi
    } | sql
    export MYSQL_PWD=$root_password
    # The official entrypoints' helper for *.sh init files: SQL on stdin,
    # run on the temporary server.
    docker_process_sql() { sql ${database:+--database="$database"} "$@"; }
    for f in /docker-entrypoint-initdb.d/*; do
        case $f in
            *.sh) log "running $f"; . "$f" ;;
            *.sql) log "running $f"; sql ${database:+"$database"} < "$f" ;;
            *) ;;
        esac
    done
    # Last, once the init files have run as root.
    if [ -n "$(setting ONETIME_PASSWORD)" ]; then
        # root@localhost last: this session's own account.
        {
            echo "SET @@SESSION.SQL_LOG_BIN = 0;"
            [ "$root_host" = localhost ] || echo "ALTER USER 'root'@'$root_host' PASSWORD EXPIRE;"
            echo "ALTER USER 'root'@'localhost' PASSWORD EXPIRE;"
        } | sql
    fi
    unset MYSQL_PWD
    if [ "$flavor" = mariadb ]; then
        # The health check's own option file, in the data directory, as
        # mariadb-docker writes it (its healthcheck.sh reads it).
        (
            umask 077
            printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\nprotocol=tcp\n' \
                3306 "$socket" "$healthcheck_password" > "$datadir/.my-healthcheck.cnf"
        )
    fi
    kill -TERM "$pid"
    wait "$pid"
    log "initialised; starting the server"
fi
if [ "$flavor" = mariadb ] && [ ! -f "$datadir/.my-healthcheck.cnf" ]; then
    # As mariadb-docker says when its health-check file is missing.
    log "MariaDB upgrade (mariadb-upgrade or creating healthcheck users) required, but skipped due to \$MARIADB_AUTO_UPGRADE setting"
fi
exec "$server" --datadir="$datadir" "$@"
