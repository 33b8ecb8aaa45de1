//! Proves that secrets are wiped from memory: a test-only global allocator
//! inspects every block as it is freed and counts the blocks that still hold
//! the secret (raw or as base32 text). Creating, parsing, formatting,
//! storing and reopening a secret must free no such block.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The allocator below must read freed memory; nothing else here is unsafe.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tessera_core::vault::{CreateOptions, KdfParams, Unlock, Vault};
use tessera_core::{Account, MemoryKeyStore, OtpauthUri, Secret, Timestamp};
use zeroize::Zeroizing;

/// 20 bytes no allocation holds by chance.
const MARKER: [u8; 20] = *b"\x8f\x13Tessera!Marker\x99\x42\x07\x5a";
/// `MARKER` as unpadded base32 (checked in the test).
const MARKER_BASE32: &[u8] = b"R4JVIZLTONSXEYJBJVQXE23FOKMUEB22";

static WATCHING: AtomicBool = AtomicBool::new(false);
static LEAKED_BLOCKS: AtomicUsize = AtomicUsize::new(0);

struct Inspecting;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// only addition reads the block being freed, which is still valid then.
unsafe impl GlobalAlloc for Inspecting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if WATCHING.load(Ordering::SeqCst) {
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            // Prefixes catch partial copies left by a buffer that grew.
            if contains(block, &MARKER[..8])
                || contains(block, &MARKER_BASE32[..8])
                || contains(block, b"r4jvizlt")
            {
                LEAKED_BLOCKS.fetch_add(1, Ordering::SeqCst);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Inspecting = Inspecting;

/// Runs `step` while watching frees; returns how many freed blocks held the secret.
fn leaks_during(step: impl FnOnce()) -> usize {
    LEAKED_BLOCKS.store(0, Ordering::SeqCst);
    WATCHING.store(true, Ordering::SeqCst);
    step();
    WATCHING.store(false, Ordering::SeqCst);
    LEAKED_BLOCKS.load(Ordering::SeqCst)
}

/// One test, so no other test thread frees memory while watching.
#[test]
fn secrets_are_wiped_when_dropped() {
    let encoded = Secret::from_bytes(MARKER.to_vec()).unwrap().to_base32();
    assert_eq!(encoded.as_bytes(), MARKER_BASE32);

    // The detector works: a plain Vec holding the secret is caught.
    assert!(leaks_during(|| drop(MARKER.to_vec())) >= 1);

    assert_eq!(
        leaks_during(|| {
            let secret = Secret::from_bytes(MARKER.to_vec()).unwrap();
            let copy = secret.clone();
            drop((secret, copy));
        }),
        0,
        "Secret::from_bytes / clone / drop"
    );

    assert_eq!(
        leaks_during(|| {
            let mut pasted = Zeroizing::new(String::with_capacity(64));
            pasted.push_str("r4jv izlt onsx eyjb jvqx e23f okmu eb22");
            let secret = Secret::from_base32(&pasted).unwrap();
            let text = secret.to_base32();
            drop((secret, text, pasted));
        }),
        0,
        "Secret::from_base32 / to_base32"
    );

    let mut uri = Zeroizing::new(String::with_capacity(256));
    uri.push_str("otpauth://totp/Example:alice%40example.com?secret=");
    uri.push_str("r4jvizltonsxeyjbjvqxe23fokmueb22");
    uri.push_str("&issuer=Example&digits=8&image=https%3A%2F%2Fexample.com%2Fi.png");
    assert_eq!(
        leaks_during(|| {
            let parsed = OtpauthUri::parse(&uri).unwrap();
            let formatted = parsed.uri.to_uri();
            let again = OtpauthUri::parse(&formatted).unwrap();
            drop((parsed, formatted, again));
        }),
        0,
        "otpauth parse / format"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.json");
    let keystore = MemoryKeyStore::new();
    let account = Account::from_uri(OtpauthUri::parse(&uri).unwrap().uri, 0);
    let leaked = leaks_during(|| {
        let options = CreateOptions {
            keystore: Some(&keystore),
            password: None,
            kdf: KdfParams::default(),
        };
        let (mut vault, recovery) = Vault::create(&path, options).unwrap();
        vault.add(account).unwrap();
        drop((vault, recovery));
        let reopened = Vault::open(&path, Unlock::KeyStore(&keystore)).unwrap();
        let codes = reopened.codes_at(Timestamp::from_unix_secs(59)).len();
        assert_eq!(codes, 1);
        drop(reopened);
    });
    assert_eq!(leaked, 0, "vault create / add / reopen / codes");

    let on_disk = std::fs::read(&path).unwrap();
    assert!(!contains(&on_disk, &MARKER));
    assert!(!contains(&on_disk, MARKER_BASE32));
}
