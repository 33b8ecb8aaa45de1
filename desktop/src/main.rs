//! `tessera`: the desktop command-line authenticator.
//!
//! It links `tessera-core` directly (no FFI): the same OTP engine, URI
//! parser and vault as the mobile apps.

mod cli;
mod clock;
mod commands;
mod config;
mod device_transfer;
mod error;
mod open;
mod push;
mod qr;
mod transfer;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tessera: {error}");
            ExitCode::from(error.exit as u8)
        }
    }
}
