//! Writes the seed corpora, `fuzz/corpus/<target>/seed-*`, from valid
//! examples made with tessera-core's own formatters and exporters, then runs
//! every seed through its target once.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus
//! ```
//!
//! Exports carry random salts, nonces and ids, so the bytes change on every
//! run; the targets only need them valid.

use std::fs;
use std::path::{Path, PathBuf};

use tessera_core::push::jws::KeyRef;
use tessera_core::push::messages::{ANSWER_TYP, PROOF_TYP};
use tessera_core::push::{
    AnswerClaims, Decision, ENROLLMENT_TYP, PairingUri, PromptClaims, PromptContext, PromptMode,
    ProofClaims, ProofRequest,
};
use tessera_core::transfer::aegis::Aegis;
use tessera_core::transfer::device_to_device::{self, Receiver, Rendezvous};
use tessera_core::transfer::google_migration::GoogleMigration;
use tessera_core::transfer::otpauth_list::OtpauthList;
use tessera_core::transfer::{Export, Format};
use tessera_core::{Account, OtpauthUri};
use tessera_fuzz as targets;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The accounts every export seed carries.
const URIS: [&str; 4] = [
    "otpauth://totp/Example:alice@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Example&algorithm=SHA1&digits=6&period=30",
    "otpauth://hotp/Bank:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Bank&algorithm=SHA256&digits=8&counter=42",
    "otpauth://totp/Steam:carol?secret=JBSWY3DPEHPK3PXP&issuer=Steam&encoder=steam",
    "otpauth://totp/no-issuer?secret=MFRGGZDFMZTWQ2LK&algorithm=SHA512&period=60&image=https%3A%2F%2Fexample.com%2Fi.png",
];

fn accounts() -> Result<Vec<Account>> {
    let mut accounts = Vec::new();
    for uri in URIS {
        let mut account = Account::from_uri(OtpauthUri::parse(uri)?.uri, targets::NOW);
        if account.issuer == "Example" {
            account.tags = vec!["work".into()];
        }
        accounts.push(account);
    }
    Ok(accounts)
}

struct Corpus {
    root: PathBuf,
    written: usize,
}

impl Corpus {
    fn write(&mut self, target: &str, name: &str, bytes: &[u8]) -> Result<()> {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(format!("seed-{name}")), bytes)?;
        self.written += 1;
        Ok(())
    }

    /// Clears the seeds of every target, so a renamed seed does not linger.
    fn clear(&self) -> Result<()> {
        if !self.root.exists() {
            return Ok(());
        }
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?.path();
            if !dir.is_dir() {
                continue;
            }
            for file in fs::read_dir(&dir)? {
                let file = file?.path();
                let seed = file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("seed-"));
                if seed {
                    fs::remove_file(file)?;
                }
            }
        }
        Ok(())
    }
}

fn prompt_claims(mode: PromptMode) -> PromptClaims {
    PromptClaims {
        v: 1,
        prompt_id: targets::PROMPT_ID.into(),
        device_id: targets::DEVICE_ID.into(),
        user: "alice@example.com".into(),
        site: "Example".into(),
        context: PromptContext {
            ip: Some("203.0.113.7".into()),
            location: Some("Lyon, FR".into()),
            user_agent: Some("Firefox on Linux".into()),
            app: Some("Web login".into()),
        },
        mode,
        choices: (mode == PromptMode::Choice)
            .then(|| vec!["1234".into(), "56789".into(), "024680".into()]),
        iat: targets::NOW - 10,
        exp: targets::NOW + 120,
        nonce: targets::NONCE.into(),
    }
}

fn payload_of(token: &str, typ: &str) -> Result<Vec<u8>> {
    let jws = tessera_core::push::jws::UnverifiedJws::parse(token, typ)?;
    Ok(jws.unverified_payload().to_vec())
}

