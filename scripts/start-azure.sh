#!/usr/bin/env bash
# Start an Azure Blob Storage emulator for the tests of internal/content/azure:
# Azurite's blob service (telemetry off), on loopback, its data under DIR,
# with an account of its own. It installs Azurite from npm at the pinned
# version when missing, waits until the server answers, and prints the
# environment the tests read:
#
#   eval "$(scripts/start-azure.sh /tmp/wharf-azure)"
#   go test ./internal/content/azure/
#   kill "$(cat /tmp/wharf-azure/azurite.pid)"
#
# Env: AZURE_ADDR (default 127.0.0.1:10000), AZURE_CONTAINER (default
# wharf-test). Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail

AZURITE_VERSION=3.35.0
dir=${1:?usage: $0 DIR}
addr=${AZURE_ADDR:-127.0.0.1:10000}
container=${AZURE_CONTAINER:-wharf-test}
account=wharftest

mkdir -p "$dir/data"
dir=$(cd "$dir" && pwd)
pidfile=$dir/azurite.pid
envfile=$dir/env

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "azurite already running from $dir (pid $(cat "$pidfile"))" >&2
  cat "$envfile"
  exit 0
fi

if ! command -v azurite-blob >/dev/null || [ "$(azurite-blob --version 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  echo "installing azurite $AZURITE_VERSION" >&2
  npm install -g --no-audit --no-fund "azurite@$AZURITE_VERSION" >&2
fi

# A fresh key for each new DIR (Azurite's well-known development key is
# public); a restart over the same DIR keeps it.
key=$(sed -n 's/^export WHARF_TEST_AZURE_ACCOUNT_KEY=//p' "$envfile" 2>/dev/null || true)
if [ -z "$key" ]; then
  key=$(head -c 64 /dev/urandom | base64 -w0)
fi

host=${addr%:*}
port=${addr##*:}
# --skipApiVersionCheck: the Go SDK may speak a newer service version than
# this Azurite knows; the operations wharf uses are the same.
AZURITE_ACCOUNTS="$account:$key" nohup azurite-blob --blobHost "$host" --blobPort "$port" \
  --location "$dir/data" --silent --disableTelemetry --skipApiVersionCheck \
  >"$dir/azurite.log" 2>&1 </dev/null &
echo $! >"$pidfile"

for _ in $(seq 1 100); do
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "azurite exited; its log:" >&2
    cat "$dir/azurite.log" >&2
    exit 1
  fi
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    break
  fi
  sleep 0.1
done
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "azurite did not answer on $addr within 10s; its log:" >&2
  cat "$dir/azurite.log" >&2
  exit 1
fi
# The container every consumer shares (each uses its own prefix), created
# with a request signed with the account's shared key. 409: it exists.
date=$(TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')
version=2021-08-06
tosign=$(printf 'PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:%s\nx-ms-version:%s\n/%s/%s/%s\nrestype:container' \
  "$date" "$version" "$account" "$account" "$container")
hexkey=$(printf '%s' "$key" | base64 -d | od -An -tx1 | tr -d ' \n')
sig=$(printf '%s' "$tosign" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64 -w0)
code=$(curl -s -o /dev/null -w "%{http_code}" -X PUT -H "x-ms-date: $date" -H "x-ms-version: $version" \
  -H "Content-Length: 0" -H "Authorization: SharedKey $account:$sig" \
  "http://$addr/$account/$container?restype=container")
case $code in
  201|409) ;;
  *) echo "could not create container $container: HTTP $code" >&2; exit 1 ;;
esac
echo "azurite $AZURITE_VERSION ready on $addr (pid $(cat "$pidfile"), data $dir/data)" >&2

cat >"$envfile" <<EOT
export WHARF_TEST_AZURE_ENDPOINT=http://$addr/$account
export WHARF_TEST_AZURE_ACCOUNT_NAME=$account
export WHARF_TEST_AZURE_ACCOUNT_KEY=$key
export WHARF_TEST_AZURE_CONTAINER=$container
EOT
cat "$envfile"
