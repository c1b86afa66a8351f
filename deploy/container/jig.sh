#!/bin/sh
# jig.sh: a line's jig in the container day (make demo-containers, deploy/containers/day.yml):
# a fresh board for every device, each in its own folder of the jig's volume, so every board
# keeps its flash and NVRAM images (its certificate) after it leaves the jig.
#   jig.sh idle                   the container's main process: an empty jig, waiting
#   jig.sh serve DN MAC [ARG...]  makes DN's board once (mkimage from the model's bundle), then
#                                 runs device-agent -c BOARD/device-agent.json serve ARG... on it
#   jig.sh agent DN ARG...        device-agent -c BOARD/device-agent.json ARG... (show, check-in)
#   jig.sh stop DN                ends DN's serve (SIGTERM)
# Environment (no secrets): CERTLINE_DEVICE_CONFIG (the line's device-agent configuration, whose
# image paths are moved into the board's folder), DEVICE_BUNDLE (a model's bundle; the model
# code in it is replaced by the device number's), JIG_BOARDS (default /var/lib/certline/boards).
set -eu

: "${CERTLINE_DEVICE_CONFIG:?}" "${DEVICE_BUNDLE:?}"
boards=${JIG_BOARDS:-/var/lib/certline/boards}
command=${1:-idle}
[ $# -gt 0 ] && shift

board() {
    case "$1" in
    */* | .* | "") echo "jig: bad device number '$1'" >&2; exit 2 ;;
    esac
    echo "$boards/$1"
}

case "$command" in
idle)
    exec sleep infinity
    ;;
serve)
    dn=$1 mac=$2
    shift 2
    dir=$(board "$dn")
    if [ ! -f "$dir/device-agent.json" ]; then
        mkdir -p "$dir"
        sed -e "s|\"[^\"]*flash\\.img\"|\"$dir/flash.img\"|" \
            -e "s|\"[^\"]*nvram\\.img\"|\"$dir/nvram.img\"|" \
            "$CERTLINE_DEVICE_CONFIG" >"$dir/device-agent.json.new"
        grep -q "\"$dir/flash.img\"" "$dir/device-agent.json.new"
        bundle=$(dirname "$DEVICE_BUNDLE")/${dn%%-*}.bundle
        device-agent -c "$dir/device-agent.json.new" mkimage --device-number "$dn" --mac "$mac" \
            --bundle "$bundle" >&2
        mv "$dir/device-agent.json.new" "$dir/device-agent.json"
    fi
    echo $$ >"$dir/serve.pid"
    exec device-agent -c "$dir/device-agent.json" serve "$@"
    ;;
agent)
    dir=$(board "$1")
    shift
    exec device-agent -c "$dir/device-agent.json" "$@"
    ;;
stop)
    dir=$(board "$1")
    kill "$(cat "$dir/serve.pid")"
    ;;
*)
    echo "jig: unknown command '$command'" >&2
    exit 2
    ;;
esac
