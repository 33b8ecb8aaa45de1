#!/usr/bin/env bash
# Puts the generated Swift bindings where the Swift package expects them:
#
#   build/generated/swift/TesseraFFI.swift       -> ios/Sources/TesseraFFI/TesseraFFI.swift
#   build/generated/swift/TesseraFFIFFI.h        -> ios/Sources/TesseraFFIFFI/TesseraFFIFFI.h
#   build/generated/swift/TesseraFFIFFI.modulemap -> ios/Sources/TesseraFFIFFI/module.modulemap
#
# By default it first builds tessera-ffi for this host (debug) and generates
# the bindings from that library (library mode, so they match it exactly);
# this works on Linux (.so) and macOS (.dylib).
#
#   ios/scripts/prepare.sh               build, generate, copy
#   ios/scripts/prepare.sh --copy-only   copy what build/generated/swift holds
#                                        (e.g. after scripts/bindings.sh)
#
# The copies are build outputs: ios/Sources/*/.gitignore keeps them out of git.
set -euo pipefail

ios="$(cd "$(dirname "$0")/.." && pwd)"
root="$(dirname "$ios")"
generated="$root/build/generated/swift"

case "${1:-}" in
  "") generate=1 ;;
  --copy-only) generate=0 ;;
  *) echo "usage: $0 [--copy-only]" >&2; exit 2 ;;
esac

if [ "$generate" -eq 1 ]; then
  (
    cd "$root"
    cargo build -p tessera-ffi
    case "$(uname -s)" in
      Darwin) lib=target/debug/libtessera_ffi.dylib ;;
      *) lib=target/debug/libtessera_ffi.so ;;
    esac
    rm -rf "$generated"
    cargo run -q -p uniffi-bindgen -- generate --library "$lib" --language swift \
      --out-dir "$generated" --no-format
  )
fi

for file in TesseraFFI.swift TesseraFFIFFI.h TesseraFFIFFI.modulemap; do
  if [ ! -f "$generated/$file" ]; then
    echo "prepare: $generated/$file is missing (run scripts/bindings.sh or drop --copy-only)" >&2
    exit 1
  fi
done

cp "$generated/TesseraFFI.swift" "$ios/Sources/TesseraFFI/TesseraFFI.swift"
cp "$generated/TesseraFFIFFI.h" "$ios/Sources/TesseraFFIFFI/TesseraFFIFFI.h"
# SwiftPM (systemLibrary targets) and XCFramework headers both want this name.
cp "$generated/TesseraFFIFFI.modulemap" "$ios/Sources/TesseraFFIFFI/module.modulemap"
echo "prepare: bindings copied into $ios/Sources (from $generated)"
