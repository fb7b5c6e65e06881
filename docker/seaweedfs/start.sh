#!/bin/sh
# SeaweedFS as the evidence store: write the S3 identity file from the environment, then run `weed mini`
# (master, volume, filer and S3 gateway in one process). Used by docker-compose.yml (service `seaweedfs`, the
# official chrislusf/seaweedfs image) and by the production-topology harness (tests/fixtures/topology.py),
# which appends its own port flags ("$@"). Without identities SeaweedFS would allow anonymous access, so the
# key pair is required; telemetry is off and only the S3 gateway needs to be reachable by the application.
# The evidence bucket itself (with Object Lock) is created by the API (evidence.storage ensure_bucket), and
# every /health proves the lock holds (check_object_lock: a locked canary version must refuse deletion).
set -eu
: "${COC_S3_ACCESS_KEY:?set COC_S3_ACCESS_KEY}" "${COC_S3_SECRET_KEY:?set COC_S3_SECRET_KEY}"
WEED="${WEED:-weed}"
DATA="${SEAWEEDFS_DIR:-/data}"
BIND="${SEAWEEDFS_BIND:-0.0.0.0}"
HOST="${SEAWEEDFS_IP:-$(hostname)}"
CONFIG="$DATA/s3.json"
mkdir -p "$DATA/data"
umask 077
cat > "$CONFIG" <<JSON
{"identities": [{"name": "coc",
  "credentials": [{"accessKey": "$COC_S3_ACCESS_KEY", "secretKey": "$COC_S3_SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
exec "$WEED" mini -dir="$DATA/data" -ip="$HOST" -ip.bind="$BIND" -s3.config="$CONFIG" \
    -admin.ui=false -master.telemetry=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 "$@"
