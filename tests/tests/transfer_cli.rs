//! `tessera import`, `export` and `backup` end to end: the real binary, real
//! files, every format moved between two vaults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use tessera_tests::tessera_bin;

const DEMO: &str = "otpauth://totp/Demo:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Demo";
const HOTP: &str = "otpauth://hotp/Ex:bob?secret=JBSWY3DPEHPK3PXPJBSWY3DP&counter=5&digits=8";
const SIXTY: &str =
    "otpauth://totp/Slow:carol?secret=KRSXG5CTMVRXEZLUKRSXG5CT&period=60&algorithm=SHA256";

/// Runs `tessera` on the vault `vault` in `dir`, with no network time and
/// the given extra environment.
fn tessera(dir: &Path, vault: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(tessera_bin());
    command
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .env("TESSERA_VAULT", dir.join(vault))
        .env("TESSERA_PASSWORD", "vault-pw")
        .env("TESSERA_TIME_SOURCES", "")
        .env_remove("TESSERA_IMPORT_PASSWORD")
        .env_remove("TESSERA_EXPORT_PASSWORD")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .arg("--no-keystore")
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A vault "a.json" holding three accounts, one of which Google's format
/// cannot carry (a 60 s period).
fn source_vault() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for uri in [DEMO, HOTP, SIXTY] {
        ok(&tessera(dir.path(), "a.json", &["add", uri], &[]));
    }
    dir
}

fn names(dir: &Path, vault: &str) -> Vec<String> {
    let out = ok(&tessera(dir, vault, &["list", "--json"], &[]));
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut names: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}|{}|{}", r["issuer"], r["label"], r["details"]))
        .collect();
    names.sort();
    names
}

/// A file to write, the arguments that write it, and its environment.
type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);

#[test]
fn every_format_moves_accounts_between_vaults() {
    let dir = source_vault();
    let path = dir.path();
    let expected = names(path, "a.json");
    let cases: [Case; 4] = [
        (
            "backup.json",
            &["backup", "--out", "backup.json"],
            &[("TESSERA_EXPORT_PASSWORD", "backup-pw")],
        ),
        (
            "aegis.json",
            &["export", "--format", "aegis", "--out", "aegis.json"],
            &[("TESSERA_EXPORT_PASSWORD", "aegis-pw")],
        ),
        (
            "plain-aegis.json",
            &[
                "export",
                "--format",
                "aegis",
                "--plain",
                "--out",
                "plain-aegis.json",
            ],
            &[],
        ),
        (
            "list.txt",
            &["export", "--format", "otpauth", "--out", "list.txt"],
            &[],
        ),
    ];
    for (i, (file, args, env)) in cases.iter().enumerate() {
        let written = tessera(path, "a.json", args, env);
        ok(&written);
        assert!(
            stderr(&written).contains("verified"),
            "{}",
            stderr(&written)
        );
        let mode = std::fs::metadata(path.join(file)).unwrap().permissions();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(mode.mode() & 0o777, 0o600, "{file}");
        }
        let target = format!("b{i}.json");
        let password = env.first().map(|(_, p)| *p).unwrap_or("");
        let imported = tessera(
            path,
            &target,
            &["import", file, "--yes"],
            &[("TESSERA_IMPORT_PASSWORD", password)],
        );
        let out = ok(&imported);
        assert!(out.contains("Added 3 account(s)"), "{file}: {out}");
        assert_eq!(names(path, &target), expected, "{file}");
    }
}

#[test]
fn google_export_refuses_to_lose_information_unless_forced() {
    let dir = source_vault();
    let path = dir.path();
    let refused = tessera(
        path,
        "a.json",
        &["export", "--format", "google", "--out", "g.txt"],
        &[],
    );
    assert_eq!(refused.status.code(), Some(4));
    assert!(
        stderr(&refused).contains("period of 60 s"),
        "{}",
        stderr(&refused)
    );
    assert!(
        !path.join("g.txt").exists(),
        "nothing is written when refused"
    );

    let forced = tessera(
        path,
        "a.json",
        &["export", "--format", "google", "--force", "--out", "g.txt"],
        &[],
    );
    ok(&forced);
    assert!(stderr(&forced).contains("left out"));
    let text = std::fs::read_to_string(path.join("g.txt")).unwrap();
    assert!(text.starts_with("otpauth-migration://offline?data="));
    let imported = tessera(path, "c.json", &["import", "g.txt", "--yes"], &[]);
    assert!(ok(&imported).contains("Added 2 account(s)"));
}

