//! Group commit: writes that arrive while another is committing wait for it,
//! then share one transaction and one disk flush.
//!
//! A durable commit costs a flush or two of the disk, and redb commits one
//! write transaction at a time, so one transaction per write caps the store
//! at a few hundred to a few thousand writes a second however many requests
//! wait. Here each write queues itself, from its async task, and awaits its
//! answer. The first write to find no leader starts one on tokio's blocking
//! pool, which runs the queued writes (up to [`MAX_BATCH_WRITES`]) in one
//! transaction, commits, answers each, and goes on while writes queued
//! behind its batch. So a waiting write holds no thread, and a batch costs
//! one hand-off to the pool, not one per write.
//!
//! A batch is a serial run of its writes: each sees the ones before it. A
//! write that fails answers its error and leaves nothing behind, as alone.
//! One refused before it wrote anything (too large, a collision) is just
//! left out; after any other failure the transaction is dropped, and the
//! rest of the batch runs again in a new one. A failed commit fails every
//! write in it. An answer is given only after the commit, so every write
//! is on disk before its call returns. A panic outside the writes (in the
//! engine) answers every write of its batch unavailable; the leader goes on
//! with the writes queued behind it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use parking_lot::Mutex;
use session_core::{StoreError, Timestamp};
use tokio::sync::oneshot;

use crate::error::panic_message;
use crate::store::{Inner, on_blocking_pool, runtime};
use crate::tables::WriteTables;

/// The most writes one transaction takes. More queued wait for the next
/// one: a flood of writes then makes more commits of bounded size (and
/// time, and memory for the engine's dirty pages), not one that grows with
/// the requests in flight. Past a few hundred writes, a larger batch saves
/// little: the flush it shares is already a small part of each write.
pub(crate) const MAX_BATCH_WRITES: usize = 512;

/// The writes waiting for the next commit, and whether a leader runs.
#[derive(Default)]
pub(crate) struct CommitGroup {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Box<dyn Job>>,
    /// A leader runs, and takes every job queued before it stops.
    leading: bool,
}

impl CommitGroup {
    /// Queues `job`; `true` when no leader runs, and the caller must start
    /// one (it counts as running from here).
    fn push(&self, job: Box<dyn Job>) -> bool {
        let mut queue = self.queue.lock();
        queue.jobs.push(job);
        !std::mem::replace(&mut queue.leading, true)
    }

    /// The writes queued for the leader's next batch, the earliest
    /// [`MAX_BATCH_WRITES`] of them; `None` when there are none, and then
    /// the leader has stopped: the next write starts one.
    fn next_batch(&self) -> Option<Vec<Box<dyn Job>>> {
        let mut queue = self.queue.lock();
        if queue.jobs.is_empty() {
            queue.leading = false;
            None
        } else if queue.jobs.len() <= MAX_BATCH_WRITES {
            Some(std::mem::take(&mut queue.jobs))
        } else {
            let later = queue.jobs.split_off(MAX_BATCH_WRITES);
            Some(std::mem::replace(&mut queue.jobs, later))
        }
    }
}

/// One queued write. It answers its caller when dropped: with the result
/// `settle` gave it, or else as abandoned (a batch cut short by a panic
/// outside the writes, or a leader the pool never ran).
trait Job: Send {
    /// Runs the write in the batch's transaction. An error means the
    /// transaction may hold part of it: the batch is dropped.
    fn run(&mut self, tables: &mut WriteTables<'_>, now: Timestamp) -> Result<(), StoreError>;

    /// Decides the answer: the write's own result once `commit` is `Ok`.
    fn settle(&mut self, commit: Result<(), StoreError>);
}

struct Pending<T, F> {
    write: F,
    value: Option<T>,
    answer: Option<oneshot::Sender<Result<T, StoreError>>>,
    settled: Option<Result<T, StoreError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnMut(&mut WriteTables<'_>, Timestamp) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, tables: &mut WriteTables<'_>, now: Timestamp) -> Result<(), StoreError> {
        self.value = None;
        self.value = Some((self.write)(tables, now)?);
        Ok(())
    }

