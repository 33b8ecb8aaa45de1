// Tessera's Android project: open this folder (android/) in Android Studio.
//
//   :tessera  the Kotlin library: generated UniFFI bindings + the idiomatic wrapper
//             (src/main/kotlin) + the Android glue (src/androidMain/kotlin) + the Rust
//             library for each ABI (jniLibs from cargo-ndk)
//   :app      the app: account list, add account, push prompt
//
// The generated Kotlin and the native libraries are build outputs under ../build/, made by
// the :tessera tasks `uniffiBindings` and `cargoNdk` (see tessera/build.gradle.kts).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "Tessera"
include(":tessera", ":app")
