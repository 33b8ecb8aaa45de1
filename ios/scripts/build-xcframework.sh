#!/usr/bin/env bash
# macOS only: builds tessera-ffi as a static library for iOS devices, the iOS
# simulator and macOS, and packs them with the generated header and module
# map into ios/build/TesseraFFI.xcframework, which Package.swift then uses
# as the `TesseraFFIFFI` binary target.
#
#   ios/scripts/build-xcframework.sh            the size-tuned `mobile` profile
#   ios/scripts/build-xcframework.sh release    any other cargo profile
#
# Needs Xcode (xcodebuild, lipo) and rustup.
set -euo pipefail

if [ "$(uname -s)" != Darwin ]; then
  echo "build-xcframework: needs macOS with Xcode" >&2
  exit 1
fi

ios="$(cd "$(dirname "$0")/.." && pwd)"
root="$(dirname "$ios")"
profile="${1:-mobile}"
out="$ios/build"
staging="$out/staging"

ios_targets=(aarch64-apple-ios)
sim_targets=(aarch64-apple-ios-sim x86_64-apple-ios)
mac_targets=(aarch64-apple-darwin x86_64-apple-darwin)

# The Swift side first: bindings generated from this same source tree.
bash "$ios/scripts/prepare.sh"

rustup target add "${ios_targets[@]}" "${sim_targets[@]}" "${mac_targets[@]}"

export IPHONEOS_DEPLOYMENT_TARGET=16.0
export MACOSX_DEPLOYMENT_TARGET=13.0
for target in "${ios_targets[@]}" "${sim_targets[@]}" "${mac_targets[@]}"; do
  (cd "$root" && cargo build -p tessera-ffi --profile "$profile" --target "$target")
done

lib() { echo "$root/target/$1/$profile/libtessera_ffi.a"; }

rm -rf "$staging" "$out/TesseraFFI.xcframework"
mkdir -p "$staging/headers" "$staging/ios" "$staging/ios-simulator" "$staging/macos"
cp "$ios/Sources/TesseraFFIFFI/TesseraFFIFFI.h" "$staging/headers/"
cp "$ios/Sources/TesseraFFIFFI/module.modulemap" "$staging/headers/"

cp "$(lib aarch64-apple-ios)" "$staging/ios/libtessera_ffi.a"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" \
  -output "$staging/ios-simulator/libtessera_ffi.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" \
  -output "$staging/macos/libtessera_ffi.a"

xcodebuild -create-xcframework \
  -library "$staging/ios/libtessera_ffi.a" -headers "$staging/headers" \
  -library "$staging/ios-simulator/libtessera_ffi.a" -headers "$staging/headers" \
  -library "$staging/macos/libtessera_ffi.a" -headers "$staging/headers" \
  -output "$out/TesseraFFI.xcframework"

rm -rf "$staging"
echo "build-xcframework: $out/TesseraFFI.xcframework ($profile)"
