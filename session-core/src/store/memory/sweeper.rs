//! A background thread that sweeps expired sessions.

use std::sync::{Weak, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Inner, MemoryStore};

/// The shortest interval between sweeps: zero would spin a core.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// Handle of a sweeper thread started by [`MemoryStore::start_sweeper`]; the
/// thread stops when this is dropped or [`stop`](Sweeper::stop)ped, or once
/// every handle of its store is gone (it does not keep the store alive).
#[derive(Debug)]
#[must_use = "the sweeper stops when this handle is dropped"]
pub struct Sweeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Sweeper {
    pub(super) fn start(store: Weak<Inner>, interval: Duration) -> Self {
        let interval = interval.max(MIN_INTERVAL);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("session-sweeper".into())
            .spawn(move || {
                // A message or a closed channel both mean stop.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let Some(inner) = store.upgrade() else {
                        // Every store handle is gone: nothing left to sweep.
                        return;
                    };
                    let removed = MemoryStore { inner }.sweep_expired();
                    if removed > 0 {
                        tracing::debug!(removed, "swept expired sessions");
                    }
                }
            })
            .ok();
        if thread.is_none() {
            tracing::warn!(
                "could not start the session sweeper thread; expired sessions are still removed on access"
            );
        }
        Self {
            stop: Some(stop),
            thread,
        }
    }

    /// Whether the thread has ended (stopped, its store gone, or never started).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.shutdown();
    }
}
