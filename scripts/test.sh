#!/usr/bin/env bash
# The single command that runs every Tessera test, on a fresh Debian machine
# (as root, or with sudo): installs missing system packages, then runs
# rustfmt, clippy (-D warnings) and `cargo test --workspace` inside a private
# D-Bus session with a headless, unlocked gnome-keyring (the real Secret
# Service), with the tests that need OS parts made mandatory; then the Kotlin
# JVM tests and Android compile check (Maven), the Swift bindings check, a
# bounded fuzzing run (cargo-fuzz, installed if missing) and a short load test
# of the push server.
#
#   bash scripts/test.sh              # everything
#   bash scripts/test.sh --deps-only  # only install what is missing
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
# A fresh non-login shell may not have rustup's bin directory on PATH yet.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$CARGO_HOME/bin/cargo" ]; then
    export PATH="$CARGO_HOME/bin:$PATH"
fi

step() { printf '\n==> %s\n' "$*"; }

ensure_packages() {
    local missing=0 tool
    # tool -> package: gnome-keyring-daemon (gnome-keyring), dbus-run-session
    # and dbus-send (dbus), dbus-launch (dbus-x11), secret-tool
    # (libsecret-tools), oathtool (oathtool), chronyd (chrony), faketime
    # (faketime; libfaketime brings the preload library), mvn (maven), javac
    # (openjdk-17-jdk-headless), g++ (libFuzzer, built by the fuzz smoke run).
    for tool in gnome-keyring-daemon dbus-run-session dbus-send dbus-launch secret-tool oathtool \
        chronyd faketime mvn javac g++; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "missing: $tool"
            missing=1
        fi
    done
    if ! ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1; then
        echo "missing: libfaketime"
        missing=1
    fi
    if [ "$missing" -eq 0 ]; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    step "installing system packages"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gnome-keyring dbus dbus-x11 libsecret-tools oathtool chrony faketime libfaketime \
        maven openjdk-17-jdk-headless g++
}

ensure_python_cryptography() {
    # The push protocol tests cross-check ES256 JWS against Python's
    # `cryptography` (an independent implementation).
    if ! python3 -c "import cryptography" >/dev/null 2>&1; then
        step "installing Python's cryptography package"
        python3 -m pip install --quiet cryptography
    fi
}

ensure_rust_components() {
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        step "adding rustfmt and clippy"
        rustup component add rustfmt clippy
    fi
}

ensure_packages
if [ "${1:-}" = "--deps-only" ]; then
    exit 0
fi
ensure_rust_components
ensure_python_cryptography

start=$SECONDS
step "cargo fmt --all -- --check"
cargo fmt --all -- --check --color never

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "the core stays free of FFI: cargo tree -p tessera-core -i uniffi"
if cargo tree -p tessera-core -e normal -i uniffi >/dev/null 2>&1; then
    echo "tessera-core depends on uniffi; FFI belongs in bindings/ only" >&2
    exit 1
fi

step "cargo test --workspace (private D-Bus session, headless gnome-keyring)"
TESSERA_REQUIRE_SECRET_SERVICE=1 TESSERA_REQUIRE_TOOLS=1 \
    bash scripts/with-secret-service.sh cargo test --workspace --no-fail-fast

step "Kotlin: bindings, JVM tests on the real library, Android compile check"
# The codes() timing needs the release library; it is measured apart
# (docs/benchmarks.md), so CI skips that loop on the debug build.
TESSERA_SKIP_BENCHMARK=1 bash scripts/kotlin-tests.sh

step "Swift: the generated bindings and the Swift sources match the Rust API"
bash scripts/check-swift-bindings.sh --no-generate

step "fuzz smoke run: every parser under libFuzzer for a bounded time (cargo fuzz, --sanitizer none on stable)"
bash scripts/fuzz-smoke.sh

step "push server load test, short (500 streams, 200 prompts/s; fails on any lost prompt)"
bash scripts/load-test.sh --quick

step "all checks passed in $((SECONDS - start)) s"
