//! Group commit: writes that arrive while another is committing wait for it,
//! then share one transaction and one disk flush.
//!
//! A durable commit costs a flush or two of the disk, and redb commits one
//! write transaction at a time, so one transaction per write caps the store
//! at a few hundred to a few thousand writes a second however many requests
//! wait. Here each write queues itself and tries the leader's lock; whoever
//! holds it runs every queued write in one transaction, commits, and hands
//! each its answer. The others sleep until answered, or until a leader that
//! found writes queued behind its batch asks one of them to lead the next.
//!
//! A batch is a serial run of its writes: each sees the ones before it. A
//! write that fails answers its error and leaves nothing behind, as alone.
//! One refused before it wrote anything (too large, a collision) is just
//! left out; after any other failure the transaction is dropped, and the
//! rest of the batch runs again in a new one. A failed commit fails every
//! write in it. An answer is given only after the commit, so every write
//! is on disk before its call returns. A panic outside the writes (in the
//! engine) answers every write of its batch unavailable; the leader still
//! hands on to the writes queued behind it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use session_core::{StoreError, Timestamp};

use crate::error::panic_message;
use crate::store::Inner;
use crate::tables::WriteTables;

/// The writes waiting for the next commit, and the lock its leader holds.
#[derive(Default)]
pub(crate) struct CommitGroup {
    queue: Mutex<Vec<Box<dyn Job>>>,
    leader: Mutex<()>,
}

impl CommitGroup {
    /// After a leader released its lock: asks the first write queued
    /// meanwhile, if any, to lead the next batch.
    fn hand_on(&self) {
        if let Some(next) = self.queue.lock().first() {
            next.hand_on();
        }
    }
}

/// One queued write, its answer kept until the commit decides it.
trait Job: Send {
    /// Runs the write in the batch's transaction. An error means the
    /// transaction may hold part of it: the batch is dropped.
    fn run(&mut self, tables: &mut WriteTables<'_>, now: Timestamp) -> Result<(), StoreError>;

    /// Answers the caller: the write's own result once `commit` is `Ok`.
    fn settle(self: Box<Self>, commit: Result<(), StoreError>);

    /// Wakes the caller to lead the next batch: a leader that found writes
    /// queued behind its batch hands on.
    fn hand_on(&self);
}

/// Where a queued write's answer waits for its caller, who sleeps on it
/// until it is answered or asked to lead.
struct Answer<T> {
    state: Mutex<Waiting<T>>,
    wake: Condvar,
}

struct Waiting<T> {
    result: Option<Result<T, StoreError>>,
    lead: bool,
}

impl<T> Answer<T> {
    fn new() -> Self {
        Self {
            state: Mutex::new(Waiting {
                result: None,
                lead: false,
            }),
            wake: Condvar::new(),
        }
    }

    fn answer(&self, result: Result<T, StoreError>) {
        let mut state = self.state.lock();
        if state.result.is_none() {
            state.result = Some(result);
        }
        self.wake.notify_one();
    }

    /// Sleeps until answered (`Some`) or asked to lead (`None`).
    fn wait(&self) -> Option<Result<T, StoreError>> {
        let mut state = self.state.lock();
        loop {
            if let Some(result) = state.result.take() {
                return Some(result);
            }
            if std::mem::take(&mut state.lead) {
                return None;
            }
            self.wake.wait(&mut state);
        }
    }
}

struct Pending<T, F> {
    write: F,
    value: Option<T>,
    answer: Arc<Answer<T>>,
    settled: bool,
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

    fn settle(mut self: Box<Self>, commit: Result<(), StoreError>) {
        let result = commit.and_then(|()| {
            self.value
                .take()
                .ok_or_else(|| StoreError::unavailable("the session write was not run"))
        });
        self.answer.answer(result);
        self.settled = true;
    }

