//! The demo's users, with argon2id password hashes (never plain passwords),
//! and the bound on how many of those hashes run at once.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::{self, Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

/// A demo account.
#[derive(Debug, Clone, Copy)]
pub struct User {
    /// Login name and user id.
    pub name: &'static str,
    /// Group shown by `/me` (hexancore's session group).
    pub group: &'static str,
    /// Permissions granted at login.
    pub permissions: &'static [&'static str],
    hash: &'static str,
}

/// The accounts listed in the README.
pub const USERS: &[User] = &[
    User {
        name: "roger",
        group: "staff",
        permissions: &["admin"],
        hash: "$argon2id$v=19$m=19456,t=2,p=1$qjlIgXEmfA6siUuppnGqWw$pUvr1CLQkRt056JsEjNZoqKg90CG0f34kx4D1pbtB5E",
    },
    User {
        name: "ada",
        group: "engineering",
        permissions: &[],
        hash: "$argon2id$v=19$m=19456,t=2,p=1$sNlFu/clkBe/lRBBqamK8Q$uncfYjRkHtxTfPgppqQtmaSof3atLU5OXWF6cSb1Y8g",
    },
    User {
        name: "grace",
        group: "engineering",
        permissions: &[],
        hash: "$argon2id$v=19$m=19456,t=2,p=1$3bQBa+1PyYN0dv9MiF3FhA$a3cEyyf+ZYEa/xLMzULwnDRpBSM5CL6jxZ0o5FoJF1s",
    },
];

/// Checks a username and password; runs the hash even for unknown names so
/// timing does not tell which names exist. CPU-heavy: call off the runtime.
pub fn authenticate(name: &str, password: &str) -> Option<User> {
    HashMemory::default().authenticate(name, password)
}

/// Memory for argon2 hashes (about 19 MiB for the demo's), kept from one
/// hash to the next. argon2's own `verify_password` allocates it afresh
/// each time, and glibc's allocator keeps such large aligned blocks
/// instead of returning them, per thread arena: hundreds of MiB for a few
/// blocking threads, however few hashes run at once.
#[derive(Default)]
pub struct HashMemory(Vec<Block>);

impl HashMemory {
    /// [`authenticate`] in this memory.
    pub fn authenticate(&mut self, name: &str, password: &str) -> Option<User> {
        let user = USERS.iter().find(|u| u.name == name);
        let hash = user.map_or(USERS[0].hash, |u| u.hash);
        let ok = PasswordHash::new(hash)
            .and_then(|hash| self.verify(&hash, password.as_bytes()))
            .unwrap_or_else(|error| {
                tracing::error!(%error, "a stored password hash cannot be checked");
                false
            });
        user.filter(|_| ok).copied()
    }

    /// Whether `password` matches `hash`, worked out as argon2's
    /// `PasswordVerifier::verify_password` does, but in this memory.
    fn verify(&mut self, hash: &PasswordHash<'_>, password: &[u8]) -> password_hash::Result<bool> {
        let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
            return Err(password_hash::Error::PhcStringField);
        };
        let algorithm = Algorithm::try_from(hash.algorithm)?;
        let version = hash
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let params = Params::try_from(hash)?;
        let mut salt_bytes = [0; 64];
        let salt = salt.decode_b64(&mut salt_bytes)?;
        if self.0.len() < params.block_count() {
            self.0.resize(params.block_count(), Block::default());
        }
        let argon2 = Argon2::new(algorithm, version, params);
        // The first pass writes every block before reading it: what an
        // earlier hash left in the memory plays no part.
        let computed = Output::init_with(expected.len(), |out| {
            Ok(argon2.hash_password_into_with_memory(password, salt, out, &mut self.0[..])?)
        })?;
        // `Output` compares in constant time.
        Ok(computed == expected)
    }
}

/// How a check verifies a name and password: [`HashMemory::authenticate`],
/// but for tests that need to see the checks run.
type Verify = Arc<dyn Fn(&mut HashMemory, &str, &str) -> Option<User> + Send + Sync>;

/// [`authenticate`] on the blocking pool, at most [`bound`](Self::bound)
/// checks at a time. Each hash takes about 19 MiB and a thread: left to
/// tokio's blocking pool (up to 512 threads) a flood of logins would take
/// gigabytes, which the allocator does not give back. Checks past the bound
/// wait for a permit as tasks, holding no thread and no hash memory. The
/// checks keep their hash memory for the next ones ([`HashMemory`]): once
/// `bound` checks have run at once, they hold `bound` times 19 MiB, and
/// never more. Clones share the bound and the memory.
#[derive(Clone)]
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
    bound: usize,
    /// Memory that no check is using: at most `bound` of it, as each
    /// check takes one (or makes one) and puts it back.
    memory: Arc<Mutex<Vec<HashMemory>>>,
    verify: Verify,
}

