-- Privileges inside the Chain of Care database (run as the superuser, connected to it).
-- psql variables: owner, app, coc_db.
REVOKE ALL ON DATABASE :"coc_db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"coc_db" TO :"app";
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
-- Tables the owner creates later (migrations) are readable and writable by the app role; the ledger and
-- other append-only tables lose UPDATE/DELETE after each migration (docker/migrate.py).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
