//! Whether the runtime a connection was made on still runs.
//!
//! A connection's driver is a task on the runtime that made it, and dies
//! with it: a store kept in a `static` and used by tests that each run a
//! runtime of their own, or a store built in one runtime and used in
//! another. Every call on that connection would then fail (the standalone
//! client's first write, the cluster client's every call), and a local
//! cache fed by its invalidations would stop hearing of changes. So each
//! connection is made with a watch: a task on the same runtime that marks
//! the watch ended, and runs a last step (the cache forgets its copies),
//! when the runtime drops it; the next call then connects again from its
//! own runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;

/// Watches the runtime current when it was made; dropping the watch ends
/// its task.
pub(crate) struct RuntimeWatch {
    ended: Arc<AtomicBool>,
    /// Dropped with the watch: its task then ends without marking anything.
    _release: Option<oneshot::Sender<()>>,
}

impl RuntimeWatch {
    /// Watches the current runtime; `on_end` runs if the runtime shuts
    /// down while the watch is held. Outside a runtime it never ends (no
    /// connection is made there).
    pub(crate) fn current(on_end: impl FnOnce() + Send + 'static) -> Self {
        let ended = Arc::new(AtomicBool::new(false));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Self {
                ended,
                _release: None,
            };
        };
        let (release, released) = oneshot::channel::<()>();
        let mut guard = EndGuard {
            ended: Arc::clone(&ended),
            on_end: Some(Box::new(on_end)),
        };
        runtime.spawn(async move {
            // Resolves (with an error) once the watch is dropped; a runtime
            // shutting down drops this future instead, and the guard with it.
            let _ = released.await;
            guard.disarm();
        });
        Self {
            ended,
            _release: Some(release),
        }
    }

    /// Whether the watched runtime has shut down.
    pub(crate) fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }
}

/// Marks the watch ended and runs its last step when dropped armed (its
/// task dropped unfinished: the runtime shut down).
struct EndGuard {
    ended: Arc<AtomicBool>,
    on_end: Option<Box<dyn FnOnce() + Send>>,
}

impl EndGuard {
    fn disarm(&mut self) {
        self.on_end = None;
    }
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            // Ended first: a call that sees the last step's effect (an
            // emptied cache) must not then take the dead connection.
            self.ended.store(true, Ordering::Release);
            on_end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    }

    #[test]
    fn a_watch_ends_with_its_runtime_and_runs_its_last_step_once() {
        let ran = Arc::new(AtomicUsize::new(0));
        let rt = runtime();
        let counted = Arc::clone(&ran);
        let watch = rt.block_on(async move {
            RuntimeWatch::current(move || {
                counted.fetch_add(1, Ordering::SeqCst);
            })
        });
        assert!(!watch.ended());
        drop(rt);
        assert!(watch.ended());
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_dropped_watch_runs_nothing_when_its_runtime_ends_later() {
        let ran = Arc::new(AtomicUsize::new(0));
        let rt = runtime();
        let counted = Arc::clone(&ran);
        rt.block_on(async move {
            let watch = RuntimeWatch::current(move || {
                counted.fetch_add(1, Ordering::SeqCst);
            });
            drop(watch);
            // The task sees its release.
            tokio::task::yield_now().await;
        });
        drop(rt);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn outside_a_runtime_a_watch_never_ends() {
        let watch = RuntimeWatch::current(|| {});
        assert!(!watch.ended());
    }
}
