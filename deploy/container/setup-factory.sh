#!/bin/sh
# setup-factory.sh: the one-shot factory set-up of the container topology (service setup-factory
# in deploy/docker-compose.yml), the same comm-terminal commands as the no-container run:
#   comm-terminal -c CONFIG migrate
#   comm-terminal -c CONFIG operator-add ID --new-password-file FILE   (the first operator)
#   comm-terminal -c CONFIG model-set CODE --managed  --operator ID --password-file FILE
#   comm-terminal -c CONFIG import PLAN               --operator ID --password-file FILE
#   comm-terminal -c CONFIG fetch --date DAY          --operator ID --password-file FILE
# Rerunning it is safe (migrations, model-set, import and fetch are idempotent).
# Environment (no secrets; the operator's password is the docker secret operator_password):
#   CERTLINE_CT_CONFIG    comm-terminal configuration (default /etc/certline/comm-terminal.json)
#   CERTLINE_OPERATOR     the first operator's id (default admin)
#   CERTLINE_OPERATOR_PASSWORD_FILE  its password (default /run/secrets/operator_password)
#   CERTLINE_MODELS       device model codes to mark certificate-managed, e.g. "3012"
#   CERTLINE_PLANS_DIR    production plans (*.csv, *.json) to import (default /srv/certline/plans)
#   CERTLINE_FETCH_DATES  days (YYYY-MM-DD) to fetch from ca-server now; the daily fetch at
#                         fetch_time does the rest
set -eu

config=${CERTLINE_CT_CONFIG:-/etc/certline/comm-terminal.json}
operator=${CERTLINE_OPERATOR:-admin}
password=${CERTLINE_OPERATOR_PASSWORD_FILE:-/run/secrets/operator_password}
plans=${CERTLINE_PLANS_DIR:-/srv/certline/plans}

ct() { comm-terminal -c "$config" "$@"; }
login() { ct "$@" --operator "$operator" --password-file "$password"; }

ct migrate
# The first operator needs no login; once there is one, this fails and the next step's login
# shows whether the configured operator is the one that exists.
if ! ct operator-add "$operator" --new-password-file "$password"; then
    echo "setup-factory: operator $operator not added (the database has operators already)"
fi
for model in ${CERTLINE_MODELS:-}; do
    login model-set "$model" --managed
done
for plan in "$plans"/*.csv "$plans"/*.json; do
    [ -f "$plan" ] || continue
    login import "$plan"
done
for day in ${CERTLINE_FETCH_DATES:-}; do
    login fetch --date "$day"
done
echo "setup-factory: done"
