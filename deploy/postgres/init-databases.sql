-- Run once by the postgres image on an empty data volume, through init-databases.sh (which
-- passes each login's password from its compose secret as a psql variable :'pw_<name>'), as the
-- image's superuser. The superuser is for this script and for the person administering the
-- database, never for a service.
--
-- One login per service, each owning its own database only: no SUPERUSER, no CREATEDB, no
-- CREATEROLE, no REPLICATION, no BYPASSRLS. Each service migrates its own database at start
-- (sqlx migrations), so it owns the tables it creates. CONNECT is revoked from PUBLIC on every
-- database, so a login cannot even open another service's database (tests/tests/deploy_files.rs
-- runs this script against a real Postgres and proves it). grafana_reader reads the read models
-- and the OEE figures, nothing else.
-- tests/tests/deploy_files.rs also checks that every database docker-compose.yml names is
-- created here, and that every password variable has a secret.

CREATE ROLE mom_production LOGIN PASSWORD :'pw_production' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE ROLE mom_quality LOGIN PASSWORD :'pw_quality' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE ROLE mom_maintenance LOGIN PASSWORD :'pw_maintenance' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE ROLE mom_inventory LOGIN PASSWORD :'pw_inventory' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE ROLE mom_processes LOGIN PASSWORD :'pw_processes' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE ROLE mom_oee LOGIN PASSWORD :'pw_oee' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE ROLE mom_projections LOGIN PASSWORD :'pw_projections' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
-- Grafana's read-only login (docker-compose.yml: secret db_grafana_reader).
CREATE ROLE grafana_reader LOGIN PASSWORD :'pw_grafana_reader' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

CREATE DATABASE mom_production OWNER mom_production;
CREATE DATABASE mom_quality OWNER mom_quality;
CREATE DATABASE mom_maintenance OWNER mom_maintenance;
CREATE DATABASE mom_inventory OWNER mom_inventory;
CREATE DATABASE mom_processes OWNER mom_processes;
CREATE DATABASE mom_oee OWNER mom_oee;
CREATE DATABASE mom_projections OWNER mom_projections;

-- Nobody but the owner (and the superuser) connects to a database.
REVOKE ALL ON DATABASE mom_production FROM PUBLIC;
REVOKE ALL ON DATABASE mom_quality FROM PUBLIC;
REVOKE ALL ON DATABASE mom_maintenance FROM PUBLIC;
REVOKE ALL ON DATABASE mom_inventory FROM PUBLIC;
REVOKE ALL ON DATABASE mom_processes FROM PUBLIC;
REVOKE ALL ON DATABASE mom_oee FROM PUBLIC;
REVOKE ALL ON DATABASE mom_projections FROM PUBLIC;

GRANT CONNECT ON DATABASE mom_projections TO grafana_reader;
GRANT CONNECT ON DATABASE mom_oee TO grafana_reader;

-- Tables the read models' and the OEE projection's logins create are readable by Grafana.
\connect mom_projections
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE mom_projections IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;

\connect mom_oee
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE mom_oee IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
