//! One module per subcommand.

pub mod lines;
pub mod undelivered;