    fn hand_on(&self) {
        self.answer.state.lock().lead = true;
        self.answer.wake.notify_one();
    }
}

impl<T, F> Drop for Pending<T, F> {
    // A batch cut short by a panic outside the writes (in the engine, say)
    // still answers every caller.
    fn drop(&mut self) {
        if !self.settled {
            self.answer.answer(Err(StoreError::unavailable(
                "the session write was abandoned by a failed commit",
            )));
        }
    }
}

impl Inner {
    /// Runs `write` in a write transaction shared with the writes queued
    /// beside it, and answers once that transaction is committed (or
    /// aborted, when none of them wrote anything). `write` gets the time
    /// read when its turn in the transaction came. It may run more than
    /// once, each time in a new transaction, when another write of its
    /// batch failed.
    ///
    /// A store closed by an I/O error is opened again here, before queueing,
    /// as by any other call: never by a leader, which would hold every write
    /// queued behind it for as long as opening the file takes (a check of
    /// the whole file, or a mount that does not answer) where they should
    /// fail fast. A batch that finds the store closed fails fast.
    pub(crate) fn write_grouped<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut WriteTables<'_>, Timestamp) -> Result<T, StoreError> + Send + 'static,
    {
        self.db.ready()?;
        let answer = Arc::new(Answer::new());
        self.group.queue.lock().push(Box::new(Pending {
            write,
            value: None,
            answer: Arc::clone(&answer),
            settled: false,
        }));
        // Queued first, then the leader's lock tried: a leader releases it
        // first, then looks for writes queued meanwhile, so that every
        // write either leads or is seen and handed on to.
        loop {
            if let Some(leading) = self.group.leader.try_lock() {
                let batch = std::mem::take(&mut *self.group.queue.lock());
                if !batch.is_empty() {
                    self.lead(batch);
                }
                drop(leading);
                self.group.hand_on();
            }
            if let Some(result) = answer.wait() {
                return result;
            }
        }
    }

