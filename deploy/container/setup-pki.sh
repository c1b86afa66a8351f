#!/bin/sh
# setup-pki.sh: the one-shot PKI set-up of the container topology (service setup-pki in
# deploy/docker-compose.yml), the same ca-server commands as the no-container run:
#   ca-server -c CONFIG init                                  (once: root and issuing CA, schema)
#   ca-server -c CONFIG issue-service ROLE NAME [LINE] --out PREFIX   (one per service)
#   ca-server -c CONFIG model-add CODE; model-export CODE --out FILE  (one per device model)
# Rerunning it is safe: what exists is kept (a CA, a key, a model, a bundle), and a certificate
# that does not chain to this CA stops it.
#
# It starts as root only to hand the fresh volumes to the certline user, then runs as certline.
# Environment (no secrets; the CA passphrase is the file named by passphrase_file in CONFIG):
#   CERTLINE_CA_CONFIG  ca-server configuration (default /etc/certline/ca-server.json)
#   CERTLINE_CA_DIR     its ca_dir (default /var/lib/certline/ca), on a volume
#   CERTLINE_PKI_DIR    one mounted volume per service: ca-server/, comm-terminal/, line-LINE/,
#                       and bundles/ for the model bundles (default /srv/pki)
#   CERTLINE_DOMAIN     the services' DNS names: ca.D, comm.D, line-LINE.D (default certline.test)
#   CERTLINE_LINES      line ids, e.g. "1001 1002 1003"
#   CERTLINE_MODELS     device model codes, e.g. "3012"
#   CERTLINE_HSM_LABEL  the label of the SoftHSM2 token for the issuing CA's key (the token=
#                       of issuing_key_uri in CONFIG), made once in SoftHSM2's token folder
#                       (the image's $SOFTHSM2_CONF names /var/lib/certline-token, a volume) with
#                       the PINs of the docker secrets token_so_pin and token_pin;
#                       empty: the key stays in the passphrase-encrypted ca_dir/issuing.key.enc
set -eu

config=${CERTLINE_CA_CONFIG:-/etc/certline/ca-server.json}
pki=${CERTLINE_PKI_DIR:-/srv/pki}
domain=${CERTLINE_DOMAIN:-certline.test}
lines=${CERTLINE_LINES:-}
models=${CERTLINE_MODELS:-}
ca_dir=${CERTLINE_CA_DIR:-/var/lib/certline/ca}

if [ "$(id -u)" -eq 0 ]; then
    for d in "$(dirname "$ca_dir")" "$pki"/*; do
        [ -d "$d" ] || continue
        chown certline:certline "$d"
        chmod 0750 "$d"
    done
    exec setpriv --reuid=certline --regid=certline --clear-groups -- "$0" "$@"
fi

ca() { ca-server -c "$config" "$@"; }

# The issuing key's token. softhsm2-util takes the PINs on its command line only (or from a
# terminal, which a one-shot container has not); they are visible to this container alone.
token=${CERTLINE_HSM_LABEL:-}
if [ -n "$token" ]; then
    if softhsm2-util --show-slots | grep -q "^ *Label: *$token *\$"; then
        echo "setup-pki: token $token exists; kept"
    else
        softhsm2-util --init-token --free --label "$token" \
            --so-pin "$(head -n 1 /run/secrets/token_so_pin)" \
            --pin "$(head -n 1 /run/secrets/token_pin)" >/dev/null
        echo "setup-pki: token $token made"
    fi
fi

# The CA (the issuing key in the token when the configuration names one).
if [ -f "$ca_dir/issuing.crt" ]; then
    echo "setup-pki: the CA exists; applying database migrations only"
    ca migrate
else
    ca init
fi
root="$ca_dir/root.crt"

# issue DIR PREFIX ROLE NAME [LINE]: DIR/PREFIX.{crt,chain.crt,key,root.crt}, and DIR/root.crt
# (the trust_file of the service's configuration).
issue() {
    dir=$1 prefix=$2
    shift 2
    if [ ! -d "$dir" ]; then
        echo "setup-pki: $dir is not mounted (a volume per service, see docker-compose.yml)" >&2
        exit 1
    fi
    if [ -f "$dir/$prefix.key" ]; then
        echo "setup-pki: $dir/$prefix.* exists; kept"
    else
        ca issue-service "$@" --out "$dir/$prefix"
    fi
    if ! cmp -s "$dir/$prefix.root.crt" "$root"; then
        echo "setup-pki: $dir/$prefix.crt was issued by another CA; remove that volume" >&2
        exit 1
    fi
    cp "$root" "$dir/root.crt"
}

issue "$pki/ca-server" ca-server ca-server "ca.$domain"
issue "$pki/comm-terminal" comm-terminal comm-terminal "comm.$domain"
for line in $lines; do
    issue "$pki/line-$line" "factory-terminal-$line" factory-terminal "line-$line.$domain" "$line"
done

# Device models and their firmware bundles (the simulated devices' boards are made from these).
known=$(ca model-list | awk 'NR > 1 {print $2}')
for model in $models; do
    if printf '%s\n' "$known" | grep -qx "$model"; then
        echo "setup-pki: device model $model exists; kept"
    else
        ca model-add "$model"
    fi
    if [ -f "$pki/bundles/$model.bundle" ]; then
        echo "setup-pki: $pki/bundles/$model.bundle exists; kept"
    else
        ca model-export "$model" --out "$pki/bundles/$model.bundle"
    fi
done
echo "setup-pki: done"
