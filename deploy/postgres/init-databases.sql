-- Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d), as the
-- POSTGRES_USER of docker-compose.yml. Each command service owns one database and migrates it
-- itself at start (sqlx migrations), the process managers keep their checkpoints in
-- mom_processes, the OEE projection its figures in mom_oee; mom_projections holds the read
-- models (issue 5) that Grafana reads through a read-only role.
-- tests/tests/deploy_files.rs checks that every database docker-compose.yml names is created here.

CREATE DATABASE mom_production;
CREATE DATABASE mom_quality;
CREATE DATABASE mom_maintenance;
CREATE DATABASE mom_inventory;
CREATE DATABASE mom_processes;
CREATE DATABASE mom_oee;
CREATE DATABASE mom_projections;

-- Grafana's read-only login (password: GRAFANA_DB_PASSWORD in docker-compose.yml).
CREATE ROLE grafana_reader LOGIN PASSWORD 'grafana_reader';
GRANT CONNECT ON DATABASE mom_projections TO grafana_reader;
GRANT CONNECT ON DATABASE mom_oee TO grafana_reader;

\connect mom_projections
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;

\connect mom_oee
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
