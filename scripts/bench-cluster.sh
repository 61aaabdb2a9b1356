#!/usr/bin/env bash
# wharf on S3 + PostgreSQL, measured by `wharf bench` in one run: first one
# instance, then three replicas on one bucket prefix and one database,
# driven round-robin (`--url a,b,c --pid x,y,z`, so CPU seconds are the
# three processes' sum). The services are read from the environment, as
# scripts/start-s3.sh and scripts/start-postgres.sh print it:
#
#   WHARF_TEST_S3_ENDPOINT WHARF_TEST_S3_BUCKET WHARF_TEST_S3_ACCESS_KEY
#   WHARF_TEST_S3_SECRET_KEY WHARF_TEST_POSTGRES_URL (a superuser's URL)
#
#   scripts/bench-cluster.sh [OUT_DIR] [-- extra wharf bench flags]
#
# The replicas listen on BENCH_PORT+1 and up (BENCH_PORT defaults to 5160).
#
# Each configuration gets a fresh database and bucket prefix, dropped at
# the end. Writes OUT_DIR/single.json and OUT_DIR/replicas3.json and prints
# the side-by-side table docs/performance.md holds (OUT_DIR/table.md). The
# big blob defaults to 256MiB (pass -- --size 1GiB for the full size).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
shift || true
[ "${1:-}" = "--" ] && shift
extra=(--size 256MiB "$@")
: "${WHARF_TEST_S3_ENDPOINT:?}" "${WHARF_TEST_S3_BUCKET:?}" "${WHARF_TEST_S3_ACCESS_KEY:?}"
: "${WHARF_TEST_S3_SECRET_KEY:?}" "${WHARF_TEST_POSTGRES_URL:?}"
mkdir -p "$out"
work=$(mktemp -d)
pids=()
dbs=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; pids=(); }
cleanup() {
  stop
  for db in "${dbs[@]}"; do psql -q "$WHARF_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/wharf" ./cmd/wharf

wait_up() { for _ in $(seq 100); do curl -fs -o /dev/null "http://$1/readyz" && return 0; sleep 0.1; done; echo "$1 not up" >&2; exit 1; }

# fresh_env NAME: a new database and bucket prefix for one configuration.
fresh_env() {
  local db="wharf_bench_$1_$$"
  psql -q "$WHARF_TEST_POSTGRES_URL" -c "CREATE DATABASE $db" >/dev/null
  dbs+=("$db")
  local url="${WHARF_TEST_POSTGRES_URL%%\?*}"
  local query=""
  [[ "$WHARF_TEST_POSTGRES_URL" == *\?* ]] && query="?${WHARF_TEST_POSTGRES_URL#*\?}"
  env_vars=(
    WHARF_STORAGE_DRIVER=s3
    WHARF_STORAGE_S3_ENDPOINT="$WHARF_TEST_S3_ENDPOINT"
    WHARF_STORAGE_S3_BUCKET="$WHARF_TEST_S3_BUCKET"
    WHARF_STORAGE_S3_ACCESS_KEY_ID="$WHARF_TEST_S3_ACCESS_KEY"
    WHARF_STORAGE_S3_SECRET_ACCESS_KEY="$WHARF_TEST_S3_SECRET_KEY"
    WHARF_STORAGE_S3_PATH_STYLE=true
    WHARF_STORAGE_S3_PREFIX="bench-$1-$$"
    WHARF_DATABASE_DRIVER=postgres
    WHARF_DATABASE_POSTGRES_URL="${url%/*}/$db$query"
  )
}

# run NAME N: start N replicas on one fresh database and prefix, bench them.
run() {
  fresh_env "$1"
  local urls=() procs=()
  for i in $(seq "$2"); do
    local port=$((${BENCH_PORT:-5160} + i))
    env "${env_vars[@]}" "$work/wharf" serve --addr "127.0.0.1:$port" --data-dir "$work/$1-$i" \
      --log-level warn >"$work/$1-$i.log" 2>&1 &
    pids+=($!); procs+=($!)
    wait_up "127.0.0.1:$port"
    urls+=("http://127.0.0.1:$port")
  done
  echo "== $1: $2 instance(s) on S3 + PostgreSQL" >&2
  local u p
  u=$(IFS=,; echo "${urls[*]}"); p=$(IFS=,; echo "${procs[*]}")
  # A failed scenario is reported in the JSON; go on to the next configuration.
  "$work/wharf" bench --url "$u" --pid "$p" --json "${extra[@]}" >"$out/$1.json" || echo "$1: some scenarios failed" >&2
  stop
}

run single 1
run replicas3 3
python3 - "$out/single.json" "$out/replicas3.json" <<'PY' | tee "$out/table.md"
import json, sys
def load(p):
    with open(p) as f:
        return {(r["scenario"], r.get("concurrency", 0)): r for r in json.load(f)["results"]}
def fmt(v):
    return "" if v is None else f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"
one, three = load(sys.argv[1]), load(sys.argv[2])
print("| scenario | conc | 1 instance | 3 replicas | ratio | 1 instance p99 ms | 3 replicas p99 ms "
      "| 1 instance per server CPU-s | 3 replicas per server CPU-s |")
print("|---|---|---|---|---|---|---|---|---|")
for key, a in one.items():
    b = three.get(key)
    if b is None or a.get("error") or b.get("error"):
        err = (a.get("error") or (b or {}).get("error") or "missing")[:160]
        print(f"| {key[0]} | {key[1]} | failed: {err} | | | | | | |")
        continue
    unit, latency = a["unit"], a["unit"] == "ms"
    r = a["value"] / b["value"] if latency else b["value"] / a["value"]
    cu = a.get("per_server_cpu_second_unit", "")
    ac, bc = a.get("per_server_cpu_second"), b.get("per_server_cpu_second")
    print(f"| {key[0]} | {key[1]} | {fmt(a['value'])} {unit} | {fmt(b['value'])} {unit} | {r:.2f}x "
          f"| {'' if latency else fmt(a.get('p99_ms'))} | {'' if latency else fmt(b.get('p99_ms'))} "
          f"| {fmt(ac)} {cu if ac else ''} | {fmt(bc)} {cu if bc else ''} |")
PY
echo "results in $out" >&2
