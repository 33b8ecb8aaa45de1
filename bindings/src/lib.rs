#![doc = include_str!("../README.md")]

mod authenticator;
mod error;
mod http;
mod push;
mod records;
mod storage;
mod transfer;

pub use authenticator::{Authenticator, AuthenticatorConfig};
pub use error::TesseraError;
pub use http::{HttpBody, HttpHeader, HttpRequest, HttpResponse, HttpTransport};
pub use push::{
    AnswerOutcome, PushAccount, PushDecision, PushDelivery, PushEvent, PushPrompt, PushSubscription,
};
pub use records::{
    AccountRecord, AddedAccount, ClockInfo, ClockState, CodeRecord, SlotRecord, VaultInfo,
};
pub use storage::SecureStorage;
pub use tessera_core::push::PromptMode;
pub use transfer::{
    ExportWarning, ExportedFile, HandoffFailure, HandoffPreview, ImportPreview, ImportSession,
    PreviewAccount, ReceivedTransfer, RejectedEntry, SentTransfer, TransferApplied, TransferFormat,
    TransferInvite, TransferReceiver,
};

uniffi::setup_scaffolding!();
