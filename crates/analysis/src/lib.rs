//! Correlation of mail-log events into per-recipient outcomes.

#![deny(missing_docs)]
