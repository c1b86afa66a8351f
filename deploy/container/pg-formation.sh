#!/bin/bash
# pg-formation.sh: the entry point of the scale variant's PostgreSQL containers
# (deploy/docker-compose.scale.yml; image certline/postgres:15, which holds Debian's
# postgresql-15-auto-failover): the pg_auto_failover monitor, or a node (primary or synchronous
# standby) under it, as deploy/sim/pg_failover.py runs them on loopback.
#
#   pg-formation.sh monitor [-c NAME=VALUE ...]   pg_autoctl create monitor (the first time),
#                                  then pg_autoctl run
#   pg-formation.sh node [postgres] [-c NAME=VALUE ...]
#                                  pg_autoctl create postgres (the first time), then pg_autoctl
#                                  run (a killed node rejoins as the standby)
#   pg-formation.sh health         the health check: this start's pg_hba.conf and settings are
#                                  applied, and the monitor answers or a node has certline's
#                                  databases (a standby once it replicates them)
#   pg-formation.sh state          pg_autoctl show state (on the monitor: the formation's nodes)
#
# Each -c setting is applied with ALTER SYSTEM once the server runs (the monitor's timers, a
# node's idle_session_timeout; every node gets checkpoint_completion_target=0, see below). On the first node's first start, once it takes writes,
# /docker-entrypoint-initdb.d/*.sh make certline's role and databases (container/postgres-init.sh,
# as in the single topology); the standby receives them by replication.
#
# pg_hba.conf is written here, not by pg_autoctl (--skip-pg-hba): pg_autoctl's rules name hosts,
# which PostgreSQL matches by reverse DNS, and the engine's reverse names are not the aliases.
# The network "formation", where only the monitor and the nodes are, is trusted (the monitor's
# checks, the nodes' reports, replication); every other address (ca-server, comm-terminal over
# "db") logs in as certline with scram-sha-256; docker exec psql uses the socket.
#
# Environment: CERTLINE_PG_HOSTNAME (this container's name on "formation"), CERTLINE_PG_MONITOR
# (the monitor's name there), CERTLINE_PG_NAME (a node's name in the formation),
# CERTLINE_PG_CONNECT_TIMEOUT (seconds each connection attempt of pg_autoctl may take, default
# 15), CERTLINE_PG_KEEPER_TIMEOUTS (a node's keeper timeouts, "NAME=SECONDS ..." of pg_autoctl's
# [timeout] section, e.g. network_partition_timeout=60); the data
# folder, pg_autoctl's configuration and state all live under /var/lib/postgresql/data (the
# volume), so a restarted container finds its node.
set -euo pipefail

base=/var/lib/postgresql/data
export PGDATA=$base/pgdata XDG_CONFIG_HOME=$base/config XDG_DATA_HOME=$base/share
export PGHOST=/var/run/postgresql PG_REGRESS_SOCK_DIR=/var/run/postgresql
# pg_autoctl gives every connection attempt (a keeper's report to the monitor, its queries to its
# own server, the monitor's to its own) 2 s: it sets PGCONNECT_TIMEOUT=2 itself, over any value
# of ours. On a starved host a fork and login take longer; a primary's keeper that reached neither
# the monitor nor its own server for network_partition_timeout then stopped a healthy primary,
# and a standby's promotion failed at each try. libpq takes a service's settings before the
# environment's, so a service file with connect_timeout gives each attempt
# CERTLINE_PG_CONNECT_TIMEOUT seconds instead (written below, before pg_autoctl starts).
services=$base/pg_service.conf
# Written once this start's pg_hba.conf and settings are applied; the health check waits for it.
configured=$base/configured
if [ -f "$services" ]; then export PGSERVICEFILE=$services PGSERVICE=pg_autoctl; fi
bin=/usr/lib/postgresql/15/bin
role=${1:?monitor, node, health or state}
shift
[ "$role" != state ] || exec pg_autoctl show state --pgdata "$PGDATA" "$@"

sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "${2:-postgres}" -c "$1"; }

if [ "$role" = health ]; then
    [ -f "$configured" ]
    if [ "$(sql "SELECT count(*) FROM pg_database WHERE datname = 'pg_auto_failover'")" = 1 ]
    then
        [ "$(sql 'SELECT count(*) FROM pgautofailover.formation' pg_auto_failover)" -ge 1 ]
    else
        [ "$(sql "SELECT count(*) FROM pg_database
                  WHERE datname IN ('certline_ca', 'certline_ct')")" = 2 ]
    fi
    exit
fi

