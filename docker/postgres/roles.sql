-- Roles and databases for a production install (run once, as the superuser, on the `postgres` database).
-- psql variables: owner, owner_pw, app, app_pw, coc_db, prefect, prefect_pw, prefect_db.
-- The owner role owns the schema and runs migrations; the app role (API, Prefect worker) only reads and
-- writes rows: it cannot drop the append-only triggers, alter tables, or rewrite the ledger.
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE :"app" LOGIN PASSWORD :'app_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
CREATE ROLE :"prefect" LOGIN PASSWORD :'prefect_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE :"coc_db" OWNER :"owner";
CREATE DATABASE :"prefect_db" OWNER :"prefect";
