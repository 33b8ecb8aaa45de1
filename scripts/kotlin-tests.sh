#!/usr/bin/env bash
# The Kotlin side of Tessera, on a Linux JVM (no Android SDK needed):
#   1. scripts/bindings.sh: builds target/debug/libtessera_ffi.so and generates the Kotlin
#      bindings into build/generated/kotlin;
#   2. android/jvm-tests: compiles the bindings + the wrapper and runs the JUnit 5 tests
#      against the real library (vectors, persistence, errors, the ticking Flow, concurrency,
#      close, push approval against the real reference server — target/debug/tessera-server,
#      built here too — and the codes() benchmark for 1,000 accounts);
#   3. android/android-compile: compiles the Android glue and the app against the Android
#      framework jar (Robolectric's android-all from Maven Central) with compile-only Firebase
#      stubs, and runs the JVM tests of the glue.
# Installs a JDK and Maven only when they are missing. Prints Surefire's per-class lines, a
# total, and the benchmark figures.
#
#   bash scripts/kotlin-tests.sh
#
# Environment:
#   MAVEN_REPO_LOCAL=DIR       Maven's local repository (default ~/.m2/repository)
#   TESSERA_SKIP_BENCHMARK=1   leave out the codes() benchmark (about a minute on a debug build)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

ensure_java_and_maven() {
    local need=0
    if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
        need=1
    elif ! java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; then
        echo "java is older than 17"
        need=1
    fi
    command -v mvn >/dev/null 2>&1 || need=1
    [ "$need" -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    step "installing a JDK and Maven"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        openjdk-17-jdk-headless maven
}

# Prints the Surefire line of each test class of one module and adds its counts to TOTAL_*.
TOTAL_RUN=0 TOTAL_FAILED=0 TOTAL_ERRORS=0 TOTAL_SKIPPED=0
summarize() {
    local module="$1" reports="$1/target/surefire-reports"
    echo "--- $module"
    if ! compgen -G "$reports/*.txt" >/dev/null; then
        echo "no test reports (the build failed before the tests ran)"
        return 0
    fi
    grep -h '^Tests run:' "$reports"/*.txt
    local sums
    sums=$(grep -h '^Tests run:' "$reports"/*.txt | awk -F'[:,]' \
        '{ r += $2; f += $4; e += $6; s += $8 } END { print r, f, e, s }')
    read -r run failed errors skipped <<<"$sums"
    TOTAL_RUN=$((TOTAL_RUN + run))
    TOTAL_FAILED=$((TOTAL_FAILED + failed))
    TOTAL_ERRORS=$((TOTAL_ERRORS + errors))
    TOTAL_SKIPPED=$((TOTAL_SKIPPED + skipped))
}

ensure_java_and_maven

repo_local="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}"
mvn_args=(-B -q -Dstyle.color=never "-Dmaven.repo.local=$repo_local")
jvm_args=()
if [ "${TESSERA_SKIP_BENCHMARK:-0}" = 1 ]; then
    jvm_args+=(-DexcludedGroups=benchmark)
fi

# Maven 3.8 prints colour resets even in batch mode; strip them so the log stays plain text.
run_mvn() {
    mvn "${mvn_args[@]}" "$@" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g'
}

step "building tessera-ffi and generating the Kotlin bindings"
bash scripts/bindings.sh

step "building the reference push server (for the push tests)"
cargo build -q -p tessera-server --bin tessera-server
server_bin="$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/tessera-server"

status=0
# Old reports would be counted again.
rm -rf android/jvm-tests/target/surefire-reports android/jvm-tests/target/benchmark.txt \
    android/android-compile/target/surefire-reports

step "JVM tests of the Kotlin library (android/jvm-tests)"
run_mvn ${jvm_args[@]+"${jvm_args[@]}"} "-Dtessera.server.bin=$server_bin" \
    -f android/jvm-tests/pom.xml test || status=1

step "Android compile check and glue tests (android/android-compile)"
run_mvn -f android/android-compile/pom.xml test || status=1

step "Surefire results"
summarize android/jvm-tests
summarize android/android-compile
if [ -f android/jvm-tests/target/benchmark.txt ]; then
    step "benchmark"
    cat android/jvm-tests/target/benchmark.txt
fi
echo
echo "Tests run: $TOTAL_RUN, Failures: $TOTAL_FAILED, Errors: $TOTAL_ERRORS, Skipped: $TOTAL_SKIPPED"
if [ "$TOTAL_RUN" -eq 0 ]; then
    echo "no Kotlin test ran" >&2
    status=1
fi
if [ "$TOTAL_FAILED" -ne 0 ] || [ "$TOTAL_ERRORS" -ne 0 ]; then
    status=1
fi
exit "$status"
