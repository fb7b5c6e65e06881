-- The Prefect server's database needs pg_trgm (created by the superuser, connected to it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
