#!/bin/bash -e
# The seed's add-server-id.sh (seeds/000), verbatim in logic; only the
# option file path comes from $SEED_CNF so the benchmark needs no /etc write.
OCTETS=(`hostname -i | tr -s '.' ' '`)

MYSQL_SERVER_ID=`expr ${OCTETS[2]} \* 256 + ${OCTETS[3]}`
echo "server-id=$MYSQL_SERVER_ID" >> "$SEED_CNF"