    fn settle(&mut self, commit: Result<(), StoreError>) {
        self.settled = Some(commit.and_then(|()| {
            self.value
                .take()
                .ok_or_else(|| StoreError::unavailable("the session write was not run"))
        }));
    }
}

impl<T, F> Drop for Pending<T, F> {
    fn drop(&mut self) {
        let result = self.settled.take().unwrap_or_else(|| Err(abandoned()));
        if let Some(answer) = self.answer.take() {
            // A caller that stopped waiting (a timeout) is answered nothing.
            let _ = answer.send(result);
        }
    }
}

/// The leader of a run of batches, handed to the blocking pool: it commits
/// batches while writes are queued. Each batch's answers go out before the
/// next batch runs; the last ones once the leader has let go of the store,
/// so that a caller holding every answer may drop the store and open its
/// file again at once.
///
/// Dropped before it stopped (the pool never ran it, as a runtime shutting
/// down refuses new tasks, or it panicked outside a batch), it lets go of
/// the queue: the writes in it are answered unavailable, and the next write
/// starts a leader again.
struct Lead {
    inner: Arc<Inner>,
    stopped: bool,
}

impl Lead {
    fn new(inner: Arc<Inner>) -> Self {
        Self {
            inner,
            stopped: false,
        }
    }

    fn run(mut self) {
        let mut batch = self.inner.group.next_batch();
        while let Some(jobs) = batch {
            let mut done = Vec::with_capacity(jobs.len());
            self.inner.commit_guarded(jobs, &mut done);
            batch = self.inner.group.next_batch();
            if batch.is_none() {
                self.stopped = true;
                drop(self);
                drop(done);
                return;
            }
            drop(done);
        }
        self.stopped = true;
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let jobs = {
            let mut queue = self.inner.group.queue.lock();
            queue.leading = false;
            std::mem::take(&mut queue.jobs)
        };
        tracing::warn!(
            writes = jobs.len(),
            "a session store commit stopped before its writes (the blocking pool refused it, \
             or it panicked); they are answered unavailable"
        );
    }
}

impl Inner {
    /// Runs `write` in a write transaction shared with the writes queued
    /// beside it, and answers once that transaction is committed (or
    /// aborted, when none of them wrote anything). `write` gets the time
    /// read when its turn in the transaction came. It may run more than
    /// once, each time in a new transaction, when another write of its
    /// batch failed. It runs to its end even when this future is dropped.
    ///
    /// A store closed by an I/O error is opened again here, on the blocking
    /// pool before queueing, as by any other call: never by a leader, which
    /// would hold every write queued behind it for as long as opening the
    /// file takes (a check of the whole file, or a mount that does not
    /// answer) where they should fail fast. A batch that finds the store
    /// closed fails fast.
    pub(crate) async fn write_grouped<T, F>(self: &Arc<Self>, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut WriteTables<'_>, Timestamp) -> Result<T, StoreError> + Send + 'static,
    {
        if !self.db.is_open() {
            let inner = Arc::clone(self);
            on_blocking_pool(move || inner.db.ready()).await?;
        }
        let runtime = runtime()?;
        let (answer, answered) = oneshot::channel();
        let job = Box::new(Pending {
            write,
            value: None,
            answer: Some(answer),
            settled: None,
        });
        if self.group.push(job) {
            let leader = Lead::new(Arc::clone(self));
            drop(runtime.spawn_blocking(move || leader.run()));
        }
        answered.await.unwrap_or_else(|_| Err(abandoned()))
    }

    /// Runs `batch` as its leader, its settled writes put in `done`. A
    /// panic outside the writes (in the engine, say) answers every write of
    /// the batch that it cut short as abandoned, and stops the batch there;
    /// the leader goes on with the writes queued behind it.
    fn commit_guarded(&self, batch: Vec<Box<dyn Job>>, done: &mut Vec<Box<dyn Job>>) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.commit_batch(batch, done))) {
            tracing::error!(
                panic = panic_message(panic.as_ref()),
                "a shared session store commit panicked; its writes are answered unavailable"
            );
        }
    }

    /// Runs `batch` in one transaction and settles every write in it into
    /// `done` (whose writes answer when dropped). A write whose error closed
    /// the store (an I/O error) leaves the rest of the batch to fail fast,
    /// as calls do until the next one opens the file again. A write refused before it wrote anything does not stop the
    /// others: it is answered its refusal once they are committed.
    fn commit_batch(&self, mut batch: Vec<Box<dyn Job>>, done: &mut Vec<Box<dyn Job>>) {
        while !batch.is_empty() {
            let mut own: Vec<Option<StoreError>> = batch.iter().map(|_| None).collect();
            let mut failed = None;
            let result = self
                .db
                .run_open(|db| self.run_batch(db, &mut batch, &mut own, &mut failed));
            let mut rest = match (result, failed) {
                (Ok(()), _) => Rest::Committed,
                (Err(error), Some(index)) => {
                    own[index] = Some(error);
                    Rest::Again(index)
                }
                (Err(error), None) => Rest::Failed(error.to_string(), Some(error)),
            };
            let mut again = Vec::new();
            for (at, (mut job, own)) in batch.drain(..).zip(own).enumerate() {
                match (&mut rest, own) {
                    // A refusal counts once the state it was decided on is
                    // committed: before, it may have met a batch-mate's write.
                    (Rest::Committed, Some(refused)) => job.settle(Err(refused)),
                    (Rest::Committed, None) => job.settle(Ok(())),
                    // That write's error is its own; the others go again.
                    (Rest::Again(index), Some(error)) if *index == at => job.settle(Err(error)),
                    (Rest::Again(_), _) => {
                        again.push(job);
                        continue;
                    }
                    // Nothing was written: every write is answered the failure.
                    (Rest::Failed(message, first), _) => job.settle(Err(first
                        .take()
                        .unwrap_or_else(|| StoreError::unavailable(message.clone())))),
                }
                done.push(job);
            }
            batch = again;
        }
    }

    /// One attempt at the batch: runs every write, then commits when one
    /// wrote something. A write refused before it wrote anything (not for
    /// the store being unavailable, which may have left the transaction
    /// unusable) leaves the transaction as it was: its error goes to `own`,
    /// and the others carry on. On any other error of a write, its index
    /// goes to `failed` and the transaction is aborted.
    fn run_batch(
        &self,
        db: &redb::Database,
        batch: &mut [Box<dyn Job>],
        own: &mut [Option<StoreError>],
        failed: &mut Option<usize>,
    ) -> Result<(), StoreError> {
        Self::write_on(db, |tables| {
            for (index, job) in batch.iter_mut().enumerate() {
                let now = self.now();
                let writes = tables.writes;
                let ran = catch_unwind(AssertUnwindSafe(|| job.run(tables, now))).unwrap_or_else(
                    |panic| {
                        Err(StoreError::unavailable(format!(
                            "a session store write panicked: {}",
                            panic_message(panic.as_ref())
                        )))
                    },
                );
                match ran {
                    Ok(()) => {}
                    Err(error) if tables.writes == writes && !error.is_unavailable() => {
                        own[index] = Some(error);
                    }
                    Err(error) => {
                        *failed = Some(index);
                        return Err(error);
                    }
                }
            }
            Ok(())
        })
    }
}

