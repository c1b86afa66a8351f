#!/bin/sh
# device-entrypoint.sh: a simulated device on a line's jig (services device-LINE in
# deploy/docker-compose.yml). A blank board is made once from the model's firmware bundle,
#   device-agent -c CONFIG mkimage --device-number DN --mac MAC --bundle FILE
# then the command runs (device-agent -c CONFIG serve). The board stays in the service's volume
# until that volume is removed (a new device on the jig; see deploy/README.md).
# Environment (no secrets): CERTLINE_DEVICE_CONFIG, DEVICE_NUMBER, DEVICE_MAC, DEVICE_BUNDLE.
set -eu

: "${CERTLINE_DEVICE_CONFIG:?}" "${DEVICE_NUMBER:?}" "${DEVICE_MAC:?}" "${DEVICE_BUNDLE:?}"

if device-agent -c "$CERTLINE_DEVICE_CONFIG" show >/dev/null 2>&1; then
    echo "device-entrypoint: the board exists; kept"
else
    device-agent -c "$CERTLINE_DEVICE_CONFIG" mkimage --device-number "$DEVICE_NUMBER" \
        --mac "$DEVICE_MAC" --bundle "$DEVICE_BUNDLE"
fi
exec "$@"
