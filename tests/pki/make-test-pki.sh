#!/usr/bin/env bash
# make-test-pki.sh: generates a fresh, throwaway certline test PKI for the integration tests.
# Nothing it produces is committed; tests run it at test time into a scratch directory.
#
# Identity convention (what the transport code authorises peers by): subject OU = role,
# CN = name, serialNumber (2.5.4.5) = line id / device number / model code; servers carry
# subjectAltName DNS = their CN. All keys are P-256 EC, unencrypted PKCS#8 PEM, mode 0600;
# all signatures are SHA-256.
#
# Usage: make-test-pki.sh OUTDIR
#        make-test-pki.sh --short-lived END OUTDIR: into a PKI made before, one more ca-server
#        certificate, short-lived-ca-server, that ends at END (YYYYMMDDHHMMSSZ, seconds ahead), for
#        tests of what a client does when a certificate expires under a kept session.
set -euo pipefail

short_end=
if [[ $# -eq 3 && $1 == --short-lived ]]; then
    short_end=$2
    shift 2
fi
if [[ $# -ne 1 || -z $1 ]]; then
    echo "usage: $0 [--short-lived END] OUTDIR" >&2
    exit 2
fi

out=$1
mkdir -p -- "$out"
out=$(cd -- "$out" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/certline-pki.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

O="certline test"

# Minimal OpenSSL configuration, so nothing depends on the system openssl.cnf.
cat >"$work/openssl.cnf" <<EOF
[ req ]
distinguished_name = req_dn
prompt             = no
string_mask        = utf8only
utf8               = yes

[ req_dn ]
CN = unused

[ v3_root ]
basicConstraints       = critical, CA:TRUE, pathlen:1
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_issuing ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_leaf ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_server ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = DNS:\${ENV::CL_SAN_DNS}

# Used only by "openssl ca" for the expired certificate (x509 -req cannot back-date).
[ ca ]
default_ca = issuing_ca

[ issuing_ca ]
database        = $work/ca/index.txt
new_certs_dir   = $work/ca/new
serial          = $work/ca/serial
default_md      = sha256
policy          = policy_any
unique_subject  = no
copy_extensions = none
email_in_dn     = no

[ policy_any ]
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied
serialNumber           = optional
EOF
export OPENSSL_CONF="$work/openssl.cnf"
export CL_SAN_DNS="unused.invalid"

# quiet CMD...: runs CMD with its stderr (OpenSSL's chatter) shown only if it fails.
quiet() {
    if ! "$@" 2>"$work/stderr"; then
        cat "$work/stderr" >&2
        echo "$0: failed: $*" >&2
        exit 1
    fi
}

# A random positive 128-bit serial in hex, without 0x (top bit cleared).
serial() {
    local hex
    hex=$(openssl rand -hex 16)
    printf '%x%s' $((0x${hex:0:1} & 7)) "${hex:1}"
}

# newkey NAME: P-256 key in NAME.key, unencrypted PKCS#8 PEM, mode 0600.
newkey() {
    rm -f -- "$out/$1.key"
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$out/$1.key")
    chmod 600 -- "$out/$1.key"
}

# selfsigned NAME SUBJECT DAYS: self-signed root CA.
selfsigned() {
    newkey "$1"
    openssl req -new -x509 -key "$out/$1.key" -subj "$2" -days "$3" -sha256 \
        -set_serial "0x$(serial)" -extensions v3_root -out "$out/$1.crt"
}

# csr NAME SUBJECT: new key and request in the work directory.
csr() {
    newkey "$1"
    openssl req -new -key "$out/$1.key" -subj "$2" -sha256 -out "$work/$1.csr"
}

# sign NAME ISSUER EXTSECTION DAYS [SAN_DNS]: signs NAME.csr with ISSUER.
sign() {
    CL_SAN_DNS=${5:-unused.invalid} quiet openssl x509 -req -in "$work/$1.csr" \
        -CA "$out/$2.crt" -CAkey "$out/$2.key" -set_serial "0x$(serial)" -days "$4" -sha256 \
        -extfile "$OPENSSL_CONF" -extensions "$3" -out "$out/$1.crt"
}

# chain NAME ISSUER: NAME.chain.crt = leaf followed by its issuing CA certificate.
chain() {
    cat "$out/$1.crt" "$out/$2.crt" >"$out/$1.chain.crt"
}

# server NAME OU CN [ISSUER]: server leaf with SAN DNS = CN.
server() {
    local issuer=${4:-issuing}
    csr "$1" "/O=$O/OU=$2/CN=$3"
    sign "$1" "$issuer" v3_server 730 "$3"
    chain "$1" "$issuer"
}

# client NAME SUBJECT: leaf without SAN, issued by the issuing CA.
client() {
    csr "$1" "$2"
    sign "$1" issuing v3_leaf 730
    chain "$1" issuing
}

# expiring NAME SUBJECT START END [SAN_DNS]: a server leaf from the issuing CA with set dates
# (openssl ca can set them; x509 -req cannot).
expiring() {
    mkdir -p "$work/ca/new"
    : >"$work/ca/index.txt"
    csr "$1" "$2"
    serial >"$work/ca/serial"
    CL_SAN_DNS=$5 quiet openssl ca -batch -notext -preserveDN \
        -cert "$out/issuing.crt" -keyfile "$out/issuing.key" -startdate "$3" -enddate "$4" \
        -extfile "$OPENSSL_CONF" -extensions v3_server \
        -in "$work/$1.csr" -out "$out/$1.crt"
    chain "$1" issuing
}

if [[ -n $short_end ]]; then
    expiring short-lived-ca-server "/O=$O/OU=ca-server/CN=ca.certline.test" 20200101000000Z \
        "$short_end" ca.certline.test
    exit 0
fi

# --- CAs ---------------------------------------------------------------------------------
selfsigned root "/O=$O/CN=certline test root" 3650
csr issuing "/O=$O/CN=certline test issuing CA"
sign issuing root v3_issuing 1825
cat "$out/issuing.crt" "$out/root.crt" >"$out/ca-bundle.crt"
cp -- "$out/root.crt" "$out/trust.crt"

# --- Leaves issued by the issuing CA -----------------------------------------------------
server ca-server ca-server ca.certline.test
server comm-terminal comm-terminal comm.certline.test
for line in 1001 1002; do
    csr "factory-terminal-$line" \
        "/O=$O/OU=factory-terminal/CN=line-$line.certline.test/serialNumber=$line"
    sign "factory-terminal-$line" issuing v3_server 730 "line-$line.certline.test"
    chain "factory-terminal-$line" issuing
done
client device-3012-000001 "/O=$O/OU=device/CN=3012-000001/serialNumber=3012-000001"
client device-common-3012 "/O=$O/OU=device-common/CN=3012 common/serialNumber=3012"
client production-mes "/O=$O/OU=production/CN=mes.factory-e"

# The ca-server certificate re-issued: same name and role, a new key (for reconnect tests).
server ca-server-reissued ca-server ca.certline.test

# Right CA and role, wrong server name (for the "wrong server name" test).
server wrong-name-ca-server ca-server evil.certline.test

# --- Expired: valid 2020-01-01 .. 2020-01-02 (openssl ca can set past dates) --------------
expiring expired-comm-terminal "/O=$O/OU=comm-terminal/CN=comm.certline.test" 20200101000000Z \
    20200102000000Z comm.certline.test

# --- An unrelated root and a comm-terminal lookalike it signs directly --------------------
selfsigned other-root "/O=other test/CN=other test root" 3650
server other-comm-terminal comm-terminal comm.certline.test other-root
