//! Command-line tools of the `aviary` binary that are more than argument parsing.

pub mod passwd;
