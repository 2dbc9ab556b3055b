//! The background cleanup: a thread that deletes expired sessions through the
//! expiry index, in bounded batches, until it is stopped.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::panic_message;
use crate::store::Inner;

/// Cleanup interval of [`FileStore::open`](crate::FileStore::open).
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

/// Shortest interval a cleanup thread waits between sweeps.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// Longest wait between sweeps that panic one after another (or the
/// interval, when longer).
const MAX_PANIC_BACKOFF: Duration = Duration::from_secs(60);

/// Handle of a cleanup thread. The thread wakes every interval, deletes the
/// expired sessions (a batch per transaction, so writers wait briefly at most)
/// and sleeps again. [`stop`](Cleanup::stop) or dropping the handle stops it
/// and waits for it to finish its current batch.
///
/// A sweep that fails (a disk error, say) is logged at `warn` level and the
/// next one comes an interval later. A sweep that panics (the database
/// engine, or the store's clock, failing on some unexpected state) does not
/// stop the thread either: the panic (which the process's panic hook reports
/// first, as any panic) is caught and logged at `error` level with its
/// message, the batch it was deleting is never committed (no record is half
/// deleted; earlier batches stay deleted), and the next sweep comes an
/// interval later. While sweeps keep panicking, the wait doubles after each,
/// up to a minute (or the interval, when longer); a sweep that does not panic
/// brings back the interval. [`is_running`](Cleanup::is_running) stays `true`
/// throughout, and stopping is as prompt as ever.
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

    /// Whether the thread is still running: until it is stopped, whatever
    /// its sweeps met (one that panicked included).
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
    // Sweeps that panicked in a row, since the last one that did not.
    let mut panics: u32 = 0;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait(interval, panics)) {
        let stop_requested = || !matches!(stopped.try_recv(), Err(TryRecvError::Empty));
        // Nothing a panicking sweep touches is left in a state that matters.
        // Its write transaction, uncommitted, is dropped while the panic
        // unwinds: none of its writes are ever visible (commits are atomic),
        // and the engine keeps the database usable, only leaking the
        // transaction's pages until the next open rebuilds its allocator
        // state; a panic inside the engine that poisons one of its locks
        // sets the handle aside, so the next call opens the file again.
        // The store's own locks do not poison, and a reopen of the
        // file that panics leaves its closed state behind (see `database`).
        // The sweep's report is its own, and the stop channel is only read.
        let swept = panic::catch_unwind(AssertUnwindSafe(|| inner.sweep_all(stop_requested)));
        match swept {
            Ok(result) => {
                panics = 0;
                match result {
                    Ok(report) if report.removed > 0 => {
                        tracing::debug!(removed = report.removed, "removed expired sessions");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "session cleanup failed; retrying next interval");
                    }
                }
            }
            Err(payload) => {
                panics = panics.saturating_add(1);
                tracing::error!(
                    panic = %panic_message(&*payload),
                    in_a_row = panics,
                    retry_in = ?wait(interval, panics),
                    "session cleanup sweep panicked; the cleanup thread goes on"
                );
            }
        }
    }
}

/// The wait before the next sweep: the interval, doubled for each sweep
/// after the first of `panics` that panicked in a row, up to
/// [`MAX_PANIC_BACKOFF`] or the interval, whichever is longer. With the
/// default interval (a minute) a sweep that always panics is thus tried, and
/// logged, once a minute, as often as a sweep that works; with a short
/// interval the backoff keeps it from logging a panic every few milliseconds.
fn wait(interval: Duration, panics: u32) -> Duration {
    let doublings = panics.saturating_sub(1).min(31);
    interval
        .saturating_mul(1 << doublings)
        .min(interval.max(MAX_PANIC_BACKOFF))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_that_keep_panicking_wait_longer_up_to_a_minute_or_the_interval() {
        let ms = Duration::from_millis;
        assert_eq!(wait(ms(10), 0), ms(10));
        assert_eq!(
            wait(ms(10), 1),
            ms(10),
            "the first retry comes an interval later"
        );
        assert_eq!(wait(ms(10), 2), ms(20));
        assert_eq!(wait(ms(10), 3), ms(40));
        assert_eq!(wait(ms(10), 20), MAX_PANIC_BACKOFF);
        assert_eq!(wait(ms(10), u32::MAX), MAX_PANIC_BACKOFF);
        let hour = Duration::from_secs(3600);
        assert_eq!(wait(hour, 5), hour, "never shorter than the interval");
        assert_eq!(wait(Duration::MAX, 40), Duration::MAX);
    }
}
