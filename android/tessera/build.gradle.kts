import org.jetbrains.kotlin.gradle.dsl.JvmTarget

// The Tessera Kotlin library for Android.
//
// Sources: src/main/kotlin (the idiomatic wrapper, plain Kotlin, also tested on the JVM by
// ../jvm-tests), src/androidMain/kotlin (Keystore storage, FCM service) and the UniFFI-generated
// bindings in ../../build/generated/kotlin. Native code: libtessera_ffi.so per ABI in
// ../../build/jniLibs, built by cargo-ndk.
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

// rustls-platform-verifier's Android library must be the version that matches the
// `rustls-platform-verifier-android` crate in Cargo.lock (the crate's README: the dependency has
// no static version and is pinned here at configuration time).
abstract class RustlsVersion : ValueSource<String, RustlsVersion.Params> {
    interface Params : ValueSourceParameters {
        val lockFile: RegularFileProperty
    }

    companion object {
        const val CRATE_NAME = "rustls-platform-verifier-android"
    }

    override fun obtain(): String {
        val lines = parameters.lockFile.get().asFile.readLines()
        val nameIdx = lines.indexOfFirst { it.trim() == "name = \"$CRATE_NAME\"" }
        val version = if (nameIdx < 0) {
            null
        } else {
            lines.drop(nameIdx + 1)
                .firstOrNull { it.trimStart().startsWith("version = ") }
                ?.substringAfter('"', "")
                ?.substringBefore('"', "")
                ?.takeIf { it.isNotEmpty() }
        }
        return version ?: error("$CRATE_NAME not found in Cargo.lock")
    }
}

val rustlsPlatformVerifierVersion = providers.of(RustlsVersion::class.java) {
    parameters.lockFile.set(rootProject.layout.projectDirectory.file("../Cargo.lock"))
}

configurations.configureEach {
    resolutionStrategy.eachDependency {
        if (requested.group == "rustls" && requested.name == "rustls-platform-verifier") {
            useVersion(rustlsPlatformVerifierVersion.get())
            because("the Android library must match ${RustlsVersion.CRATE_NAME} in Cargo.lock")
        }
    }
}

dependencies {
    // The Kotlin half of the core's TLS verifier; initialised by TesseraAndroid.init.
    implementation(libs.rustls.platform.verifier)
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
