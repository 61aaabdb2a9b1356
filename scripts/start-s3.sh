#!/usr/bin/env bash
# Start a real S3 server for the tests of internal/content/s3: versitygw with
# its posix backend, on loopback, its data under DIR. It installs versitygw at
# the pinned version when missing, waits until the server answers, and prints
# the environment the tests read:
#
#   eval "$(scripts/start-s3.sh /tmp/wharf-s3)"
#   go test ./internal/content/s3/
#   kill "$(cat /tmp/wharf-s3/versitygw.pid)"
#
# Env: S3_ADDR (default 127.0.0.1:7070), S3_BUCKET (default wharf-test).
# Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail

VERSITYGW_VERSION=v1.8.0
dir=${1:?usage: $0 DIR}
addr=${S3_ADDR:-127.0.0.1:7070}
bucket=${S3_BUCKET:-wharf-test}
export PATH="$(go env GOPATH)/bin:$PATH"

mkdir -p "$dir/data"
dir=$(cd "$dir" && pwd)
pidfile=$dir/versitygw.pid
envfile=$dir/env

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "versitygw already running from $dir (pid $(cat "$pidfile"))" >&2
  cat "$envfile"
  exit 0
fi

# versitygw --version says "git" when built by go install; the module version
# is in the binary's build info.
bin=$(command -v versitygw || true)
if [ -z "$bin" ] || ! go version -m "$bin" | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/versity/versitygw[[:space:]]+$VERSITYGW_VERSION[[:space:]]"; then
  echo "installing versitygw $VERSITYGW_VERSION" >&2
  go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
fi

# Fresh keys for each new DIR: the server only listens on loopback, but a
# fixed secret in a script invites reuse elsewhere. A restart over the same
# DIR keeps them, so clients still holding them reconnect (the outage tests
# of internal/server stop and restart the server under a running wharf).
access=$(sed -n 's/^export WHARF_TEST_S3_ACCESS_KEY=//p' "$envfile" 2>/dev/null || true)
secret=$(sed -n 's/^export WHARF_TEST_S3_SECRET_KEY=//p' "$envfile" 2>/dev/null || true)
if [ -z "$access" ] || [ -z "$secret" ]; then
  access=wharf$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
  secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
fi

ROOT_ACCESS_KEY=$access ROOT_SECRET_KEY=$secret \
  nohup versitygw --port "$addr" --quiet posix "$dir/data" \
  >"$dir/versitygw.log" 2>&1 </dev/null &
echo $! >"$pidfile"

host=${addr%:*}
port=${addr##*:}
for _ in $(seq 1 100); do
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "versitygw exited; its log:" >&2
    cat "$dir/versitygw.log" >&2
    exit 1
  fi
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    break
  fi
  sleep 0.1
done
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "versitygw did not answer on $addr within 10s; its log:" >&2
  cat "$dir/versitygw.log" >&2
  exit 1
fi
# The bucket every consumer shares (each uses its own prefix); curl signs the
# request with SigV4 itself. 409 means it exists already.
code=$(curl -s -o /dev/null -w "%{http_code}" -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
  -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
  --user "$access:$secret" "http://$addr/$bucket")
case $code in
  200|409) ;;
  *) echo "could not create bucket $bucket: HTTP $code" >&2; exit 1 ;;
esac
echo "versitygw $VERSITYGW_VERSION ready on $addr (pid $(cat "$pidfile"), data $dir/data)" >&2

cat >"$envfile" <<EOF
export WHARF_TEST_S3_ENDPOINT=http://$addr
export WHARF_TEST_S3_ACCESS_KEY=$access
export WHARF_TEST_S3_SECRET_KEY=$secret
export WHARF_TEST_S3_BUCKET=$bucket
EOF
cat "$envfile"
