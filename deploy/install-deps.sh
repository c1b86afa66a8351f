#!/usr/bin/env bash
# install-deps.sh: installs the Debian 12 packages certline needs to build, test and run, and only
# those that are missing, so it is cheap to run before every build. Needs root (or sudo).
set -euo pipefail

# What building the four programs needs (configure and compile; the builder stage of
# deploy/Dockerfile installs only these, with CERTLINE_DEPS=build). libp11-kit-dev: the PKCS#11
# header (common/p11*.c load modules themselves).
build_packages=(
  build-essential cmake pkg-config git ca-certificates
  gsoap libgsoap-dev libmbedtls-dev libpq-dev libcjson-dev libcmocka-dev libp11-kit-dev
)
# The rest, for the tests, the simulations and the tools. docker-compose and python3-yaml:
# tests/deploy checks deploy/docker-compose.yml with "docker-compose config", which needs no
# container engine. time (GNU time): tests/bench measures a device-agent's peak memory with it.
# faketime: tests/ca-server/test_ca_validity.py moves ca-server's clock years ahead and back (the
# issuing CA's end, its rollover). clang-14 and libclang-rt-14-dev: make fuzz (libFuzzer).
# docker.io (dockerd 20.10, containerd, runc, tini, iptables) and debootstrap: make
# demo-containers and tests/containers start their own engine and make their base images from
# Debian's archive (deploy/containers/engine.py). softhsm2: the PKCS#11 token of the tests, the
# simulation and CI; p11-kit; opensc (pkcs11-tool): the test that shows the issuing key cannot
# leave its token. prometheus: tests/line/test_line_metrics.py scrapes every server's /metrics with it.
# golang-cfssl: make bench's peer CA (tests/bench/bench_cfssl.py, `cfssl serve`).
# haproxy: tests/ca-server/test_multi_haproxy.py puts it in front of two ca-server instances
# (deploy/MULTI-INSTANCE.md).
# postgresql-15-auto-failover and pg-auto-failover-cli (pg_autoctl): the failover test's
# monitor, primary and synchronous standby (tests/e2e/test_pg_failover.py).
# chromium, nodejs and npm: tests/console drives the comm-terminal's operator console in
# headless chromium through playwright-core (npm, installed into the build folder).
packages=(
  "${build_packages[@]}" openssl clang-format
  postgresql postgresql-client python3 python3-zeep python3-cryptography
  docker-compose python3-yaml time faketime clang-14 libclang-rt-14-dev
  docker.io debootstrap p11-kit softhsm2 opensc prometheus golang-cfssl haproxy
  postgresql-15-auto-failover pg-auto-failover-cli
  chromium
)
# nodejs and npm: Debian's, unless node already comes with npm (NodeSource's nodejs bundles npm
# and conflicts with Debian's npm package).
command -v npm >/dev/null || packages+=(nodejs npm)
if [ "${CERTLINE_DEPS:-all}" = build ]; then
  packages=("${build_packages[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "certline: installing missing Debian packages: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "certline: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
# The postgresql package starts a system cluster; certline's tests and simulation use private
# clusters in temporary folders and need nothing from it.
