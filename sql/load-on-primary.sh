# Sourced by docker-entrypoint.sh from /docker-entrypoint-initdb.d/ at a
# node's first start, against its temporary server. Loads the image's SQL
# files (/usr/share/replikit/sql/) on the primary or a standalone server,
# never on a replica: a replica gets the same rows from its primary, by
# seeding or replication, and loading them here too would give it data of
# its own (which replikit refuses to replicate onto) or apply them twice.
# replikit tells its child the role it decided in REPLIKIT_NODE_ROLE.
# docker_process_sql is the official entrypoints' client on the temporary
# server.
if [ "${REPLIKIT_NODE_ROLE:-standalone}" = replica ]; then
    echo "replikit-sql: a replica; /usr/share/replikit/sql/ comes from the primary" >&2
else
    for replikit_sql in /usr/share/replikit/sql/*.sql; do
        [ -e "$replikit_sql" ] || continue
        echo "replikit-sql: loading $replikit_sql" >&2
        docker_process_sql < "$replikit_sql"
    done
    unset replikit_sql
fi
