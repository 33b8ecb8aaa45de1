#!/usr/bin/env bash
# Runs a command ("$@") inside a private D-Bus session with a headless,
# unlocked gnome-keyring-daemon providing org.freedesktop.secrets.
#
#   bash scripts/with-secret-service.sh cargo test -p tessera-tests --test secret_service
#
# HOME and XDG_RUNTIME_DIR point into a temporary directory (removed on exit),
# so the user's real keyring is never touched; CARGO_HOME and RUSTUP_HOME keep
# pointing at the real toolchain. The command's exit code is returned.
# Needs gnome-keyring, dbus (dbus-run-session, dbus-send); scripts/test.sh
# installs them on Debian.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi

for tool in dbus-run-session dbus-send gnome-keyring-daemon; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "with-secret-service: '$tool' is missing (apt-get install gnome-keyring dbus)" >&2
        exit 127
    fi
done

# Keep the real toolchain before HOME changes.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/tessera-ss.XXXXXX")"
cleanup() { rm -rf "$scratch"; }
trap cleanup EXIT

mkdir -p "$scratch/home" "$scratch/run"
chmod 700 "$scratch/home" "$scratch/run"
export HOME="$scratch/home"
export XDG_RUNTIME_DIR="$scratch/run"
# A desktop session's bus must not leak into the private one.
unset DBUS_SESSION_BUS_ADDRESS

set +e
dbus-run-session -- sh -c '
    printf %s "tessera-test-keyring" |
        gnome-keyring-daemon --foreground --unlock --components=secrets \
            >"$XDG_RUNTIME_DIR/gnome-keyring.log" 2>&1 &
    gk=$!
    i=0
    until dbus-send --session --print-reply --dest=org.freedesktop.DBus \
            /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
            string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
        i=$((i + 1))
        if [ "$i" -ge 50 ]; then
            echo "with-secret-service: org.freedesktop.secrets did not appear within 5 s; gnome-keyring log:" >&2
            cat "$XDG_RUNTIME_DIR/gnome-keyring.log" >&2
            break
        fi
        sleep 0.1
    done
    "$@"
    rc=$?
    kill "$gk" 2>/dev/null
    wait "$gk" 2>/dev/null
    exit "$rc"
' sh "$@"
rc=$?
set -e
exit "$rc"