#[test]
fn imports_preview_duplicates_and_refuse_bad_input() {
    let dir = source_vault();
    let path = dir.path();
    ok(&tessera(
        path,
        "a.json",
        &["export", "--format", "otpauth", "--out", "list.txt"],
        &[],
    ));
    // Importing into the same vault: everything is a duplicate, nothing added.
    let again = ok(&tessera(
        path,
        "a.json",
        &["import", "list.txt", "--yes"],
        &[],
    ));
    assert!(again.contains("duplicate"), "{again}");
    assert!(again.contains("Nothing to add"), "{again}");

    // A bad line is refused by itself; the good ones come in.
    std::fs::write(
        path.join("mixed.txt"),
        format!("{DEMO}\notpauth://totp/Bad:x?secret=AAAA&algorithm=MD5\n"),
    )
    .unwrap();
    let mixed = ok(&tessera(
        path,
        "d.json",
        &["import", "mixed.txt", "--yes"],
        &[],
    ));
    assert!(mixed.contains("refused    entry 2"), "{mixed}");
    assert!(mixed.contains("Added 1 account(s)"), "{mixed}");

    // Without --yes and without a terminal nothing is added.
    let unconfirmed = tessera(path, "e.json", &["import", "list.txt"], &[]);
    assert_eq!(unconfirmed.status.code(), Some(4));

    // A wrong backup password, a tampered backup: errors, nothing imported.
    ok(&tessera(
        path,
        "a.json",
        &["backup", "--out", "b.json"],
        &[("TESSERA_EXPORT_PASSWORD", "right")],
    ));
    let wrong = tessera(
        path,
        "f.json",
        &["import", "b.json", "--yes"],
        &[("TESSERA_IMPORT_PASSWORD", "wrong")],
    );
    assert_eq!(wrong.status.code(), Some(4));
    assert!(
        stderr(&wrong).contains("wrong password"),
        "{}",
        stderr(&wrong)
    );
    let mut bytes = std::fs::read(path.join("b.json")).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let at = text.find("\"ciphertext\"").unwrap() + 20;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(path.join("tampered.json"), &bytes).unwrap();
    let tampered = tessera(
        path,
        "f.json",
        &["import", "tampered.json", "--yes"],
        &[("TESSERA_IMPORT_PASSWORD", "right")],
    );
    assert_eq!(tampered.status.code(), Some(4), "{}", stderr(&tampered));

    // An existing file is never overwritten.
    let exists = tessera(
        path,
        "a.json",
        &["export", "--format", "otpauth", "--out", "list.txt"],
        &[],
    );
    assert_ne!(exists.status.code(), Some(0));
}

#[test]
fn google_export_as_qr_images_scans_back_into_another_vault() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    // Enough accounts for several QR codes (one batch holds at most 10).
    let uris: Vec<String> = (0..23)
        .map(|i| {
            format!(
                "otpauth://totp/Site{i}:user{i}%40example.com?secret=JBSWY3DPEHPK3PXP{}&issuer=Site{i}",
                ["A", "B", "C", "D", "E", "F", "G"][i % 7].repeat(8)
            )
        })
        .collect();
    let list = uris.join("\n");
    std::fs::write(path.join("seed.txt"), &list).unwrap();
    ok(&tessera(
        path,
        "a.json",
        &["import", "seed.txt", "--yes"],
        &[],
    ));
    let expected = names(path, "a.json");

    let written = tessera(
        path,
        "a.json",
        &["export", "--format", "google-qr", "--out", "qr"],
        &[],
    );
    ok(&written);
    assert!(
        stderr(&written).contains("verified"),
        "{}",
        stderr(&written)
    );
    let mut images: Vec<_> = std::fs::read_dir(path.join("qr"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    images.sort();
    assert_eq!(images.len(), 3, "{images:?}");
    assert!(images[0].ends_with("google-export-1-of-3.png"));

    // Scan every image into a new vault: the batch is recombined.
    let mut args = vec!["import".to_string(), "--yes".into(), "--qr".into()];
    args.extend(images.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let imported = ok(&tessera(path, "b.json", &args, &[]));
    assert!(imported.contains("Added 23 account(s)"), "{imported}");
    assert_eq!(names(path, "b.json"), expected);

    // The directory must be new: nothing is overwritten.
    let again = tessera(
        path,
        "a.json",
        &["export", "--format", "google-qr", "--out", "qr"],
        &[],
    );
    assert_eq!(again.status.code(), Some(4), "{}", stderr(&again));
    assert!(stderr(&again).contains("already exists"));
}

#[test]
fn a_forced_export_that_drops_only_details_keeps_the_account_and_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let with_extra = "otpauth://totp/Extra:dave?secret=JBSWY3DPEHPK3PXP&issuer=Extra&color=blue";
    ok(&tessera(path, "a.json", &["add", with_extra], &[]));
    ok(&tessera(path, "a.json", &["add", DEMO], &[]));
    let refused = tessera(
        path,
        "a.json",
        &["export", "--format", "aegis", "--plain", "--out", "x.json"],
        &[],
    );
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("color"), "{}", stderr(&refused));
    let forced = tessera(
        path,
        "a.json",
        &[
            "export", "--format", "aegis", "--plain", "--force", "--out", "x.json",
        ],
        &[],
    );
    ok(&forced);
    // Both accounts are written (only the extra parameter is lost).
    assert!(
        stderr(&forced).contains("Exported 2 account(s)"),
        "{}",
        stderr(&forced)
    );
    let imported = ok(&tessera(
        path,
        "b.json",
        &["import", "x.json", "--yes"],
        &[],
    ));
    assert!(imported.contains("Added 2 account(s)"), "{imported}");
}
