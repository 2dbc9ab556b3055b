//! A per-name throttle on failed logins, against online password guessing:
//! after a few failed attempts for one user name, further attempts for it
//! are refused, without a password hash, until their window passes.
//!
//! Names are tracked whether or not a user has them, so that being
//! throttled does not tell which names exist. In memory only: a restart
//! forgets every count, and several demo processes count apart.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use session_core::Timestamp;
use session_core::clock::SharedClock;

/// Failed attempts one user name may have within [`WINDOW`].
pub const MAX_FAILURES: u32 = 5;

/// How long failed attempts count, from the first of them.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The most user names tracked at once (each at most 256 bytes, so a few
/// MiB): past it, the name not yet refused whose window began first is
/// forgotten (a refused one only when every name is refused).
pub const MAX_NAMES: usize = 10_000;

/// A [`LoginThrottle`]'s limits; the default is [`MAX_FAILURES`] within
/// [`WINDOW`], for at most [`MAX_NAMES`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failed attempts a name may have within the window (at least one):
    /// the attempt after them is refused.
    pub max_failures: u32,
    /// How long failed attempts count, from the first of them.
    pub window: Duration,
    /// The most names tracked at once (at least one).
    pub max_names: usize,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            max_failures: MAX_FAILURES,
            window: WINDOW,
            max_names: MAX_NAMES,
        }
    }
}

/// An attempt refused: its name had too many failed attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// How long until the name's window passes.
    pub retry_after: Duration,
}

impl Throttled {
    /// [`retry_after`](Self::retry_after) in whole seconds, rounded up, at
    /// least one: a `Retry-After` header's value.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        let secs = if self.retry_after.subsec_nanos() > 0 {
            secs + 1
        } else {
            secs
        };
        secs.max(1)
    }
}

/// One name's failed attempts in its current window.
#[derive(Debug, Clone, Copy)]
struct Failures {
    since: Timestamp,
    count: u32,
}

/// Failed logins per user name. Clones share the counts.
#[derive(Clone)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    clock: SharedClock,
    names: Arc<Mutex<HashMap<String, Failures>>>,
}

impl LoginThrottle {
    /// A throttle with `limits`, telling time by `clock`.
    pub fn new(limits: ThrottleLimits, clock: SharedClock) -> Self {
        let limits = ThrottleLimits {
            max_failures: limits.max_failures.max(1),
            max_names: limits.max_names.max(1),
            ..limits
        };
        Self {
            limits,
            clock,
            names: Arc::default(),
        }
    }

    /// Lets an attempt for `name` go on, counting it as failed until
    /// [`succeeded`](Self::succeeded) says otherwise, or refuses it when
    /// the name already has its most failures within the window. Counted
    /// before the password is checked, so that attempts sent at once
    /// cannot all pass the check before any failure is counted.
    pub fn attempt(&self, name: &str) -> Result<(), Throttled> {
        let now = self.clock.now();
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(failures) = names.get_mut(name) {
            if now >= failures.since + self.limits.window {
                *failures = Failures {
                    since: now,
                    count: 0,
                };
            }
            if failures.count >= self.limits.max_failures {
                tracing::debug!("login refused: too many failed attempts for the name");
                return Err(Throttled {
                    retry_after: (failures.since + self.limits.window).since(now),
                });
            }
            failures.count += 1;
            if failures.count == self.limits.max_failures {
                tracing::warn!(
                    user = ?name,
                    failures = failures.count,
                    "login attempts for this name refused until its window passes"
                );
            }
            return Ok(());
        }
        if names.len() >= self.limits.max_names {
            self.make_room(&mut names, now);
        }
        names.insert(
            name.to_owned(),
            Failures {
                since: now,
                count: 1,
            },
        );
        Ok(())
    }

    /// The attempt for `name` succeeded: its failures are forgotten.
    pub fn succeeded(&self, name: &str) {
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        names.remove(name);
    }

    /// Frees a place in the full `names`: every name whose window has
    /// passed goes, else the name not yet refused whose window began first,
    /// and only when every name is refused, the one whose window ends
    /// first. A refused name is what guessing wants forgotten: pushing it
    /// out takes filling the map with refused names, not with new ones. A
    /// scan, but only for a new name while full, next to a password hash
    /// that takes far longer.
    fn make_room(&self, names: &mut HashMap<String, Failures>, now: Timestamp) {
        let window = self.limits.window;
        names.retain(|_, failures| now < failures.since + window);
        if names.len() < self.limits.max_names {
            return;
        }
        let max_failures = self.limits.max_failures;
        let oldest = names
            .iter()
            .min_by_key(|(_, failures)| (failures.count >= max_failures, failures.since))
            .map(|(name, _)| name.clone());
        if let Some(oldest) = oldest {
            tracing::debug!("login throttle full: the oldest name is forgotten");
            names.remove(&oldest);
        }
    }

