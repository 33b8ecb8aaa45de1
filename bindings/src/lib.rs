#![doc = include_str!("../README.md")]

mod authenticator;
mod error;
mod records;
mod storage;

pub use authenticator::{Authenticator, AuthenticatorConfig};
pub use error::TesseraError;
pub use records::{
    AccountRecord, AddedAccount, ClockInfo, ClockState, CodeRecord, SlotRecord, VaultInfo,
};
pub use storage::SecureStorage;

uniffi::setup_scaffolding!();
