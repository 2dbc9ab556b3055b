//! Tests of the file store: the generic conformance suite, restart, cleanup,
//! corrupt records, opening errors, a process killed mid-write, a file left
//! open or with a torn last commit, and a disk that refuses writes.

mod capped;
mod cleanup;
mod compact;
mod conformance;
mod corrupt;
#[cfg(target_os = "linux")]
mod full_disk;
mod group_commit;
#[cfg(target_os = "linux")]
mod io_error;
mod kill;
mod moved;
mod never_written;
mod open;
mod reopen;
mod support;
mod threads;
mod unclean;