fn abandoned() -> StoreError {
    StoreError::unavailable(
        "the session write was abandoned: its shared commit failed or never ran",
    )
}

/// What became of a batch's attempt, for the writes without an answer of
/// their own.
enum Rest {
    Committed,
    /// The write at this index failed after writing: the others run again
    /// without it.
    Again(usize),
    /// The transaction failed (its message, and the error for the first).
    Failed(String, Option<StoreError>),
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    use session_core::{SessionId, SessionRecord};

    use super::*;
    use crate::FileStore;

    const WRITERS: usize = 8;

    fn record(now: Timestamp) -> SessionRecord {
        SessionRecord::new(
            SessionId::generate(),
            now,
            now.plus(Duration::from_secs(60)),
        )
    }

    /// Puts `record` as a new record in the batch's transaction.
    fn put_new(t: &mut WriteTables<'_>, record: &SessionRecord) -> Result<(), StoreError> {
        let bytes = session_core::record::envelope::encode(record)?;
        t.put(None, record, &bytes)
    }

    /// The store still takes a new session (its queue and leader intact).
    fn goes_on(store: &FileStore) {
        let fresh = record(store.inner.now());
        runtime()
            .block_on(store.inner.create(fresh.clone()))
            .unwrap();
        assert_eq!(store.inner.load(&fresh.id).unwrap(), Some(fresh));
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Waits until `n` writes are queued.
    fn queued(inner: &Inner, n: usize) {
        while inner.group.queue.lock().jobs.len() < n {
            std::thread::yield_now();
        }
    }

    /// Holds the queue as a leader that is busy, so that writes queue
    /// behind it; [`Held::lead`] then runs them as a leader would.
    struct Held(Arc<Inner>);

    impl Held {
        fn new(inner: &Arc<Inner>) -> Self {
            assert!(!std::mem::replace(
                &mut inner.group.queue.lock().leading,
                true
            ));
            Self(Arc::clone(inner))
        }

        /// Leads on a thread of its own, as the blocking pool would.
        fn lead(self) -> std::thread::JoinHandle<()> {
            std::thread::spawn(move || Lead::new(self.0).run())
        }
    }

    /// How the writer picked to fail does it.
    #[derive(Clone, Copy)]
    enum Failure {
        /// Puts its record, then fails.
        AfterWriting(fn() -> StoreError),
        /// Fails before writing anything.
        Refused(fn() -> StoreError),
    }

    /// What one writer of [`one_batch`] was answered.
    struct Answered {
        id: SessionId,
        result: Result<(), StoreError>,
        /// How many times its write ran.
        runs: usize,
    }

    /// Queues `WRITERS` writes, each putting one new record, behind a busy
    /// leader, then lets them go as one batch. The writer `odd_one_out`
    /// fails as `failure` says.
    fn one_batch(inner: &Arc<Inner>, odd_one_out: usize, failure: Failure) -> Vec<Answered> {
        one_batch_then(inner, odd_one_out, failure, || {})
    }

    /// [`one_batch`], with `before_lead` run once every write is queued.
    fn one_batch_then(
        inner: &Arc<Inner>,
        odd_one_out: usize,
        failure: Failure,
        before_lead: impl FnOnce(),
    ) -> Vec<Answered> {
        let runtime = runtime();
        let held = Held::new(inner);
        let writers: Vec<_> = (0..WRITERS)
            .map(|n| {
                let inner = Arc::clone(inner);
                runtime.spawn(async move {
                    let record = record(inner.now());
                    let id = record.id;
                    let runs = Arc::new(AtomicUsize::new(0));
                    let counted = Arc::clone(&runs);
                    let result = inner
                        .write_grouped(move |t, _| {
                            counted.fetch_add(1, Ordering::SeqCst);
                            match failure {
                                Failure::Refused(fail) if n == odd_one_out => return Err(fail()),
                                _ => {}
                            }
                            put_new(t, &record)?;
                            match failure {
                                Failure::AfterWriting(fail) if n == odd_one_out => Err(fail()),
                                _ => Ok(()),
                            }
                        })
                        .await;
                    let runs = runs.load(Ordering::SeqCst);
                    Answered { id, result, runs }
                })
            })
            .collect();
        queued(inner, WRITERS);
        before_lead();
        held.lead().join().unwrap();
        writers
            .into_iter()
            .map(|w| runtime.block_on(w).unwrap())
            .collect()
    }

    fn store() -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::builder(dir.path().join("sessions.redb"))
            .without_cleanup()
            .open()
            .unwrap();
        (dir, store)
    }