    /// Commits `batch` as its leader. A panic outside the writes (in the
    /// engine, say) answers every write of the batch that it cut short
    /// (see `Pending`'s `Drop`) and stops here: the leader still hands on
    /// to the writes queued behind the batch, and its caller gets its own
    /// write's answer, which an earlier leader may have committed, rather
    /// than a panic over its batch-mates' writes.
    fn lead(&self, batch: Vec<Box<dyn Job>>) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.commit_batch(batch))) {
            tracing::error!(
                panic = panic_message(panic.as_ref()),
                "a shared session store commit panicked; its writes are answered unavailable"
            );
        }
    }

    /// Runs `batch` in one transaction and settles every write in it. A
    /// write whose error closed the store (an I/O error) leaves the rest of
    /// the batch to fail fast, as calls do until the next one opens the file
    /// again. A write refused before it wrote anything does not stop the
    /// others: it is answered its refusal once they are committed.
    fn commit_batch(&self, mut batch: Vec<Box<dyn Job>>) {
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
            for (at, (job, own)) in batch.drain(..).zip(own).enumerate() {
                match (&mut rest, own) {
                    // A refusal counts once the state it was decided on is
                    // committed: before, it may have met a batch-mate's write.
                    (Rest::Committed, Some(refused)) => job.settle(Err(refused)),
                    (Rest::Committed, None) => job.settle(Ok(())),
                    // That write's error is its own; the others go again.
                    (Rest::Again(index), Some(error)) if *index == at => job.settle(Err(error)),
                    (Rest::Again(_), _) => again.push(job),
                    // Nothing was written: every write is answered the failure.
                    (Rest::Failed(message, first), _) => job.settle(Err(first
                        .take()
                        .unwrap_or_else(|| StoreError::unavailable(message.clone())))),
                }
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
    use std::sync::Barrier;
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

    /// Starts `WRITERS` threads, each putting one new record with
    /// `write_grouped`, while the leader's lock is held, so that they all
    /// queue; then lets them go as one batch. The writer `odd_one_out`
    /// fails as `failure` says.
    fn one_batch(inner: &Inner, odd_one_out: usize, failure: Failure) -> Vec<Answered> {
        let start = Barrier::new(WRITERS + 1);
        std::thread::scope(|scope| {
            let leading = inner.group.leader.lock();
            let writers: Vec<_> = (0..WRITERS)
                .map(|n| {
                    let start = &start;
                    scope.spawn(move || {
                        let record = record(inner.now());
                        let id = record.id;
                        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                        let counted = Arc::clone(&runs);
                        start.wait();
                        let result = inner.write_grouped(move |t, _| {
                            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            match failure {
                                Failure::Refused(fail) if n == odd_one_out => return Err(fail()),
                                _ => {}
                            }
                            let bytes = session_core::record::envelope::encode(&record)?;
                            t.put(None, &record, &bytes)?;
                            match failure {
                                Failure::AfterWriting(fail) if n == odd_one_out => Err(fail()),
                                _ => Ok(()),
                            }
                        });
                        let runs = runs.load(std::sync::atomic::Ordering::SeqCst);
                        Answered { id, result, runs }
                    })
                })
                .collect();
            start.wait();
            while inner.group.queue.lock().len() < WRITERS {
                std::thread::yield_now();
            }
            drop(leading);
            inner.group.hand_on();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        })
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
        // The store goes on.
        let fresh = record(store.inner.now());
        store.inner.create(fresh.clone()).unwrap();
        assert_eq!(store.inner.load(&fresh.id).unwrap(), Some(fresh));
    }

    /// Writers that keep coming while batches commit: every one is
    /// answered (a write queued behind a batch is handed the lead, never
    /// left asleep), and every confirmed record is there.
    #[test]
    fn writers_arriving_during_commits_are_all_answered() {
        const THREADS: usize = 12;
        const EACH: usize = 40;
        let (_dir, store) = store();
        let (done, answers) = std::sync::mpsc::channel();
        for _ in 0..THREADS {
            let (inner, done) = (Arc::clone(&store.inner), done.clone());
            std::thread::spawn(move || {
                for _ in 0..EACH {
                    let record = record(inner.now());
                    let id = record.id;
                    let result = inner.write_grouped(move |t, _| {
                        let bytes = session_core::record::envelope::encode(&record)?;
                        t.put(None, &record, &bytes)
                    });
                    if done.send((id, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done);
        for _ in 0..THREADS * EACH {
            let (id, result) = answers
                .recv_timeout(Duration::from_secs(60))
                .expect("a write was never answered");
            result.unwrap();
            assert!(store.inner.load(&id).unwrap().is_some());
        }
    }

    /// A clock that panics once when armed, then reads the system clock
    /// again.
    #[derive(Debug, Default)]
    struct PanicsOnce(std::sync::atomic::AtomicBool);

    impl session_core::clock::Clock for PanicsOnce {
        fn now(&self) -> Timestamp {
            if self.0.swap(false, std::sync::atomic::Ordering::SeqCst) {
                panic!("the clock failed");
            }
            session_core::clock::Clock::now(&session_core::clock::SystemClock)
        }
    }

    /// A write of one new record on its own thread, its answer sent on
    /// `done`; `first` runs inside the write, before it puts its record.
    fn spawn_write(
        inner: &Arc<Inner>,
        first: impl Fn() + Send + 'static,
    ) -> (SessionId, std::sync::mpsc::Receiver<Result<(), StoreError>>) {
        let record = record(inner.now());
        let id = record.id;
        let (done, answer) = std::sync::mpsc::channel();
        let inner = Arc::clone(inner);
        std::thread::spawn(move || {
            let result = inner.write_grouped(move |t, _| {
                first();
                let bytes = session_core::record::envelope::encode(&record)?;
                t.put(None, &record, &bytes)
            });
            let _ = done.send(result);
        });
        (id, answer)
    }

    /// A panic outside the writes (the engine's, or here the clock's)
    /// while a leader commits: the writes of its batch are answered, its
    /// own caller too, and a write that queued behind the batch is handed
    /// the lead instead of sleeping until another write comes.
    #[test]
    fn a_leader_that_panics_answers_its_batch_and_hands_on() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(PanicsOnce::default());
        let store = FileStore::builder(dir.path().join("sessions.redb"))
            .without_cleanup()
            .clock(Arc::clone(&clock) as session_core::clock::SharedClock)
            .open()
            .unwrap();
        let inner = &store.inner;
        let queued = |n: usize| {
            while inner.group.queue.lock().len() < n {
                std::thread::yield_now();
            }
        };

        // Two writes queue as one batch; the first holds it running.
        let leading = inner.group.leader.lock();
        let (running, started) = std::sync::mpsc::channel();
        let (go, until) = std::sync::mpsc::channel::<()>();
        let until = Mutex::new(until);
        let (_, first) = spawn_write(inner, move || {
            let _ = running.send(());
            let _ = until.lock().recv();
        });
        queued(1);
        let (_, second) = spawn_write(inner, || {});
        queued(2);
        drop(leading);
        inner.group.hand_on();
        started
            .recv_timeout(Duration::from_secs(10))
            .expect("the batch started");

        // A third queues behind the batch and sleeps.
        let (behind_id, behind) = spawn_write(inner, || {});
        queued(1);
        std::thread::sleep(Duration::from_millis(200));

        // The clock panics as the leader reads it for the second write.
        clock.0.store(true, std::sync::atomic::Ordering::SeqCst);
        go.send(()).unwrap();

        let behind = behind
            .recv_timeout(Duration::from_secs(10))
            .expect("the write queued behind the batch was never answered");
        behind.unwrap();
        assert!(inner.load(&behind_id).unwrap().is_some());
        for answer in [first, second] {
            let error = answer
                .recv_timeout(Duration::from_secs(10))
                .expect("a write of the batch was not answered")
                .unwrap_err();
            assert!(error.is_unavailable(), "{error}");
        }
    }
}
