//! `uniffi-bindgen`: generates Kotlin and Swift from the tessera-ffi library
//! (library mode: `generate --library target/…/libtessera_ffi.so`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
