#!/usr/bin/env bash
# A bounded fuzzing run of every target in fuzz/ (cargo fuzz, libFuzzer), for
# CI: builds them all once, then runs each for FUZZ_SECONDS (default 12) from
# its seed corpus, and fails on the first crash, panic, timeout or
# out-of-memory. Works on the stable toolchain: `--sanitizer none` is the
# only cargo-fuzz mode that passes no `-Z` flag (AddressSanitizer needs
# nightly; the core denies unsafe code, so it would find little here).
#
#   scripts/fuzz-smoke.sh                 # every target, 12 s each
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh jws sse   # chosen targets, longer
#
# The committed seeds (fuzz/corpus/<target>/) are only read; what the fuzzer
# finds goes to a temporary directory. A crashing input is saved under
# fuzz/artifacts/<target>/ and printed in hex; replay it with
#   cargo fuzz run --sanitizer none <target> fuzz/artifacts/<target>/<file>
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-12}"
# An input slower than this counts as a hang (libFuzzer's -timeout).
unit_timeout="${FUZZ_UNIT_TIMEOUT:-10}"
# Bytes: large enough for the seed exports.
max_len="${FUZZ_MAX_LEN:-16384}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

fuzz=(cargo fuzz)
build_flags=(--sanitizer none)

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir fuzz)
fi

echo "== building ${#targets[@]} fuzz targets"
"${fuzz[@]}" build "${build_flags[@]}" --fuzz-dir fuzz

# The targets are run directly (not through `cargo fuzz run`, which checks
# the build again for every target).
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="${CARGO_TARGET_DIR:-fuzz/target}/$triple/release"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
start=$SECONDS
for target in "${targets[@]}"; do
    echo "== fuzzing $target for ${seconds}s"
    mkdir -p "$work/$target" "fuzz/artifacts/$target"
    log="$work/$target.log"
    if "$bin_dir/$target" "$work/$target" "fuzz/corpus/$target" \
        -max_total_time="$seconds" -timeout="$unit_timeout" -max_len="$max_len" \
        -artifact_prefix="fuzz/artifacts/$target/" -print_final_stats=1 \
        >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^Done ' "$log" | tr '\n' ' ' || true
        echo
    else
        failed+=("$target")
        grep -a -m1 -A3 -E 'panicked|ERROR: libFuzzer' "$log" || tail -n 40 "$log"
        for artifact in "fuzz/artifacts/$target"/*; do
            [ -f "$artifact" ] || continue
            echo "-- $artifact:"
            head -c 2048 "$artifact" | od -An -tx1 -v | tr -d ' \n'
            echo
        done
    fi
done

echo "== fuzzed ${#targets[@]} targets in $((SECONDS - start))s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
