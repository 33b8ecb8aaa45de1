#!/usr/bin/env bash
# Load test of tessera-server's device streams (docs/benchmarks.md, "Push
# server"): builds release, starts the server on 127.0.0.1 with a temporary
# database, runs tessera-loadgen against it, prints the figures, and stops
# the server (by its PID) however the run ends.
#
#   scripts/load-test.sh             full: 10,000 devices, 1,000 prompts/s for 20 s, 20 s sustained
#   scripts/load-test.sh --quick     CI: 500 devices, 200 prompts/s for 5 s, 5 s sustained
#   scripts/load-test.sh DEVICES RATE SECONDS [SUSTAIN_SECONDS]
#   scripts/load-test.sh --no-answer 10000 1000 10
#                                    creation and delivery alone: devices do not
#                                    answer, one prompt per device at most
#   LOADGEN_ARGS=--via-hyper scripts/load-test.sh ...
#                                    extra tessera-loadgen flags (--via-hyper: each
#                                    stream's connection starts with a REST request,
#                                    so hyper serves it; for comparison)
#
# Exits non-zero if a stream fails to open, a prompt is lost or any request
# fails. Traffic goes to loopback addresses only (127.0.0.1, and 127.0.0.2–5
# as stream source addresses).
set -euo pipefail
cd "$(dirname "$0")/.."

extra=()
# Word splitting intended: a list of flags.
# shellcheck disable=SC2206
extra+=(${LOADGEN_ARGS:-})
if [ "${1:-}" = "--no-answer" ]; then
  extra+=(--no-answer)
  shift
fi
case "${1:-}" in
  --quick) devices=500 rate=200 seconds=5 sustain=5 ;;
  "") devices=10000 rate=1000 seconds=20 sustain=20 ;;
  -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
  *)
    devices="$1" rate="${2:?rate}" seconds="${3:?seconds}" sustain="${4:-$3}" ;;
esac

cargo build --release -p tessera-server --bins
bin="${CARGO_TARGET_DIR:-target}/release"

# Each stream is one descriptor on each side; take the hard limit.
ulimit -n "$(ulimit -Hn)"

dir="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A throwaway key for this run only.
api_key="load-test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
TESSERA_SERVER_API_KEYS="$api_key" RUST_LOG="${RUST_LOG:-warn}" \
  "$bin/tessera-server" --listen 127.0.0.1:0 --database "$dir/server.db" \
  >"$dir/stdout" 2>"$dir/server.log" &
server_pid=$!

url=""
for _ in $(seq 1 300); do
  url="$(sed -n 's/^tessera-server listening on \(http:\/\/[0-9.:]*\)$/\1/p' "$dir/stdout")"
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "load-test: the server did not start" >&2
  cat "$dir/server.log" >&2
  exit 1
fi
echo "server pid $server_pid on $url"

status=0
TESSERA_LOADGEN_API_KEY="$api_key" "$bin/tessera-loadgen" \
  --server "$url" --server-pid "$server_pid" \
  --devices "$devices" --rate "$rate" --seconds "$seconds" --sustain-seconds "$sustain" \
  ${extra[@]+"${extra[@]}"} || status=$?

echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "load-test: the server died during the run" >&2
  tail -20 "$dir/server.log" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "load-test: FAILED (exit $status); last server log lines:" >&2
  tail -20 "$dir/server.log" >&2
fi
exit "$status"