fn push_seeds(corpus: &mut Corpus) -> Result<()> {
    let key = targets::test_key();
    let kid = KeyRef::Kid(key.public_key().thumbprint());

    // prompt: payloads (the target signs them).
    for (name, mode) in [("entry", PromptMode::Entry), ("choice", PromptMode::Choice)] {
        let claims = prompt_claims(mode);
        let token = claims.sign(key)?;
        PromptClaims::verify(&token, key.public_key(), targets::DEVICE_ID, None)?;
        corpus.write("prompt", name, &serde_json::to_vec(&claims)?)?;
        corpus.write("jws", &format!("prompt-{name}"), token.as_bytes())?;
    }

    // proof_answer: payloads.
    let request = ProofRequest {
        method: targets::PROOF_METHOD,
        url: targets::PROOF_URL,
        body: targets::PROOF_BODY,
    };
    let device_kid = KeyRef::Kid(targets::DEVICE_ID.into());
    let proof = ProofClaims::create(key, &device_kid, request, targets::NOW)?;
    corpus.write("proof_answer", "proof", &payload_of(&proof, PROOF_TYP)?)?;
    corpus.write("jws", "proof", proof.as_bytes())?;
    let enrollment_proof = ProofClaims::create(key, &KeyRef::Jwk, request, targets::NOW)?;
    corpus.write("jws", "proof-jwk", enrollment_proof.as_bytes())?;
    let prompt = prompt_claims(PromptMode::Entry);
    for (name, decision, number) in [
        ("approve", Decision::Approve, Some("4821")),
        ("deny", Decision::Deny, None),
        ("fraud", Decision::Fraud, None),
    ] {
        let answer = AnswerClaims::create(key, &prompt, decision, number, targets::NOW)?;
        corpus.write(
            "proof_answer",
            &format!("answer-{name}"),
            &payload_of(&answer, ANSWER_TYP)?,
        )?;
        if name == "approve" {
            corpus.write("jws", "answer", answer.as_bytes())?;
        }
    }
    let enrollment = key.sign_json(
        ENROLLMENT_TYP,
        &kid,
        &serde_json::json!({
            "v": 1,
            "device_id": targets::DEVICE_ID,
            "user": "alice@example.com",
            "issuer": "Example",
            "server_key": key.public_key(),
        }),
    )?;
    corpus.write("jws", "enrollment", enrollment.as_bytes())?;
    let handoff = tessera_core::push::HandoffClaims::create(
        key,
        targets::DEVICE_ID,
        key.public_key(),
        targets::NOW,
        300,
    )?;
    corpus.write("jws", "handoff", handoff.as_bytes())?;
    corpus.write("jws", "jwk", key.public_key().to_jwk_json().as_bytes())?;

    // sse: one seed byte for the splits, then the stream.
    let stream = format!(
        "\u{feff}: hb\r\nretry: 2500\r\n\r\nid: 41\nevent: prompt\ndata: {}\n\n\
         event: revoked\r\ndata: a\r\ndata: b\r\n\r\n:\rdata\n\nid\n\n",
        prompt.sign(key)?
    );
    for seed in [7u8, 200] {
        let mut bytes = vec![seed];
        bytes.extend_from_slice(stream.as_bytes());
        corpus.write("sse", &format!("stream-{seed}"), &bytes)?;
    }

    // wake
    corpus.write("wake", "plain", br#"{"prompt_id":"prompt-fuzz-0001"}"#)?;
    corpus.write(
        "wake",
        "apns",
        br#"{"aps":{"content-available":1},"prompt_id":"p.1_a-B"}"#,
    )?;

    // qr_grey: a code drawn two pixels per module with a quiet zone, and
    // the same code as a photo might have it (grey levels, not black/white).
    for (name, dark, light) in [("sharp", 0u8, 255u8), ("dim", 70, 180)] {
        corpus.write("qr_grey", name, &qr_seed(URIS[2], dark, light)?)?;
    }

    // pairing_uri
    let pairing = PairingUri {
        server: "https://push.example:8443/base".into(),
        code: "ABCDEFGHIJKLMNOPQRSTUVWXYA".into(),
        fingerprint: key.public_key().thumbprint(),
        issuer: "Example Corp".into(),
        account: "alice+tag@example.com".into(),
    };
    pairing.validate()?;
    corpus.write("pairing_uri", "https", pairing.to_string().as_bytes())?;
    let loopback = PairingUri {
        server: "http://127.0.0.1:8080".into(),
        issuer: "Été & co".into(),
        ..pairing
    };
    loopback.validate()?;
    corpus.write("pairing_uri", "loopback", loopback.to_string().as_bytes())?;
    Ok(())
}

fn transfer_seeds(corpus: &mut Corpus) -> Result<()> {
    let accounts = accounts()?;
    for account in &accounts {
        if let Some(uri) = account.to_uri() {
            let name = account.issuer.to_lowercase().replace(' ', "-");
            let name = if name.is_empty() { "none".into() } else { name };
            corpus.write("otpauth", &name, uri.as_bytes())?;
        }
    }

    // Device to device.
    let mailbox = Rendezvous::Mailbox {
        server: "https://push.example".into(),
        id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
    };
    let receiver = Receiver::new(mailbox)?;
    corpus.write(
        "transfer_invite",
        "mailbox",
        receiver.invite().to_string().as_bytes(),
    )?;
    let with_push = Receiver::with_push(Rendezvous::File)?;
    corpus.write(
        "transfer_invite",
        "file-push",
        with_push.invite().to_string().as_bytes(),
    )?;
    let sealed = device_to_device::seal(with_push.invite(), &accounts)?;
    corpus.write("transfer_envelope", "sealed", &sealed.envelope)?;

    // Importers, from the exporters.
    // (target, seed name, exporter, password)
    type Seed = (
        &'static str,
        &'static str,
        Box<dyn Export>,
        Option<&'static str>,
    );
    let exports: [Seed; 5] = [
        ("import_otpauth_list", "list", Box::new(OtpauthList), None),
        (
            "import_google_migration",
            "batch",
            Box::new(GoogleMigration),
            None,
        ),
        ("import_aegis", "plain", Box::new(Aegis::default()), None),
        (
            "import_aegis",
            "encrypted",
            Box::new(Aegis { scrypt_log_n: 10 }),
            Some(targets::PASSWORD),
        ),
        (
            "import_tessera_backup",
            "backup",
            Box::new(targets::cheap_backup()),
            Some(targets::PASSWORD),
        ),
    ];
    for (target, name, exporter, password) in exports {
        let exported = exporter.export(&accounts, password, true)?;
        corpus.write(target, name, &exported.bytes)?;
        corpus.write("import_any", &format!("{target}-{name}"), &exported.bytes)?;
    }

    // 2FAS is import-only: a plain backup written here by hand.
    let twofas = serde_json::json!({
        "services": [
            {"name": "Example", "secret": "JBSWY3DPEHPK3PXP", "groupId": "g1",
             "otp": {"account": "alice", "issuer": "Example", "digits": 6, "period": 30,
                     "algorithm": "SHA1", "tokenType": "TOTP"}},
            {"name": "Bank", "secret": "GEZDGNBVGY3TQOJQ",
             "otp": {"account": "bob", "digits": 8, "algorithm": "SHA512",
                     "tokenType": "HOTP", "counter": 9}},
            {"name": "Steam", "secret": "JBSWY3DPEHPK3PXP",
             "otp": {"account": "carol", "tokenType": "STEAM"}}
        ],
        "groups": [{"id": "g1", "name": "Work"}],
        "schemaVersion": 4,
    });
    let twofas = serde_json::to_vec_pretty(&twofas)?;
    corpus.write("import_twofas", "plain", &twofas)?;
    corpus.write("import_any", "import_twofas-plain", &twofas)?;
    Ok(())
}

/// The `qr_grey` input for `text` as a QR code: width (u16 LE), then grey
/// pixels, 2 per module, with a 4-module quiet zone.
fn qr_seed(text: &str, dark: u8, light: u8) -> Result<Vec<u8>> {
    let code = qrcode::QrCode::new(text.as_bytes())?;
    let modules = code.width();
    let colors = code.to_colors();
    let (scale, border) = (2, 4);
    let side = (modules + 2 * border) * scale;
    let mut bytes = u16::try_from(side)?.to_le_bytes().to_vec();
    for y in 0..side {
        for x in 0..side {
            let (mx, my) = (
                (x / scale).wrapping_sub(border),
                (y / scale).wrapping_sub(border),
            );
            let is_dark =
                mx < modules && my < modules && colors[my * modules + mx] == qrcode::Color::Dark;
            bytes.push(if is_dark { dark } else { light });
        }
    }
    // The seed must be one the decoder reads.
    let texts =
        tessera_core::qr::decode_grey(u32::try_from(side)?, u32::try_from(side)?, &bytes[2..])?;
    if texts != [text] {
        return Err(format!("the QR seed reads as {texts:?}").into());
    }
    Ok(bytes)
}

/// Every seed through its target: none may fail, and each must be
/// something the target's parser accepts.
fn check(root: &Path) -> Result<()> {
    for dir in fs::read_dir(root)? {
        let dir = dir?.path();
        let Some(target) = dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let run: fn(&[u8]) = match target {
            "jws" => targets::jws,
            "prompt" => targets::prompt,
            "proof_answer" => targets::proof_answer,
            "sse" => targets::sse,
            "wake" => targets::wake,
            "qr_grey" => targets::qr_grey,
            "pairing_uri" => targets::pairing_uri,
            "transfer_invite" => targets::transfer_invite,
            "transfer_envelope" => targets::transfer_envelope,
            "otpauth" => targets::otpauth,
            "import_otpauth_list" => targets::import_otpauth_list,
            "import_google_migration" => targets::import_google_migration,
            "import_aegis" => targets::import_aegis,
            "import_twofas" => targets::import_twofas,
            "import_tessera_backup" => targets::import_tessera_backup,
            "import_any" => targets::import_any,
            other => return Err(format!("no target named {other}").into()),
        };
        for file in fs::read_dir(&dir)? {
            let file = file?.path();
            run(&fs::read(&file)?);
        }
        if let Some(format) = match target {
            "import_otpauth_list" => Some(Format::OtpauthList),
            "import_google_migration" => Some(Format::GoogleMigration),
            "import_aegis" => Some(Format::Aegis),
            "import_twofas" => Some(Format::TwoFas),
            "import_tessera_backup" => Some(Format::TesseraBackup),
            _ => None,
        } {
            for file in fs::read_dir(&dir)? {
                let bytes = fs::read(file?.path())?;
                let password = targets::password_for(format, &bytes);
                let batch = format.importer().import(&bytes, password)?;
                if batch.accounts.is_empty() {
                    return Err(format!("{target}: a seed imports no account").into());
                }
            }
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut corpus = Corpus {
        root: root.clone(),
        written: 0,
    };
    corpus.clear()?;
    push_seeds(&mut corpus)?;
    transfer_seeds(&mut corpus)?;
    check(&root)?;
    println!(
        "wrote and checked {} seeds in {}",
        corpus.written,
        root.display()
    );
    Ok(())
}