# The subnet of "formation" (CIDR), from this container's address there and its routes.
formation_cidr() {
    local ip a b c d self dest mask iface rest
    ip=$(getent ahostsv4 "${CERTLINE_PG_HOSTNAME:?}" | awk 'NR == 1 {print $1}')
    IFS=. read -r a b c d <<<"$ip"
    self=$(((a << 24) | (b << 16) | (c << 8) | d))
    while read -r iface dest _ _ _ _ _ mask rest; do
        if [ "$iface" = Iface ] || [ "$mask" = 00000000 ]; then continue; fi
        dest=$((16#$dest)) mask=$((16#$mask))
        # /proc/net/route holds addresses in the host's byte order (little-endian here).
        dest=$(((dest & 255) << 24 | ((dest >> 8) & 255) << 16 | ((dest >> 16) & 255) << 8 |
            ((dest >> 24) & 255)))
        mask=$(((mask & 255) << 24 | ((mask >> 8) & 255) << 16 | ((mask >> 16) & 255) << 8 |
            ((mask >> 24) & 255)))
        if [ $((self & mask)) -eq "$dest" ]; then
            local bits=0 m=$mask
            while [ $((m & 0x80000000)) -ne 0 ]; do bits=$((bits + 1)) m=$(((m << 1) & 0xffffffff)); done
            echo "$((dest >> 24)).$(((dest >> 16) & 255)).$(((dest >> 8) & 255)).$((dest & 255))/$bits"
            return
        fi
    done </proc/net/route
    echo "pg-formation: no route holds $ip (${CERTLINE_PG_HOSTNAME})" >&2
    return 1
}

# Once the server runs: pg_hba.conf, the -c settings, and certline's databases on a node that
# takes writes and has none yet. Runs beside pg_autoctl, orphaned to the container's init.
configure() {
    local lan setting
    until sql 'SELECT 1' >/dev/null 2>&1; do sleep 0.5; done
    # The engine's resolver may not know this container's alias at its first instant.
    until lan=$(formation_cidr); do sleep 1; done
    {
        echo "# pg_hba.conf written by pg-formation.sh at every start"
        echo "local all all trust"
        echo "host all all 127.0.0.1/32 trust"
        echo "host all all $lan trust"
        echo "host replication all $lan trust"
        echo "host all certline all scram-sha-256"
    } >"$PGDATA/pg_hba.conf"
    for setting in "${settings[@]}"; do
        sql "ALTER SYSTEM SET ${setting%%=*} = '${setting#*=}'" >/dev/null
    done
    sql 'SELECT pg_reload_conf()' >/dev/null
    echo "pg-formation: pg_hba.conf (formation $lan trusted) and ${#settings[@]} setting(s) applied"
    : >"$configured"
    [ "$role" = node ] || return 0
    until [ "$(sql 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
        # A standby never makes the databases; it stops looking once it has them.
        if "$0" health 2>/dev/null; then return 0; fi
        sleep 1
    done
    if [ "$(sql "SELECT count(*) FROM pg_database WHERE datname = 'certline_ca'")" = 0 ]; then
        for f in /docker-entrypoint-initdb.d/*.sh; do
            [ -f "$f" ] || continue
            echo "pg-formation: running $f"
            POSTGRES_USER=postgres bash "$f"
        done
    fi
}

# A node writes a requested checkpoint at once instead of spreading it over 90% of
# checkpoint_timeout: a joining standby's pg_basebackup (the first start of node B, a killed node
# rejoining) waits for one, minutes on an idle primary otherwise.
settings=()
[ "$role" != node ] || settings=(checkpoint_completion_target=0)
[ "${1:-}" != postgres ] || shift
while [ $# -gt 0 ]; do
    case $1 in
    -c) settings+=("$2") && shift 2 ;;
    *) echo "pg-formation: unknown argument $1" >&2 && exit 2 ;;
    esac
done

mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME"
rm -f "$configured"
printf '# written by pg-formation.sh at every start\n[pg_autoctl]\nconnect_timeout=%s\n' \
    "${CERTLINE_PG_CONNECT_TIMEOUT:-15}" >"$services"
export PGSERVICEFILE=$services PGSERVICE=pg_autoctl
# pg_autoctl create ... --run is not used: under it, a keeper service that restarts (a SIGHUP
# that lands while it starts, a crash) runs the node's initialisation again, which in Debian's
# pg_auto_failover 2.0 forgets the node's group and asks its own server instead of the monitor
# ("schema pgautofailover does not exist"), five times, and the whole node stops. So the node is
# created first (pg_autoctl stops its server when done), its keeper timeouts written while no
# pg_autoctl runs, and only then run; the configuration above is applied once it runs.
cfg=$XDG_CONFIG_HOME/pg_autoctl$PGDATA/pg_autoctl.cfg
if [ ! -f "$cfg" ]; then
    case $role in
    monitor)
        pg_autoctl create monitor --pgdata "$PGDATA" --pgport 5432 --pgctl "$bin/pg_ctl" \
            --hostname "$CERTLINE_PG_HOSTNAME" --no-ssl --skip-pg-hba ;;
    node)
        pg_autoctl create postgres --pgdata "$PGDATA" --pgport 5432 --pgctl "$bin/pg_ctl" \
            --listen '*' --hostname "$CERTLINE_PG_HOSTNAME" --name "${CERTLINE_PG_NAME:?}" \
            --no-ssl --skip-pg-hba \
            --monitor "postgres://autoctl_node@${CERTLINE_PG_MONITOR:?}:5432/pg_auto_failover?sslmode=disable" ;;
    *) echo "pg-formation: unknown role $role" >&2 && exit 2 ;;
    esac
fi
if [ "$role" = node ]; then
    # The keeper's [timeout] settings, in its configuration, read by pg_autoctl run.
    for setting in ${CERTLINE_PG_KEEPER_TIMEOUTS:-}; do
        pg_autoctl config set --pgdata "$PGDATA" "timeout.${setting%%=*}" "${setting#*=}" \
            >/dev/null || echo "pg-formation: could not set timeout.$setting" >&2
    done
    echo "pg-formation: keeper timeouts ${CERTLINE_PG_KEEPER_TIMEOUTS:-(defaults)}"
fi
(configure &)
exec pg_autoctl run --pgdata "$PGDATA"
