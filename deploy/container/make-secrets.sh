#!/usr/bin/env bash
# make-secrets.sh: makes the secret files deploy/docker-compose.yml hands to its containers, in
# deploy/secrets/ (never committed). Run it once on the Docker host, as root, before the first
# "docker-compose up". Files that exist are kept, so rerunning it changes nothing.
#
# Docker secrets from files (no swarm) are bind mounts: the container sees the host file with its
# owner and mode. The programs refuse a passphrase or password file that group or others can
# read, so each file is mode 0600 and owned by the uid that reads it: 10001 (the image's certline
# user) or 999 (the postgres user of the postgres:15 image).
set -euo pipefail

here=$(cd -- "$(dirname -- "$0")/.." && pwd)
dir=${1:-$here/secrets}
certline_uid=${CERTLINE_UID:-10001}
postgres_uid=${POSTGRES_UID:-999}

if [ "$(id -u)" -ne 0 ]; then
  echo "make-secrets.sh: run as root (the files must belong to uid $certline_uid and $postgres_uid)" >&2
  exit 1
fi
command -v openssl >/dev/null || { echo "make-secrets.sh: needs openssl" >&2; exit 1; }
install -d -m 0700 "$dir"

# secret NAME UID CONTENT: writes dir/NAME (0600, owned by UID) unless it exists.
secret() {
  local path=$dir/$1
  if [ -e "$path" ]; then
    echo "kept    $path"
    return
  fi
  (umask 077 && printf '%s\n' "$3" >"$path")
  chown "$2:$2" "$path"
  chmod 0600 "$path"
  echo "made    $path (owner $2, mode 0600)"
}

# Hex, so the values need no quoting in a pgpass line or a shell.
secret ca_passphrase "$certline_uid" "$(openssl rand -hex 32)"
secret operator_password "$certline_uid" "$(openssl rand -hex 16)"
secret postgres_password "$postgres_uid" "$(openssl rand -hex 24)"
# The SoftHSM2 token holding the issuing CA's key (setup-pki.sh makes the token and the key;
# ca-server reads the user PIN through the pin-source of its issuing_key_uri).
secret token_pin "$certline_uid" "$(openssl rand -hex 16)"
secret token_so_pin "$certline_uid" "$(openssl rand -hex 16)"
if [ ! -e "$dir/certline_db_password" ] || [ ! -e "$dir/certline_pgpass" ]; then
  rm -f "$dir/certline_db_password" "$dir/certline_pgpass"
  db=$(openssl rand -hex 24)
  # Read by the postgres container's first start (deploy/container/postgres-init.sh) ...
  secret certline_db_password "$postgres_uid" "$db"
  # ... and by ca-server and comm-terminal through libpq (passfile= in their conninfo), for
  # any database host: "postgres", or "postgres" and "postgres-b" of the scale variant.
  secret certline_pgpass "$certline_uid" "*:5432:*:certline:$db"
  unset db
fi

cat <<EOF

The CA passphrase in $dir/ca_passphrase protects the CA keys: keep a copy offline (losing it
loses the CA). The first comm-terminal operator is "admin" with the password in
$dir/operator_password.
EOF