    /// How many names are tracked.
    pub fn tracked(&self) -> usize {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("limits", &self.limits)
            .field("tracked", &self.tracked())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::MockClock;

    fn throttle(limits: ThrottleLimits) -> (LoginThrottle, MockClock) {
        let clock = MockClock::starting_now();
        (LoginThrottle::new(limits, Arc::new(clock.clone())), clock)
    }

    fn fail(throttle: &LoginThrottle, name: &str, times: u32) {
        for n in 0..times {
            assert_eq!(throttle.attempt(name), Ok(()), "{name}: attempt {n}");
        }
    }

    #[test]
    fn attempts_past_the_limit_are_refused_until_the_window_passes() {
        let (throttle, clock) = throttle(ThrottleLimits::default());
        fail(&throttle, "ada", MAX_FAILURES);
        assert_eq!(
            throttle.attempt("ada"),
            Err(Throttled {
                retry_after: WINDOW
            })
        );
        clock.advance(Duration::from_secs(10 * 60));
        let refused = throttle.attempt("ada").unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(5 * 60));
        assert_eq!(refused.retry_after_secs(), 300);
        clock.advance(Duration::from_secs(5 * 60));
        // A new window: its own failures count from here.
        fail(&throttle, "ada", MAX_FAILURES);
        assert!(throttle.attempt("ada").is_err());
    }

    #[test]
    fn a_success_forgets_the_names_failures() {
        let (throttle, _clock) = throttle(ThrottleLimits::default());
        fail(&throttle, "ada", MAX_FAILURES - 1);
        assert_eq!(throttle.attempt("ada"), Ok(()), "the right password");
        throttle.succeeded("ada");
        assert_eq!(throttle.tracked(), 0);
        fail(&throttle, "ada", MAX_FAILURES);
        assert!(throttle.attempt("ada").is_err());
    }

    #[test]
    fn names_are_counted_apart() {
        let (throttle, _clock) = throttle(ThrottleLimits::default());
        fail(&throttle, "ada", MAX_FAILURES);
        assert!(throttle.attempt("ada").is_err());
        assert_eq!(throttle.attempt("grace"), Ok(()));
        assert_eq!(throttle.attempt("Ada"), Ok(()), "names as given");
    }

    /// The map holds at most `max_names` names: a new one past it drops
    /// those whose window passed, else (all refused here) the one whose
    /// window began first.
    #[test]
    fn the_oldest_name_is_forgotten_past_the_cap() {
        let limits = ThrottleLimits {
            max_names: 3,
            ..ThrottleLimits::default()
        };
        let (throttle, clock) = throttle(limits);
        for name in ["a", "b", "c"] {
            fail(&throttle, name, MAX_FAILURES);
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(throttle.attempt("d"), Ok(()));
        assert_eq!(throttle.tracked(), 3);
        assert_eq!(throttle.attempt("a"), Ok(()), "forgotten: counted anew");
        assert!(throttle.attempt("c").is_err(), "the newest kept");

        clock.advance(WINDOW);
        assert_eq!(throttle.attempt("e"), Ok(()));
        assert_eq!(throttle.tracked(), 1, "every passed window dropped");
    }

    /// New names do not push a refused one out while a name not yet
    /// refused can go instead.
    #[test]
    fn a_refused_name_outlives_names_not_yet_refused() {
        let limits = ThrottleLimits {
            max_names: 3,
            ..ThrottleLimits::default()
        };
        let (throttle, clock) = throttle(limits);
        fail(&throttle, "roger", MAX_FAILURES);
        for name in ["a", "b", "c", "d", "e"] {
            clock.advance(Duration::from_secs(1));
            assert_eq!(throttle.attempt(name), Ok(()));
        }
        assert_eq!(throttle.tracked(), 3);
        assert!(throttle.attempt("roger").is_err(), "still refused");
        assert_eq!(throttle.attempt("a"), Ok(()), "forgotten in its place");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let secs = |retry_after| Throttled { retry_after }.retry_after_secs();
        assert_eq!(secs(Duration::from_millis(1)), 1);
        assert_eq!(secs(Duration::ZERO), 1);
        assert_eq!(secs(Duration::from_millis(1_001)), 2);
        assert_eq!(secs(Duration::from_secs(900)), 900);
    }
}