impl PasswordChecks {
    /// At most `bound` checks at a time (at least one).
    pub fn new(bound: usize) -> Self {
        Self::with_verify(bound, Arc::new(HashMemory::authenticate))
    }

    /// One check at a time per CPU this process may use: more would only
    /// take turns on the CPUs while holding their memory.
    pub fn per_cpu() -> Self {
        let cpus = std::thread::available_parallelism().map_or_else(
            |error| {
                tracing::warn!(%error, "CPU count unknown: one password check at a time");
                1
            },
            NonZeroUsize::get,
        );
        Self::new(cpus)
    }

    fn with_verify(bound: usize, verify: Verify) -> Self {
        let bound = bound.max(1);
        Self {
            permits: Arc::new(Semaphore::new(bound)),
            bound,
            memory: Arc::default(),
            verify,
        }
    }

    /// The most checks that run at once.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Checks a username and password as [`authenticate`] does, once a
    /// permit is free.
    pub async fn check(&self, name: String, password: String) -> Option<User> {
        let admitted = self
            .check_admitted(name, password, || Ok::<(), std::convert::Infallible>(()))
            .await;
        admitted.unwrap_or_else(|never| match never {})
    }

    /// [`check`](Self::check), once `admit` lets the check go on: called
    /// when the check has its slot, just before the hash, so what it counts
    /// (a throttle's attempts) counts only checks that get as far as a
    /// hash, not requests dropped while they waited. Its error is returned
    /// with no hash run.
    pub async fn check_admitted<E>(
        &self,
        name: String,
        password: String,
        admit: impl FnOnce() -> Result<(), E>,
    ) -> Result<Option<User>, E> {
        // Taken before the blocking task is spawned, so a waiting check
        // holds no thread; an owned permit, moved into the task, so a
        // request dropped mid-hash (its client gone) still holds it until
        // the hash ends.
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                tracing::debug!(bound = self.bound, "password check waits for a free slot");
                match self.permits.clone().acquire_owned().await {
                    Ok(permit) => permit,
                    // Never closed.
                    Err(_) => return Ok(None),
                }
            }
        };
        admit()?;
        let verify = self.verify.clone();
        let pool = self.memory.clone();
        let checked = tokio::task::spawn_blocking(move || {
            // A panic elsewhere leaves the pool as usable as before.
            let taken = pool.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut memory = taken.unwrap_or_default();
            let user = verify(&mut memory, &name, &password);
            pool.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            drop(permit);
            user
        })
        .await;
        Ok(checked.ok().flatten())
    }
}

