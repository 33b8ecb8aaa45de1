// swift-tools-version:6.0
//
// Tessera's Swift package: the UniFFI-generated bindings of the Rust
// `tessera-ffi` library plus an idiomatic wrapper (`Tessera`).
//
// Targets:
// - `TesseraFFIFFI`: the C module of the Rust library (header + module map).
//   Two layouts, picked below:
//     * XCFramework (iOS apps, and macOS when built): a `binaryTarget` at
//       `build/TesseraFFI.xcframework` (relative to this folder), made on a
//       Mac by `scripts/build-xcframework.sh`. It holds the static library
//       for each Apple platform with `TesseraFFIFFI.h` and `module.modulemap`.
//     * System library (Linux, and any host with a plain `cargo build`): a
//       `systemLibrary` target in `Sources/TesseraFFIFFI`, whose header and
//       `module.modulemap` `scripts/prepare.sh` copies from the generated
//       bindings; the library itself is linked from `../target/debug` (or
//       `TESSERA_FFI_LIB_DIR`).
//   The XCFramework is used when it exists; `TESSERA_FFI_LINK=system` or
//   `TESSERA_FFI_LINK=xcframework` forces one.
// - `TesseraFFI`: the generated `TesseraFFI.swift`, copied into
//   `Sources/TesseraFFI` by `scripts/prepare.sh` (never committed).
// - `Tessera`: the wrapper: `TesseraClient` (async/await, an `AsyncStream` of
//   code states), `TesseraClientError`, `KeychainSecureStorage`, and the
//   APNs hand-off (`PushHandoff`, `PushPayloadHandler`).
// - `TesseraTests`: XCTest tests against the real Rust library.

import Foundation
import PackageDescription

let packageDirectory = Context.packageDirectory
let xcframeworkPath = "build/TesseraFFI.xcframework"

let useXCFramework: Bool = {
    switch Context.environment["TESSERA_FFI_LINK"] {
    case "xcframework":
        return true
    case "system":
        return false
    default:
        return FileManager.default.fileExists(atPath: packageDirectory + "/" + xcframeworkPath)
    }
}()

/// Where `libtessera_ffi` (`.so` on Linux, `.dylib` on macOS) is found in
/// the system-library layout.
let rustLibraryDirectory =
    Context.environment["TESSERA_FFI_LIB_DIR"] ?? (packageDirectory + "/../target/debug")

let ffiModule: Target =
    useXCFramework
    ? .binaryTarget(name: "TesseraFFIFFI", path: xcframeworkPath)
    : .systemLibrary(name: "TesseraFFIFFI", path: "Sources/TesseraFFIFFI")

/// Apple frameworks the Rust static library may need at link time: a build
/// with the `platform-keystore` feature reaches the Keychain through
/// security-framework and core-foundation. The default build (TLS is the
/// app's `URLSession`) needs neither, and linking them then costs nothing.
/// A dynamic library records its own, so they only matter for the
/// XCFramework.
let appleFrameworks: [LinkerSetting] = [
    .linkedFramework("Security", .when(platforms: [.iOS, .macOS, .macCatalyst, .visionOS])),
    .linkedFramework("CoreFoundation", .when(platforms: [.iOS, .macOS, .macCatalyst, .visionOS])),
]

let ffiLinkerSettings: [LinkerSetting] =
    useXCFramework
    ? appleFrameworks
    : appleFrameworks + [
        .linkedLibrary("tessera_ffi"),
        .unsafeFlags([
            "-L", rustLibraryDirectory,
            "-Xlinker", "-rpath", "-Xlinker", rustLibraryDirectory,
        ]),
    ]

let package = Package(
    name: "Tessera",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        // Both modules: apps use the wrapper and the generated record types.
        .library(name: "Tessera", targets: ["Tessera", "TesseraFFI"]),
    ],
    targets: [
        ffiModule,
        .target(
            name: "TesseraFFI",
            dependencies: ["TesseraFFIFFI"],
            path: "Sources/TesseraFFI",
            // Generated code: compiled the way uniffi's own tests compile it.
            swiftSettings: [.swiftLanguageMode(.v5)],
            linkerSettings: ffiLinkerSettings
        ),
        .target(
            name: "Tessera",
            dependencies: ["TesseraFFI"],
            path: "Sources/Tessera"
        ),
        .testTarget(
            name: "TesseraTests",
            dependencies: ["Tessera", "TesseraFFI"],
            path: "Tests/TesseraTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
