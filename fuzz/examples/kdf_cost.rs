//! Times one import with the fuzz password, KDF and all (the fuzz targets
//! withhold the password from files that ask for an expensive KDF):
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example kdf_cost -- aegis FILE
//! ```

use std::time::Instant;

use tessera_core::transfer::Format;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(format), Some(path)) = (args.next(), args.next()) else {
        return Err("usage: kdf_cost aegis|backup FILE".into());
    };
    let format = match format.as_str() {
        "aegis" => Format::Aegis,
        "backup" => Format::TesseraBackup,
        other => return Err(format!("unknown format {other}").into()),
    };
    let bytes = std::fs::read(path)?;
    let start = Instant::now();
    let result = format
        .importer()
        .import(&bytes, Some(tessera_fuzz::PASSWORD));
    println!(
        "{format}: {:?} after {:.2} s",
        result.map(|b| b.accounts.len()),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