    /// Checks that exactly one writer failed, with `expected`, and that
    /// every record stored is one whose write was confirmed.
    fn one_failed(store: &FileStore, answers: &[Answered], expected: impl Fn(&StoreError) -> bool) {
        let mut failed = 0;
        for answer in answers {
            let stored = store.inner.load(&answer.id).unwrap();
            match &answer.result {
                Ok(()) => assert!(stored.is_some(), "a confirmed write is stored"),
                Err(error) => {
                    failed += 1;
                    assert!(expected(error), "unexpected error {error}");
                    assert_eq!(stored, None, "the failed write's record was kept");
                }
            }
        }
        assert_eq!(failed, 1);
    }

    #[test]
    fn a_write_that_fails_in_a_batch_leaves_nothing_and_the_others_land() {
        let (_dir, store) = store();
        for odd_one_out in [0, WRITERS / 2, WRITERS - 1] {
            let failure = Failure::AfterWriting(|| StoreError::Collision);
            let answers = one_batch(&store.inner, odd_one_out, failure);
            one_failed(&store, &answers, |e| matches!(e, StoreError::Collision));
        }
    }

    #[test]
    fn a_write_refused_before_writing_leaves_the_others_to_commit_at_once() {
        let (_dir, store) = store();
        let failure = Failure::Refused(|| StoreError::TooLarge { size: 2, limit: 1 });
        let answers = one_batch(&store.inner, 2, failure);
        one_failed(&store, &answers, |e| {
            matches!(e, StoreError::TooLarge { .. })
        });
        // No write ran twice: the refusal did not drop the transaction.
        assert!(answers.iter().all(|a| a.runs == 1), "a write ran again");
    }

    #[test]
    fn a_write_that_panics_in_a_batch_fails_alone() {
        let (_dir, store) = store();
        let answers = one_batch(
            &store.inner,
            3,
            Failure::AfterWriting(|| panic!("a bug in a write")),
        );
        one_failed(&store, &answers, |e| {
            e.is_unavailable() && e.to_string().contains("a bug in a write")
        });
        goes_on(&store);
    }

