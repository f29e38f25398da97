//! One module per subcommand.

pub mod explain;
pub mod incident;
pub mod lines;
pub mod resend;
pub mod summary;
pub mod tickets;
pub mod timeline;
pub mod trace;
pub mod undelivered;
