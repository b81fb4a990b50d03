//! Guardrails for the gateway: pure functions over text, no I/O.
//!
//! - [`pii`]: detectors for personal data (EMAIL, PHONE, CREDIT_CARD, IBAN, ES_DNI, ES_NIE,
//!   BR_CPF, BR_CNPJ, US_SSN, IP_ADDRESS, PERSON, SECRET) in English, Spanish and Portuguese,
//!   each validated by its checksum where one exists. Findings carry byte spans internally and
//!   Unicode-scalar (Python `str`) offsets at the edges ([`text::CharOffsets`]).
//! - [`pseudo`]: reversible pseudonymization: typed placeholders (`[EMAIL_1]`), a per-request
//!   [`pseudo::Vault`], restoration of whole answers and of streamed answers whose placeholders
//!   are split across chunks ([`pseudo::StreamRestorer`]).
//! - [`injection`]: layered prompt-injection and jailbreak detection: normalisation (case,
//!   confusables, zero-width and spaced-out letters, base64/rot13/leetspeak), multilingual rules,
//!   and a logistic-regression classifier over hashed n-grams whose weights are committed in
//!   `models/` (trained by `scripts/train_injection.py`), scored per sentence.
//! - [`output`]: checks on a model's answer: PII not present in the input, system-prompt leakage
//!   (canary token, n-gram overlap), a deny-list.
//! - [`policy`]: what to do with each finding (pseudonymize, mask, block, allow; thresholds).
//! - [`Guard`]: everything above assembled from a [`policy::Policy`].

pub mod config;
pub mod error;
pub mod injection;
pub mod output;
pub mod pii;
pub mod policy;
pub mod pseudo;
pub mod text;

mod guard;

pub use error::GuardError;
pub use guard::{Guard, Redacted, ScanReport};
pub use injection::{InjectionDetector, InjectionReport, Source};
pub use pii::{EntityType, Finding, PiiDetector};
pub use policy::{Action, Policy};
