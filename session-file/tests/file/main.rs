//! Tests of the file store: the generic conformance suite, restart, cleanup,
//! corrupt records, opening errors and a process killed mid-write.

mod cleanup;
mod conformance;
mod corrupt;
mod kill;
mod open;
mod reopen;
mod support;
