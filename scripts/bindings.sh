#!/usr/bin/env bash
# Builds the tessera-ffi library and generates its Kotlin and Swift bindings.
#
#   scripts/bindings.sh            debug build   -> build/generated/{kotlin,swift}
#   scripts/bindings.sh mobile     the size-tuned `mobile` profile, plus a
#                                  stripped copy at build/lib/libtessera_ffi.so
#
# Bindings are always generated from the unstripped library (library mode
# reads its UniFFI metadata symbols); the stripped copy is what ships.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${1:-debug}"
case "$profile" in
  debug) cargo build -p tessera-ffi; dir=target/debug ;;
  mobile)
    # Packed relative relocations, as the Android builds use (.cargo/config.toml);
    # glibc 2.36+ and binutils 2.38+ understand them on the Linux proxy.
    RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,pack-relative-relocs" \
      cargo build -p tessera-ffi --profile mobile
    dir=target/mobile ;;
  *) echo "usage: $0 [debug|mobile]" >&2; exit 2 ;;
esac
case "$(uname -s)" in
  Darwin) lib="$dir/libtessera_ffi.dylib" ;;
  *) lib="$dir/libtessera_ffi.so" ;;
esac

rm -rf build/generated/kotlin build/generated/swift
cargo run -q -p uniffi-bindgen -- generate --library "$lib" --language kotlin \
  --out-dir build/generated/kotlin --no-format
cargo run -q -p uniffi-bindgen -- generate --library "$lib" --language swift \
  --out-dir build/generated/swift --no-format

if [ "$profile" = mobile ]; then
  mkdir -p build/lib
  stripped="build/lib/$(basename "$lib")"
  cp "$lib" "$stripped"
  strip -x "$stripped" 2>/dev/null || strip "$stripped"
  if [ "$(uname -s)" != Darwin ]; then strip --strip-all "$stripped"; fi
  echo "stripped: $(wc -c < "$stripped") bytes ($stripped)"
fi
echo "bindings: build/generated/kotlin, build/generated/swift (from $lib)"
