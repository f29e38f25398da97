//! Deterministic synthetic mail-log generator for mailtrail.
//!
//! It writes a realistic Exim main log or Postfix (syslog) log **and** the
//! ground truth of what happened to every (message, recipient) — derived
//! from the generator's own events, never from parsing the text — so parser
//! and analysis output can be checked against it. Equal configurations
//! (including the seed) give byte-identical logs and truth files.
//!
//! The crate deliberately does not depend on `mailtrail-parse`.

#![deny(missing_docs)]

pub mod clock;
pub mod exim;
mod line;
pub mod msgid;
pub mod postfix;
pub mod rng;
mod sched;
pub mod truth;
mod world;

pub use exim::{EximConfig, IdStyle, generate as generate_exim};
pub use postfix::{PostfixConfig, generate as generate_postfix};
pub use truth::{Category, Outcome, Summary};
