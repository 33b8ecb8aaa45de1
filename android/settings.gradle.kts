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
        // The Kotlin half of rustls-platform-verifier (the core's TLS certificate checks): an
        // Android library published only here, not on Maven Central (the crate's README,
        // "Android" > "Gradle Setup"). Only its group is taken from this repository.
        maven {
            url = uri("https://github.com/rustls/rustls-platform-verifier/raw/maven-archive/android-release-support/maven/")
            content { includeGroup("rustls") }
        }
    }
}

rootProject.name = "Tessera"
include(":tessera", ":app")
