#!/usr/bin/env bash
# The project's one test command: vet, unit and integration tests (with the
# race detector), then the end-to-end tests against the built binary (OCI
# conformance suite, real clients, crash tests). It installs what it needs:
# registry clients come from the Go module proxy and Debian, pinned by the
# shared scripts.
#
#   scripts/test.sh            everything
#   scripts/test.sh -short     skip the end-to-end tests
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
short=${1:-}

step() { printf '\n== %s\n' "$*"; }

# Real services for the backend suites, on loopback, in a throwaway directory:
# versitygw (S3), PostgreSQL, fake-gcs-server (GCS) and Azurite (Azure Blob
# Storage), each installed by its script when missing.
svc=$(mktemp -d /tmp/wharf-test-services.XXXXXX)
chmod 755 "$svc"
cleanup() {
  [ -f "$svc/s3/versitygw.pid" ] && kill "$(cat "$svc/s3/versitygw.pid")" 2>/dev/null || true
  [ -f "$svc/gcs/fake-gcs-server.pid" ] && kill "$(cat "$svc/gcs/fake-gcs-server.pid")" 2>/dev/null || true
  [ -f "$svc/azure/azurite.pid" ] && kill "$(cat "$svc/azure/azurite.pid")" 2>/dev/null || true
  [ -f "$svc/postgres/data/postmaster.pid" ] && kill -INT "$(head -1 "$svc/postgres/data/postmaster.pid")" 2>/dev/null || true
  sleep 0.5
  rm -rf "$svc"
}
trap cleanup EXIT
step "starting S3 (versitygw) and PostgreSQL on loopback"
eval "$(S3_ADDR=${WHARF_TEST_S3_ADDR:-127.0.0.1:17070} scripts/start-s3.sh "$svc/s3")"
eval "$(scripts/start-postgres.sh "$svc/postgres" "${WHARF_TEST_POSTGRES_PORT:-15432}")"
step "starting GCS (fake-gcs-server) and Azure Blob Storage (Azurite) emulators on loopback"
eval "$(GCS_ADDR=${WHARF_TEST_GCS_ADDR:-127.0.0.1:17071} scripts/start-gcs.sh "$svc/gcs")"
eval "$(AZURE_ADDR=${WHARF_TEST_AZURE_ADDR:-127.0.0.1:17072} scripts/start-azure.sh "$svc/azure")"

step "go vet"
go vet ./...

step "unit and integration tests (race detector on)"
go test -race -count=1 ./internal/...

if [ "$short" = "-short" ]; then
  exit 0
fi

step "Helm chart: rendered manifests against the Kubernetes API types (test/helm, a module of its own)"
go -C test/helm vet ./...
go -C test/helm test -count=1 ./...

step "end-to-end tests (conformance suite, real clients, crashes)"
log=$(mktemp)
if ! go test -count=1 -timeout 20m -v ./test/e2e/... >"$log" 2>&1; then
  cat "$log"
  exit 1
fi
# the verdicts and the suites' own summaries, without the chatter
grep -E '^(--- |ok|PASS)|conformance: |clients: |: (PASS|FAIL)|verified|ready on' "$log"
