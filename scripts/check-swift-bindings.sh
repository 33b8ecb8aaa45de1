#!/usr/bin/env bash
# CI's Swift check, for machines without a Swift toolchain: generates the
# Kotlin and Swift bindings (scripts/bindings.sh), then checks that every
# exported item of the Rust API (bindings/src) is in the generated Swift and
# Kotlin with UniFFI's names, labels and shape, and that the Swift package's
# hand-written code (ios/Sources, ios/Tests, ios/App) only calls what the
# generated Swift and the wrapper declare. See ios/scripts/check_swift_bindings.py.
#
#   scripts/check-swift-bindings.sh                 generate, then check
#   scripts/check-swift-bindings.sh --no-generate   check build/generated as it is
#                                                   (also: TESSERA_BINDINGS_READY=1)
#
# Prints `swift-bindings: N passed, M failed`; exits non-zero on any miss.
set -euo pipefail
cd "$(dirname "$0")/.."

generate=1
case "${1:-}" in
  "") ;;
  --no-generate) generate=0 ;;
  *) echo "usage: $0 [--no-generate]" >&2; exit 2 ;;
esac
if [ -n "${TESSERA_BINDINGS_READY:-}" ]; then
  generate=0
fi

if [ "$generate" -eq 1 ]; then
  bash scripts/bindings.sh
fi

# The checker's own tests first (naming, lexing, and that drift is caught).
python3 ios/scripts/test_check_swift_bindings.py
python3 ios/scripts/check_swift_bindings.py
