import org.jetbrains.kotlin.gradle.dsl.JvmTarget

// The Tessera Kotlin library for Android.
//
// Sources: src/main/kotlin (the idiomatic wrapper and the HTTP transport, plain Kotlin, also
// tested on the JVM by ../jvm-tests), src/androidMain/kotlin (Keystore storage, FCM service, QR
// pictures) and the UniFFI-generated bindings in ../../build/generated/kotlin. Native code:
// libtessera_ffi.so per ABI in ../../build/jniLibs, built by cargo-ndk. The core has no TLS stack
// of its own on Android: its requests go through HttpURLConnection, whose certificate checks are
// Android's (system trust store, network security config).
plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
}

val repoRoot: File = rootDir.parentFile
val generatedKotlin: File = repoRoot.resolve("build/generated/kotlin")
val jniLibsDir: File = repoRoot.resolve("build/jniLibs")
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")
val skipRust = providers.gradleProperty("tessera.skipRust").map { it.toBoolean() }.getOrElse(false)

android {
    namespace = "org.tessera"
    compileSdk = 35

    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets {
        getByName("main") {
            kotlin.srcDirs("src/main/kotlin", "src/androidMain/kotlin", generatedKotlin)
            jniLibs.srcDir(jniLibsDir)
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    // The generated bindings call the Rust library through JNA; the aar carries
    // libjnidispatch.so for every Android ABI.
    implementation(variantOf(libs.jna) { artifactType("aar") })
    api(libs.kotlinx.coroutines.android)
    implementation(platform(libs.firebase.bom))
    implementation(libs.firebase.messaging)
}

// Generates the Kotlin bindings (and builds the host library they are read from).
val uniffiBindings = tasks.register<Exec>("uniffiBindings") {
    group = "rust"
    description = "Builds tessera-ffi for the host and generates its Kotlin bindings."
    workingDir = repoRoot
    commandLine("bash", "scripts/bindings.sh")
    outputs.dir(generatedKotlin)
}

// Builds libtessera_ffi.so for each Android ABI with the size-tuned `mobile` profile.
// Needs cargo-ndk (`cargo install cargo-ndk`), the Rust targets
// (`rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android`)
// and the NDK (ANDROID_NDK_HOME, or the one Android Studio installed).
val cargoNdk = tasks.register<Exec>("cargoNdk") {
    group = "rust"
    description = "Builds libtessera_ffi.so for ${abis.joinToString()} into ${jniLibsDir.path}."
    workingDir = repoRoot
    commandLine(
        listOf("cargo", "ndk") + abis.flatMap { listOf("-t", it) } +
            listOf("--platform", "26", "-o", jniLibsDir.path, "build", "-p", "tessera-ffi", "--profile", "mobile"),
    )
    outputs.dir(jniLibsDir)
}

if (!skipRust) {
    tasks.named("preBuild") { dependsOn(uniffiBindings, cargoNdk) }
}
