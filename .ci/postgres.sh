#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster (PLATFORM-NOTES recipe) and prints its SQLAlchemy URL.
# Usage: eval "$(.ci/postgres.sh start)"  ->  sets OPENMAAS_TEST_POSTGRES_URL and PGTEST_DATA
#        .ci/postgres.sh stop "$PGTEST_DATA"
set -euo pipefail
PGPKG=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'postgresql-[0-9]*' | awk '$1=="ii" && $2 ~ /^postgresql-[0-9]+$/ {print $2}' | sort -V | tail -1)
PGBIN=$(dirname "$(dpkg -L "$PGPKG" | grep '/bin/initdb$')")
case "$1" in
start)
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    DATA=$(mktemp -d /tmp/pg.XXXXXX)
    chown postgres: "$DATA"
    cd /
    runuser -u postgres -- "$PGBIN/initdb" -D "$DATA" --auth=trust -U postgres --locale=C.UTF-8 --no-sync >/dev/null
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w start \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA" >/dev/null
    runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres openmaas_test
    echo "export OPENMAAS_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/openmaas_test"
    echo "export PGTEST_DATA=$DATA"
    ;;
stop)
    cd /
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$2" -w stop -m fast >/dev/null || true
    rm -rf "$2"
    ;;
esac