    /// A refusal counts only once the state it was decided on is committed:
    /// when its batch-mates' commit fails, the refused write is answered
    /// that failure, as every other write of the batch is.
    #[test]
    fn a_refusal_whose_batch_fails_to_commit_is_answered_the_failure() {
        let (_dir, store) = store();
        let storage = crate::database::tests::FaultyMemory::default();
        let failing = Arc::clone(&storage.fail_flush);
        store.inner.db.replace_for_test(storage.database());
        let failure = Failure::Refused(|| StoreError::TooLarge { size: 2, limit: 1 });
        let answers = one_batch_then(&store.inner, 2, failure, || {
            failing.store(true, Ordering::SeqCst);
        });
        for answer in &answers {
            let error = answer.result.as_ref().expect_err("nothing was committed");
            assert!(error.is_unavailable(), "{error}");
            assert!(error.to_string().contains("flush"), "{error}");
        }
        assert!(answers.iter().all(|a| a.runs == 1), "a write ran again");
    }

    /// Writers that keep coming while batches commit: every one is
    /// answered (a write queued behind a batch is taken by the running
    /// leader or starts one, never left waiting), every confirmed record is
    /// there, and no leader is left running once all are answered.
    #[test]
    fn writers_arriving_during_commits_are_all_answered() {
        const TASKS: usize = 12;
        const EACH: usize = 40;
        let (_dir, store) = store();
        let runtime = runtime();
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let inner = Arc::clone(&store.inner);
                runtime.spawn(async move {
                    let mut ids = Vec::new();
                    for _ in 0..EACH {
                        let record = record(inner.now());
                        ids.push(record.id);
                        inner.write_grouped(move |t, _| put_new(t, &record)).await?;
                    }
                    Ok::<_, StoreError>(ids)
                })
            })
            .collect();
        runtime.block_on(async {
            for task in tasks {
                let ids = tokio::time::timeout(Duration::from_secs(60), task)
                    .await
                    .expect("a write was never answered")
                    .unwrap()
                    .unwrap();
                for id in ids {
                    assert!(store.inner.load(&id).unwrap().is_some());
                }
            }
        });
        // The last leader stopped before its last answer.
        assert!(!store.inner.group.queue.lock().leading);
    }

    /// A leader the blocking pool never runs (a runtime shutting down):
    /// the writes it was started for are answered unavailable, and the
    /// next write on a live runtime starts a leader again.
    #[test]
    fn writes_whose_leader_never_runs_are_answered_and_the_next_leads() {
        let (_dir, store) = store();
        let shut = runtime();
        let handle = shut.handle().clone();
        shut.shutdown_background();
        let refused = {
            let _entered = handle.enter();
            let write = std::pin::pin!(store.inner.write_grouped(|_, _| Ok(())));
            write.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        };
        let std::task::Poll::Ready(refused) = refused else {
            panic!("the write waits for a leader that will never run");
        };
        let error = refused.unwrap_err();
        assert!(error.is_unavailable(), "{error}");
        assert!(!store.inner.group.queue.lock().leading);
        goes_on(&store);
    }

    /// A write whose caller stopped waiting once it was queued (a timeout)
    /// still runs and lands.
    #[test]
    fn a_write_whose_caller_stopped_waiting_still_lands() {
        let (_dir, store) = store();
        let inner = &store.inner;
        let runtime = runtime();
        let _entered = runtime.enter();
        let held = Held::new(inner);
        let abandoned = record(inner.now());
        {
            let put = abandoned.clone();
            let write = std::pin::pin!(inner.write_grouped(move |t, _| put_new(t, &put)));
            let first = write.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
            assert!(first.is_pending(), "queued behind the busy leader");
        }
        queued(inner, 1);
        held.lead().join().unwrap();
        assert_eq!(inner.load(&abandoned.id).unwrap(), Some(abandoned));
    }

    /// A flood of writes is committed in batches of at most
    /// [`MAX_BATCH_WRITES`], earliest first; those beyond wait for the next
    /// batch, and all land.
    #[test]
    fn a_batch_takes_at_most_its_bound_of_writes_earliest_first() {
        const BEYOND: usize = 10;
        let (_dir, store) = store();
        let inner = &store.inner;
        let runtime = runtime();
        let held = Held::new(inner);
        // Each write notes its turn; the first holds its batch running
        // until told.
        let order = Arc::new(Mutex::new(Vec::new()));
        let (running, started) = std::sync::mpsc::channel();
        let (go, until) = std::sync::mpsc::channel::<()>();
        let until = Mutex::new(until);
        let noted = Arc::clone(&order);
        let mut writes = vec![spawn_write(&runtime, inner, move || {
            noted.lock().push(0);
            let _ = running.send(());
            let _ = until.lock().recv();
        })];
        queued(inner, 1);
        for n in 1..MAX_BATCH_WRITES + BEYOND {
            let noted = Arc::clone(&order);
            writes.push(spawn_write(&runtime, inner, move || noted.lock().push(n)));
            // One at a time, so that the queue's order is the writes'.
            queued(inner, n + 1);
        }
        let leader = held.lead();
        started
            .recv_timeout(Duration::from_secs(10))
            .expect("the batch started");
        assert_eq!(
            inner.group.queue.lock().jobs.len(),
            BEYOND,
            "the batch took more than its bound"
        );
        go.send(()).unwrap();
        leader.join().unwrap();
        runtime.block_on(async {
            for (id, write) in writes {
                write.await.unwrap().unwrap();
                assert!(inner.load(&id).unwrap().is_some());
            }
        });
        // Once each, in the order queued: the writes left for later were
        // the latest.
        let expected: Vec<usize> = (0..MAX_BATCH_WRITES + BEYOND).collect();
        assert_eq!(*order.lock(), expected);
        assert!(!inner.group.queue.lock().leading);
    }

    /// A clock that panics once when armed, then reads the system clock
    /// again.
    #[derive(Debug, Default)]
    struct PanicsOnce(AtomicBool);

    impl session_core::clock::Clock for PanicsOnce {
        fn now(&self) -> Timestamp {
            if self.0.swap(false, Ordering::SeqCst) {
                panic!("the clock failed");
            }
            session_core::clock::Clock::now(&session_core::clock::SystemClock)
        }
    }

    /// A write of one new record on `runtime`; `first` runs inside the
    /// write, before it puts its record.
    fn spawn_write(
        runtime: &tokio::runtime::Runtime,
        inner: &Arc<Inner>,
        first: impl Fn() + Send + 'static,
    ) -> (SessionId, tokio::task::JoinHandle<Result<(), StoreError>>) {
        let record = record(inner.now());
        let id = record.id;
        let inner = Arc::clone(inner);
        let write = runtime.spawn(async move {
            inner
                .write_grouped(move |t, _| {
                    first();
                    put_new(t, &record)
                })
                .await
        });
        (id, write)
    }

    /// A panic outside the writes (the engine's, or here the clock's)
    /// while a leader commits: the writes of its batch are answered, and
    /// a write that queued behind the batch is committed by the same
    /// leader instead of waiting until another write comes.
    #[test]
    fn a_leader_that_panics_answers_its_batch_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(PanicsOnce::default());
        let store = FileStore::builder(dir.path().join("sessions.redb"))
            .without_cleanup()
            .clock(Arc::clone(&clock) as session_core::clock::SharedClock)
            .open()
            .unwrap();
        let inner = &store.inner;
        let runtime = runtime();

        // Two writes queue as one batch; the first holds it running.
        let held = Held::new(inner);
        let (running, started) = std::sync::mpsc::channel();
        let (go, until) = std::sync::mpsc::channel::<()>();
        let until = Mutex::new(until);
        let (_, first) = spawn_write(&runtime, inner, move || {
            let _ = running.send(());
            let _ = until.lock().recv();
        });
        queued(inner, 1);
        let (_, second) = spawn_write(&runtime, inner, || {});
        queued(inner, 2);
        let leader = held.lead();
        started
            .recv_timeout(Duration::from_secs(10))
            .expect("the batch started");

        // A third queues behind the batch and waits.
        let (behind_id, behind) = spawn_write(&runtime, inner, || {});
        queued(inner, 1);

        // The clock panics as the leader reads it for the second write.
        clock.0.store(true, Ordering::SeqCst);
        go.send(()).unwrap();
        leader.join().expect("the leader caught the panic");

        runtime.block_on(async {
            let behind = tokio::time::timeout(Duration::from_secs(10), behind)
                .await
                .expect("the write queued behind the batch was never answered")
                .unwrap();
            behind.unwrap();
            for answer in [first, second] {
                let error = answer.await.unwrap().unwrap_err();
                assert!(error.is_unavailable(), "{error}");
            }
        });
        assert!(inner.load(&behind_id).unwrap().is_some());
    }
}
