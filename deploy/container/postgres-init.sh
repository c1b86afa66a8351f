#!/bin/bash
# postgres-init.sh: run once by the postgres:15 image on its first start (mounted into
# /docker-entrypoint-initdb.d): the certline role and one database per program, as in the
# no-container run. The role's password comes from a docker secret, never from the environment.
set -euo pipefail

password=$(head -n 1 /run/secrets/certline_db_password)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -v pw="$password" <<'SQL'
CREATE ROLE certline LOGIN PASSWORD :'pw';
CREATE DATABASE certline_ca OWNER certline;
CREATE DATABASE certline_ct OWNER certline;
REVOKE ALL ON DATABASE certline_ca FROM PUBLIC;
REVOKE ALL ON DATABASE certline_ct FROM PUBLIC;
SQL
unset password
