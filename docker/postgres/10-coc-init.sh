#!/bin/sh
# First start of the PostgreSQL volume only (docker-entrypoint-initdb.d): roles, databases, privileges.
# Also run by the production-topology harness (tests/fixtures/topology_pg.py) with COC_SQL_DIR and PG* set.
set -eu
: "${COC_DB_OWNER_PASSWORD:?set COC_DB_OWNER_PASSWORD in .env}"
: "${COC_DB_APP_PASSWORD:?set COC_DB_APP_PASSWORD in .env}"
: "${PREFECT_DB_PASSWORD:?set PREFECT_DB_PASSWORD in .env}"

run() {
    db="$1"; file="$2"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$db" \
        -v owner=coc_owner -v owner_pw="$COC_DB_OWNER_PASSWORD" \
        -v app=coc_app -v app_pw="$COC_DB_APP_PASSWORD" \
        -v prefect=prefect -v prefect_pw="$PREFECT_DB_PASSWORD" \
        -v coc_db=coc -v prefect_db=prefect \
        -f "${COC_SQL_DIR:-/coc-sql}/$file"
}

run postgres roles.sql
run coc coc-schema.sql
run prefect prefect.sql