impl fmt::Debug for PasswordChecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordChecks")
            .field("bound", &self.bound)
            .field("idle", &self.permits.available_permits())
            .field(
                "memory",
                &self
                    .memory
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier as _;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn passwords_verify_against_their_hashes_only() {
        assert_eq!(
            authenticate("roger", "roger-secret").map(|u| u.name),
            Some("roger")
        );
        assert_eq!(
            authenticate("ada", "ada-secret").map(|u| u.name),
            Some("ada")
        );
        assert!(authenticate("ada", "roger-secret").is_none());
        assert!(authenticate("nobody", "roger-secret").is_none());
        assert!(authenticate("roger", "").is_none());
    }

    /// One memory reused across hashes, of several users, right and wrong:
    /// the same answers as argon2's own `verify_password`.
    #[test]
    fn reused_hash_memory_answers_as_argon2s_own_verification() {
        let mut memory = HashMemory::default();
        for password in ["roger-secret", "ada-secret", "wrong", "grace-secret", ""] {
            for user in USERS {
                let parsed = PasswordHash::new(user.hash).unwrap();
                let expected = Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok();
                assert_eq!(
                    memory.authenticate(user.name, password).is_some(),
                    expected,
                    "{} {password}",
                    user.name
                );
                assert_eq!(memory.0.len(), 19456, "allocated once");
            }
        }
    }

    #[tokio::test]
    async fn checks_verify_passwords_as_authenticate_does() {
        let checks = PasswordChecks::new(1);
        let ok = checks.check("ada".into(), "ada-secret".into()).await;
        assert_eq!(ok.map(|u| u.name), Some("ada"));
        assert!(checks.check("ada".into(), "nope".into()).await.is_none());
        assert_eq!(PasswordChecks::new(0).bound(), 1, "at least one");
    }

    /// A verifier that counts the checks running, tells the test when one
    /// starts and holds it until the test lets it go.
    struct Gate {
        running: AtomicUsize,
        most: AtomicUsize,
        started: tokio::sync::mpsc::UnboundedSender<()>,
        release: Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl Gate {
        fn verify(&self) -> Option<User> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            let _ = self.started.send(());
            let _ = self.release.lock().unwrap().recv();
            self.running.fetch_sub(1, Ordering::SeqCst);
            None
        }
    }

    fn gated(
        bound: usize,
    ) -> (
        PasswordChecks,
        Arc<Gate>,
        tokio::sync::mpsc::UnboundedReceiver<()>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (started, started_rx) = tokio::sync::mpsc::unbounded_channel();
        let (release_tx, release) = std::sync::mpsc::channel();
        let gate = Arc::new(Gate {
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            started,
            release: Mutex::new(release),
        });
        let held = gate.clone();
        let checks = PasswordChecks::with_verify(bound, Arc::new(move |_, _, _| held.verify()));
        (checks, gate, started_rx, release_tx)
    }

    /// A check is admitted once it has its slot: one dropped while it
    /// waited was never admitted (a throttle counts nothing for it), and a
    /// refusal runs no hash.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_check_is_admitted_only_once_it_has_its_slot() {
        let (checks, gate, mut started, release) = gated(1);
        let admitted = Arc::new(AtomicUsize::new(0));
        let admit = |admitted: Arc<AtomicUsize>| {
            move || {
                admitted.fetch_add(1, Ordering::SeqCst);
                Ok::<(), ()>(())
            }
        };
        let holder = {
            let (checks, admit) = (checks.clone(), admit(admitted.clone()));
            tokio::spawn(async move { checks.check_admitted("a".into(), "pw".into(), admit).await })
        };
        started.recv().await.unwrap();
        assert_eq!(admitted.load(Ordering::SeqCst), 1);
        let waiting = {
            let (checks, admit) = (checks.clone(), admit(admitted.clone()));
            tokio::spawn(async move { checks.check_admitted("b".into(), "pw".into(), admit).await })
        };
        // Time for it to reach the wait for a slot (were it admitted
        // before the wait, it would have been by then).
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        release.send(()).unwrap();
        assert!(matches!(holder.await.unwrap(), Ok(None)));
        assert_eq!(
            admitted.load(Ordering::SeqCst),
            1,
            "the dropped check was not admitted"
        );
        let refused = checks
            .check_admitted("c".into(), "pw".into(), || Err("throttled"))
            .await;
        assert!(matches!(refused, Err("throttled")));
        assert_eq!(
            gate.most.load(Ordering::SeqCst),
            1,
            "no hash for the refused check"
        );
        assert_eq!(checks.permits.available_permits(), 1, "its slot back");
    }

    /// Many checks started at once: the first `bound` run together, and each
    /// further one starts only when a running one is let go.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_checks_run_at_once_than_the_bound() {
        const BOUND: usize = 3;
        const CHECKS: usize = 12;
        let (checks, gate, mut started, release) = gated(BOUND);
        let tasks: Vec<_> = (0..CHECKS)
            .map(|n| {
                let checks = checks.clone();
                tokio::spawn(async move { checks.check(format!("user{n}"), "pw".into()).await })
            })
            .collect();
        for _ in 0..BOUND {
            started.recv().await.unwrap();
        }
        assert_eq!(
            gate.running.load(Ordering::SeqCst),
            BOUND,
            "the bound is reached"
        );
        assert_eq!(checks.permits.available_permits(), 0);
        for n in 0..CHECKS {
            release.send(()).unwrap();
            if n + BOUND < CHECKS {
                // The one let go makes room for exactly one more.
                started.recv().await.unwrap();
            }
        }
        for task in tasks {
            assert!(task.await.unwrap().is_none());
        }
        assert_eq!(
            gate.most.load(Ordering::SeqCst),
            BOUND,
            "never past the bound"
        );
        assert_eq!(
            checks.permits.available_permits(),
            BOUND,
            "every permit back"
        );
        assert_eq!(
            checks.memory.lock().unwrap().len(),
            BOUND,
            "memory kept, per check at once"
        );
    }

    /// A check whose request goes away mid-hash keeps its permit until the
    /// hash ends: the hash still holds its thread and memory.
    #[tokio::test]
    async fn a_dropped_check_holds_its_permit_until_its_hash_ends() {
        let (checks, gate, mut started, release) = gated(1);
        let task = tokio::spawn({
            let checks = checks.clone();
            async move { checks.check("ada".into(), "pw".into()).await }
        });
        started.recv().await.unwrap();
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(checks.permits.available_permits(), 0, "still hashing");
        // The next check gets the permit once the hash ends.
        let next = tokio::spawn({
            let checks = checks.clone();
            async move { checks.check("ada".into(), "pw".into()).await }
        });
        release.send(()).unwrap();
        started.recv().await.unwrap();
        release.send(()).unwrap();
        assert!(next.await.unwrap().is_none());
        assert_eq!(gate.most.load(Ordering::SeqCst), 1);
    }
}
