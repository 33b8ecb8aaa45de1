#![doc = include_str!("../README.md")]

mod authenticator;
mod error;
mod push;
mod records;
mod storage;

pub use authenticator::{Authenticator, AuthenticatorConfig};
pub use error::TesseraError;
pub use push::{
    AnswerOutcome, PushAccount, PushDecision, PushDelivery, PushEvent, PushPrompt, PushSubscription,
};
pub use records::{
    AccountRecord, AddedAccount, ClockInfo, ClockState, CodeRecord, SlotRecord, VaultInfo,
};
pub use storage::SecureStorage;
pub use tessera_core::push::PromptMode;

uniffi::setup_scaffolding!();
