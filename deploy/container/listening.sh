#!/bin/sh
# listening.sh PORT: succeeds if a TCP socket in this container listens on PORT. The health check
# of the serving containers: it opens no connection, so the servers log no failed handshakes.
set -eu
port=$(printf ':%04X' "$1")
exec awk -v port="$port" '
    $4 == "0A" && substr($2, length($2) - 4) == port { found = 1 }
    END { exit !found }' /proc/net/tcp /proc/net/tcp6
