//! Stores and services for the concurrency tests: the memory store and the
//! file store, each behind a `SessionService` on the system clock.

use std::sync::Arc;
use std::time::Duration;

use session_core::{
    CookieAction, ExpiryPolicy, Key, MemoryStore, Persisted, SessionService, SessionStore,
};
use session_file::FileStore;
use tempfile::TempDir;

pub const MIN: Duration = Duration::from_secs(60);

pub fn policy() -> ExpiryPolicy {
    ExpiryPolicy {
        initial_lifetime: 5 * MIN,
        lifetime: 60 * MIN,
        refresh_threshold: 0.5,
        absolute: None,
    }
}

pub fn key() -> Key {
    Key::new([9u8; 32]).unwrap()
}

/// Which store a case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    File,
}

/// A store of `kind`, with what must live as long as it.
pub struct Backing {
    pub store: Arc<dyn SessionStore>,
    _dir: Option<TempDir>,
}

pub fn backing(kind: Kind) -> Backing {
    match kind {
        Kind::Memory => Backing {
            store: Arc::new(MemoryStore::new()),
            _dir: None,
        },
        Kind::File => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = FileStore::builder(dir.path().join("sessions.redb"))
                .without_cleanup()
                .open()
                .expect("open file store");
            Backing {
                store: Arc::new(store),
                _dir: Some(dir),
            }
        }
    }
}

pub fn service(backing: &Backing) -> SessionService {
    SessionService::builder()
        .shared_store(backing.store.clone())
        .key(key())
        .token_context("sid")
        .expiry(policy())
        .build()
        .unwrap()
}

/// The token of a `Set` cookie action.
pub fn token(p: &Persisted) -> String {
    match &p.cookie {
        CookieAction::Set { token, .. } => token.clone(),
        other => panic!("expected a cookie to be set, got {other:?}"),
    }
}

/// How long one test spends on its rounds at most.
pub const BUDGET: Duration = Duration::from_secs(8);

/// Violations after which a test stops early: enough to show a pattern.
const ENOUGH: usize = 5;

/// What [`rounds`] found: rounds run, and what went wrong in which.
pub struct Rounds {
    pub done: usize,
    pub wrong: Vec<String>,
}

impl Rounds {
    /// Fails with `what` and the wrong rounds, if any.
    pub fn assert_none(&self, what: &str) {
        assert!(
            self.wrong.is_empty(),
            "{what}: in {} of {} rounds (stopping after {ENOUGH}):\n{}",
            self.wrong.len(),
            self.done,
            self.wrong.join("\n")
        );
    }
}

/// Runs up to `max` rounds of `round` (fewer once [`BUDGET`] is spent or
/// [`ENOUGH`] rounds went wrong), collecting what each reports as wrong.
pub async fn rounds<F, Fut>(max: usize, mut round: F) -> Rounds
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Option<String>>,
{
    let start = std::time::Instant::now();
    let mut found = Rounds {
        done: 0,
        wrong: Vec::new(),
    };
    for i in 0..max {
        if start.elapsed() > BUDGET || found.wrong.len() >= ENOUGH {
            break;
        }
        if let Some(what) = round(i).await {
            found.wrong.push(format!("round {i}: {what}"));
        }
        found.done += 1;
    }
    found
}
