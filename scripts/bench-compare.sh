#!/usr/bin/env bash
# Side by side, in one run on one machine: the CNCF distribution registry
# v3.1.2 (filesystem storage) and wharf (fs + SQLite, its defaults), each
# measured by `wharf bench` with its server PID so CPU seconds are reported.
#
#   scripts/bench-compare.sh [OUT_DIR] [-- extra wharf bench flags]
#
# BENCH_PORT (default 5055) and the port after it are where the two
# registries listen.
#
# Writes OUT_DIR/distribution.json and OUT_DIR/wharf.json and prints the
# side-by-side table (scripts/bench-table.py) that docs/performance.md holds.
# Both run without per-request access logs; distribution with the in-memory
# blob descriptor cache of its sample configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
shift || true
[ "${1:-}" = "--" ] && shift
extra=("$@")
export PATH="$(go env GOPATH)/bin:$PATH"
mkdir -p "$out"
dport=${BENCH_PORT:-5055}
wport=$((dport + 1))
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

command -v registry >/dev/null || go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2
go build -o "$work/wharf" ./cmd/wharf

wait_up() { for _ in $(seq 100); do curl -fs -o /dev/null "http://$1/v2/" && return 0; sleep 0.1; done; echo "$1 not up" >&2; exit 1; }

run() { # name addr pid
  echo "== $1" >&2
  "$work/wharf" bench --url "http://$2" --pid "$3" --json "${extra[@]}" >"$out/$1.json"
}

cat > "$work/dist.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/dist}, delete: {enabled: true}, cache: {blobdescriptor: inmemory}}
http: {addr: 127.0.0.1:$dport}
YML
registry serve "$work/dist.yml" >"$work/dist.log" 2>&1 &
pids+=($!); wait_up 127.0.0.1:$dport
run distribution 127.0.0.1:$dport "${pids[-1]}"
kill "${pids[-1]}"; rm -rf "$work/dist"

"$work/wharf" serve --addr 127.0.0.1:$wport --data-dir "$work/wharf-data" --log-level warn >"$work/wharf.log" 2>&1 &
pids+=($!); wait_up 127.0.0.1:$wport
run wharf 127.0.0.1:$wport "${pids[-1]}"
python3 scripts/bench-table.py "$out/distribution.json" "$out/wharf.json" | tee "$out/table.md"
echo "results in $out" >&2
