//! Benchmarks for the numbers in `docs/benchmarks.md`:
//!
//! - `otp/code_for_counter/*`: one code from a prepared [`OtpGenerator`]
//!   (SHA1/SHA256/SHA512, 6 digits, 20/32/64-byte secrets), a new counter
//!   every iteration;
//! - `vault/codes_at_1000_totp`: [`Vault::codes_at`] over 1,000 TOTP accounts;
//! - `vault/open_keystore_1000` and `vault/open_keystore_1000_plus_codes`:
//!   [`Vault::open`] through the keystore slot ([`MemoryKeyStore`], so no
//!   keystore I/O), without and with every code;
//! - `kdf/open_password_default_argon2id`: [`Vault::open`] through the
//!   password slot with the default [`KdfParams`] on a vault with no accounts,
//!   i.e. the Argon2id cost on its own.
//!
//! Run with `cargo bench -p tessera-core --bench codes`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;
use tessera_core::{
    Account, Algorithm, CreateOptions, KdfParams, MemoryKeyStore, OtpGenerator, OtpParams, OtpPart,
    Secret, Timestamp, Unlock, Vault,
};

/// How many accounts the vault benchmarks use.
const ACCOUNTS: usize = 1_000;

/// A fixed instant, so every run computes the same time step.
const NOW_SECS: u64 = 1_700_000_000;

/// Deterministic, distinct secret bytes (splitmix64), not a real key.
fn secret_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        bytes.extend_from_slice(&z.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// (a) Nanoseconds per code with the HMAC key prepared once.
fn bench_code_for_counter(c: &mut Criterion) {
    let mut group = c.benchmark_group("otp/code_for_counter");
    group.throughput(Throughput::Elements(1));
    for (name, algorithm, secret_len) in [
        ("sha1_20B", Algorithm::Sha1, 20),
        ("sha256_32B", Algorithm::Sha256, 32),
        ("sha512_64B", Algorithm::Sha512, 64),
    ] {
        let params = OtpParams {
            algorithm,
            ..OtpParams::totp()
        };
        let secret = Secret::from_bytes(secret_bytes(7, secret_len)).unwrap();
        let generator = OtpGenerator::new(params, &secret).unwrap();
        let mut counter = NOW_SECS / 30;
        group.bench_function(name, |b| {
            b.iter(|| {
                counter = counter.wrapping_add(1);
                black_box(generator.code_for_counter(black_box(counter)))
            });
        });
    }
    group.finish();
}

/// One TOTP account (SHA1, 6 digits, 30 s, 20-byte secret), as most are.
fn totp_account(index: usize) -> Account {
    let secret = Secret::from_bytes(secret_bytes(index as u64, 20)).unwrap();
    Account {
        id: format!("00000000-0000-4000-8000-{index:012}"),
        issuer: format!("Issuer {index}"),
        label: format!("user{index}@example.com"),
        otp: Some(OtpPart {
            params: OtpParams::totp(),
            secret,
            extra_uri_params: Vec::new(),
        }),
        push: None,
        tags: Vec::new(),
        note: String::new(),
        icon: None,
        created_at: NOW_SECS,
        updated_at: NOW_SECS,
    }
}

/// A vault in a temporary directory holding [`ACCOUNTS`] TOTP accounts,
/// with a keystore slot in `keystore` (and the recovery slot every vault has).
fn keystore_vault(keystore: &MemoryKeyStore) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.json");
    let (mut vault, _recovery) = Vault::create(
        &path,
        CreateOptions {
            keystore: Some(keystore),
            password: None,
            kdf: KdfParams::default(),
        },
    )
    .unwrap();
    for index in 0..ACCOUNTS {
        vault.add(totp_account(index)).unwrap();
    }
    (dir, path)
}

/// (b) and (c): codes for 1,000 accounts; opening through the keystore slot.
fn bench_vault(c: &mut Criterion) {
    let keystore = MemoryKeyStore::new();
    let (_dir, path) = keystore_vault(&keystore);
    let now = Timestamp::from_unix_secs(NOW_SECS);
    let file_bytes = std::fs::metadata(&path).unwrap().len();
    eprintln!("vault with {ACCOUNTS} accounts: {file_bytes} bytes on disk");

    let mut group = c.benchmark_group("vault");
    let vault = Vault::open(&path, Unlock::KeyStore(&keystore)).unwrap();
    assert_eq!(vault.accounts().len(), ACCOUNTS);
    assert!(vault.codes_at(now).iter().all(|(_, code)| code.is_some()));
    group.bench_function("codes_at_1000_totp", |b| {
        b.iter(|| black_box(vault.codes_at(black_box(now))));
    });
    drop(vault);

    group.bench_function("open_keystore_1000", |b| {
        b.iter(|| black_box(open_with_keystore(&path, &keystore)));
    });
    group.bench_function("open_keystore_1000_plus_codes", |b| {
        b.iter(|| {
            let vault = open_with_keystore(&path, &keystore);
            black_box(vault.codes_at(black_box(now)).len())
        });
    });
    group.finish();
}

fn open_with_keystore(path: &Path, keystore: &MemoryKeyStore) -> Vault {
    Vault::open(black_box(path), Unlock::KeyStore(keystore)).unwrap()
}

/// (d) The password slot's cost: Argon2id with the default parameters
/// dominates opening a vault that holds no accounts.
fn bench_password_kdf(c: &mut Criterion) {
    const PASSWORD: &str = "correct horse battery staple";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.json");
    Vault::create(
        &path,
        CreateOptions {
            keystore: None,
            password: Some(PASSWORD),
            kdf: KdfParams::default(),
        },
    )
    .unwrap();

    let mut group = c.benchmark_group("kdf");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("open_password_default_argon2id", |b| {
        b.iter(|| black_box(Vault::open(black_box(&path), Unlock::Password(PASSWORD)).unwrap()));
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_code_for_counter,
    bench_vault,
    bench_password_kdf
);
criterion_main!(benches);
