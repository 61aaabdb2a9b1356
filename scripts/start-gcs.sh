#!/usr/bin/env bash
# Start a Google Cloud Storage emulator for the tests of internal/content/gcs:
# fake-gcs-server with its filesystem backend, on loopback, its data under
# DIR. It installs fake-gcs-server at the pinned version when missing, waits
# until the server answers, creates the test bucket and prints the
# environment the tests read:
#
#   eval "$(scripts/start-gcs.sh /tmp/wharf-gcs)"
#   go test ./internal/content/gcs/
#   kill "$(cat /tmp/wharf-gcs/fake-gcs-server.pid)"
#
# Env: GCS_ADDR (default 127.0.0.1:4443), GCS_BUCKET (default wharf-test).
# Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail

FAKE_GCS_VERSION=v1.56.1
dir=${1:?usage: $0 DIR}
addr=${GCS_ADDR:-127.0.0.1:4443}
bucket=${GCS_BUCKET:-wharf-test}
export PATH="$(go env GOPATH)/bin:$PATH"

mkdir -p "$dir/data"
dir=$(cd "$dir" && pwd)
pidfile=$dir/fake-gcs-server.pid
envfile=$dir/env

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "fake-gcs-server already running from $dir (pid $(cat "$pidfile"))" >&2
  cat "$envfile"
  exit 0
fi

bin=$(command -v fake-gcs-server || true)
if [ -z "$bin" ] || ! go version -m "$bin" | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/fsouza/fake-gcs-server[[:space:]]+$FAKE_GCS_VERSION[[:space:]]"; then
  echo "installing fake-gcs-server $FAKE_GCS_VERSION" >&2
  go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION"
fi

host=${addr%:*}
port=${addr##*:}
# public-host makes the XML API (the client's reads, signed URLs) answer on
# the same address as the JSON API.
nohup fake-gcs-server -scheme http -host "$host" -port "$port" \
  -public-host "$addr" -external-url "http://$addr" \
  -backend filesystem -filesystem-root "$dir/data" -log-level error \
  >"$dir/fake-gcs-server.log" 2>&1 </dev/null &
echo $! >"$pidfile"

for _ in $(seq 1 100); do
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "fake-gcs-server exited; its log:" >&2
    cat "$dir/fake-gcs-server.log" >&2
    exit 1
  fi
  if curl -fs -o /dev/null "http://$addr/storage/v1/b"; then
    break
  fi
  sleep 0.1
done
if ! curl -fs -o /dev/null "http://$addr/storage/v1/b"; then
  echo "fake-gcs-server did not answer on $addr within 10s; its log:" >&2
  cat "$dir/fake-gcs-server.log" >&2
  exit 1
fi
# The bucket every consumer shares (each uses its own prefix). 409 means it
# exists already.
code=$(curl -s -o /dev/null -w "%{http_code}" -X POST -H 'Content-Type: application/json' \
  -d "{\"name\":\"$bucket\"}" "http://$addr/storage/v1/b?project=wharf-test")
case $code in
  200|409) ;;
  *) echo "could not create bucket $bucket: HTTP $code" >&2; exit 1 ;;
esac
echo "fake-gcs-server $FAKE_GCS_VERSION ready on $addr (pid $(cat "$pidfile"), data $dir/data)" >&2

cat >"$envfile" <<EOT
export WHARF_TEST_GCS_ENDPOINT=http://$addr
export WHARF_TEST_GCS_BUCKET=$bucket
EOT
cat "$envfile"
