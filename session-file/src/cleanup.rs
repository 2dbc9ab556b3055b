//! The background cleanup: a thread that deletes expired sessions through the
//! expiry index, in bounded batches, until it is stopped.

use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::store::Inner;

/// Cleanup interval of [`FileStore::open`](crate::FileStore::open).
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

/// Shortest interval a cleanup thread waits between sweeps.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// Handle of a cleanup thread. The thread wakes every interval, deletes the
/// expired sessions (a batch per transaction, so writers wait briefly at most)
/// and sleeps again. [`stop`](Cleanup::stop) or dropping the handle stops it
/// and waits for it to finish its current batch.
///
/// The thread keeps the database open until it is stopped, so the file
/// closes at a known point: when the last store handle and every cleanup
/// handle are gone.
#[derive(Debug)]
#[must_use = "the cleanup thread stops when this handle is dropped"]
pub struct Cleanup {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Cleanup {
    pub(crate) fn start(store: Arc<Inner>, interval: Duration) -> io::Result<Self> {
        let interval = interval.max(MIN_INTERVAL);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("session-file-cleanup".into())
            .spawn(move || run(&store, interval, &stopped))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Whether the thread is still running.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    fn shutdown(&mut self) {
        // A message or a closed channel both mean stop.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the session cleanup thread panicked");
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(inner: &Inner, interval: Duration, stopped: &mpsc::Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
        let stop_requested = || !matches!(stopped.try_recv(), Err(TryRecvError::Empty));
        match inner.sweep_all(stop_requested) {
            Ok(report) if report.removed > 0 => {
                tracing::debug!(removed = report.removed, "removed expired sessions");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "session cleanup failed; retrying next interval"),
        }
    }
}
