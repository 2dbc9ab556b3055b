//! A durable embedded session store: sessions in one local database file,
//! kept across restarts of the app. For single-server deployments.
//!
//! [`FileStore`] implements [`session_core::SessionStore`] on
//! [`redb`](https://docs.rs/redb), a pure-Rust, ACID, crash-safe embedded
//! key-value store. Each write updates a record and its expiry and user
//! index entries together, atomically, and is durable when it returns;
//! a background [`Cleanup`] thread deletes expired sessions through the expiry
//! index. See [`FileStore`] for the guarantees.
//!
//! # Why redb
//!
//! It is pure Rust (no C toolchain, no `unsafe` to audit in this crate),
//! ACID with copy-on-write B-trees and checksummed commit slots, has a stable
//! file format, is actively maintained, and keeps everything in one file with
//! ordered tables, which is what the expiry and user indexes need. Sled has
//! had no stable release for years, the LMDB and RocksDB bindings need C
//! libraries, and SQLite would add a C dependency and SQL for what are
//! key-range scans.
//!
//! # Crash safety
//!
//! Every write is committed with immediate durability: the data is flushed to
//! disk before the call returns, and redb's commit switches atomically
//! between two checksummed roots. After a kill or power cut the file reopens
//! at its last commit: every acknowledged write is there, and no record or
//! index entry is half written (the tests kill a writer with `SIGKILL`
//! mid-stream and check this). Such an open logs at `warn` level that the
//! file was not closed (as it does after a process that exited without
//! dropping the store); when its last commit was cut short (a power cut
//! during it, or a disk that lost writes it had confirmed as flushed), the
//! commit is dropped, the file opens at the one before, and that is logged
//! at `warn` level too. A file, and directories, that the open
//! creates have their directory entries synced too, so a power cut right
//! after the first start cannot lose the file itself. A first start stopped
//! after the engine sized the new file and before it wrote the file's header
//! leaves a file of zeros, which holds nothing: the next open creates a new
//! database in it (logged at `warn` level). A file holding any other byte
//! that is not a database is refused and left as it is.
//!
//! Writes that arrive while another is being committed share the next
//! commit (group commit): one flush for all of them, so concurrent requests
//! are not held to one disk flush each. A commit takes at most 512 writes;
//! more wait for the next. Each write is still applied whole or not at all,
//! and answered only once its commit is on disk.
//!
//! # Disk errors
//!
//! After one failed read, write or flush (or a commit that failed otherwise
//! and discarded the engine's allocator state), the database engine refuses
//! every later call until the file is opened again. The store does that by itself:
//! the call that met the error fails with
//! [`StoreError::Unavailable`](session_core::StoreError::Unavailable) (its
//! write was not made), and the next call opens the file again at its last
//! commit. While the disk still fails, calls fail fast and an attempt to open
//! the file is made at most once per
//! [reopen interval](FileStoreBuilder::reopen_interval). A full disk or a
//! dropped mount is therefore an outage only while it lasts, and loses no
//! acknowledged write (the tests make every write fail with a file size
//! limit of zero, then lift it). A panic inside the engine that leaves one
//! of its locks poisoned (reads then fail, and writes panic, on that lock)
//! is mended the same way: the call fails, and the next opens the file again.
//!
//! # Copying, moving and backing up the file
//!
//! The store writes to the file it opened for as long as it runs: a file
//! moved, deleted or replaced meanwhile is not noticed. What is written after
//! that goes to a file no path names any more, and is lost at the next start,
//! which opens whatever the path names then (a new, empty store when it names
//! nothing). A copy taken while the store writes (`cp`, `rsync`) is torn: its
//! pages come from different commits, and it does not open (it is refused
//! with [`OpenError::Database`]). So copy, move or restore the file while the
//! app is stopped, or copy it from a file-system snapshot (LVM, ZFS, btrfs),
//! which holds the file as a crash would leave it: it opens at its last commit.
//!
//! # File layout
//!
//! A `sessions` table (raw 16-byte id → the record in session-core's versioned
//! [envelope](session_core::record::envelope)), an expiry index ordered by
//! (expiry time, id), a user index ordered by (user id, id), and a layout
//! version that a newer, incompatible build would refuse rather than misread.
//!
//! The file grows to hold the most sessions it held at once and keeps that
//! size; the space of expired sessions is reused, not given back.
//! [`FileStoreBuilder::compact_on_open`] gives it back at the next start.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use std::time::Duration;
//! use session_core::{Binding, SessionId, SessionRecord, SessionStore, Timestamp};
//! use session_file::FileStore;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("sessions.redb");
//!
//! let store = FileStore::open(&path)?;
//! let now = store.now();
//! let mut record = SessionRecord::new(SessionId::generate(), now, now.plus(Duration::from_secs(3600)));
//! record.fields.insert("visits", "1");
//! record.binding = Some(Box::new(Binding::user("ada")));
//! store.create(&record).await?;
//! drop(store); // the app stops...
//!
//! let store = FileStore::open(&path)?; // ...and starts again
//! assert_eq!(store.load(&record.id).await?, Some(record.clone()));
//! assert_eq!(store.list_for_user("ada").await?[0].id, record.id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod builder;
mod cleanup;
mod compaction;
mod database;
mod error;
mod group;
mod ops;
mod recovery;
mod report;
mod store;
mod tables;
mod unwritten;

pub use builder::{DEFAULT_CACHE_BYTES, DEFAULT_MAX_RECORD_BYTES, FileStoreBuilder};
pub use cleanup::{Cleanup, DEFAULT_CLEANUP_INTERVAL};
pub use database::DEFAULT_REOPEN_INTERVAL;
pub use error::OpenError;
pub use ops::MAX_PAGE;
pub use report::{CheckReport, RepairReport, StoreStats, SweepReport};
pub use store::FileStore;
