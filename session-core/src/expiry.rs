//! When sessions expire and when their expiry is refreshed.

use std::time::Duration;

use crate::clock::duration_millis;
use crate::{Binding, SessionInfo, SessionRecord, Timestamp};

/// Expiry rules.
///
/// A session created by an anonymous write lives `initial_lifetime` (hexancore's
/// `initialLifetime`, default 5 minutes). Once it is used again on a later
/// request, or bound to a user at login, it lives `lifetime` (default 6 hours).
/// Expiry slides: a request that finds less than `refresh_threshold` of the
/// lifetime left moves it to now + lifetime; a request that finds more writes
/// nothing. `absolute`, when set, caps every expiry at creation + absolute
/// (a login may set its own in its place: [`Binding::with_absolute`]).
///
/// A policy applies to the sessions stored under another one (a release
/// that changes it): a shorter `lifetime` ends a session that long after
/// its last use even where its stored expiry is later ([`expires_at`](Self::expires_at)),
/// and a request using it refreshes it to the new lifetime; a longer one
/// takes effect at each session's next refresh; `absolute` counts from
/// creation, so a new or shorter limit ends older sessions at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpiryPolicy {
    /// Lifetime of a fresh anonymous session.
    pub initial_lifetime: Duration,
    /// Lifetime of a used or logged-in session.
    pub lifetime: Duration,
    /// Share of `lifetime` (0.0 to 1.0) below which a request refreshes expiry.
    pub refresh_threshold: f64,
    /// Hard limit from creation, whatever the activity.
    pub absolute: Option<Duration>,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            initial_lifetime: Duration::from_secs(5 * 60),
            lifetime: Duration::from_secs(6 * 60 * 60),
            refresh_threshold: 0.5,
            absolute: None,
        }
    }
}

/// A policy that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExpiryError {
    /// A lifetime (or absolute limit) under one millisecond, the precision
    /// of stored expiries: every session would be over when created.
    #[error("session lifetimes and the absolute limit must be at least 1 ms")]
    ZeroLifetime,
    /// A threshold outside 0.0..=1.0.
    #[error("refresh threshold must be between 0 and 1, got {0}")]
    Threshold(f64),
}

impl ExpiryPolicy {
    /// Checks the policy.
    pub fn validate(&self) -> Result<(), ExpiryError> {
        let too_short = |d: Duration| d < Duration::from_millis(1);
        if too_short(self.initial_lifetime)
            || too_short(self.lifetime)
            || self.absolute.is_some_and(too_short)
        {
            return Err(ExpiryError::ZeroLifetime);
        }
        if !(0.0..=1.0).contains(&self.refresh_threshold) {
            return Err(ExpiryError::Threshold(self.refresh_threshold));
        }
        Ok(())
    }

    /// `t`, at most the absolute limit for `binding` after `created_at`.
    fn cap(&self, binding: Option<&Binding>, created_at: Timestamp, t: Timestamp) -> Timestamp {
        match self.absolute_for(binding) {
            Some(limit) => t.min(created_at.plus(limit)),
            None => t,
        }
    }

    /// Expiry of a record created now: `lifetime` when bound to a user, else `initial_lifetime`.
    pub fn for_new(&self, now: Timestamp, bound: bool) -> Timestamp {
        let lifetime = if bound {
            self.lifetime
        } else {
            self.initial_lifetime
        };
        self.cap(None, now, now.plus(lifetime))
    }

    /// Expiry of a session logged in now as `binding`: its own
    /// [`lifetime`](Binding::lifetime), else the policy's, within its own
    /// [`absolute`](Binding::absolute) limit, else the policy's.
    pub fn for_login(&self, now: Timestamp, binding: Option<&Binding>) -> Timestamp {
        self.cap(binding, now, now.plus(self.lifetime_for(binding)))
    }

    /// The absolute limit of a session bound as `binding`: its login's own,
    /// else [`absolute`](Self::absolute).
    pub fn absolute_for(&self, binding: Option<&Binding>) -> Option<Duration> {
        binding.and_then(|b| b.absolute).or(self.absolute)
    }

    /// The lifetime of a session bound as `binding`: its login's own, else
    /// [`lifetime`](Self::lifetime).
    pub fn lifetime_for(&self, binding: Option<&Binding>) -> Duration {
        binding.and_then(|b| b.lifetime).unwrap_or(self.lifetime)
    }

    /// Whether the record is past its expiry, its lifetime since its last
    /// use, or its absolute limit.
    pub fn is_expired(&self, record: &SessionRecord, now: Timestamp) -> bool {
        let limit = self.absolute_for(record.binding.as_deref());
        now >= self.expires_at(record) || is_past(limit, record.created_at, now)
    }

    /// When `record` expires unless a request refreshes it: its stored
    /// expiry, or sooner, the latest this policy gives a session last used
    /// when it was. The two agree for every session this policy refreshed;
    /// a shorter lifetime than the one a stored expiry was given under (a
    /// new release's) ends an idle session by this one.
    pub fn expires_at(&self, record: &SessionRecord) -> Timestamp {
        let binding = record.binding.as_deref();
        let bound = self.idle_bound(
            binding.is_none(),
            binding.and_then(|b| b.lifetime),
            record.created_at,
            record.last_seen,
        );
        record.expires_at.min(bound)
    }

    /// [`expires_at`](Self::expires_at) for a listed session.
    pub fn info_expires_at(&self, info: &SessionInfo) -> Timestamp {
        let bound = self.idle_bound(
            info.user_id.is_none(),
            info.lifetime,
            info.created_at,
            info.last_seen,
        );
        info.expires_at.min(bound)
    }

    /// The latest expiry this policy gives a session last used at
    /// `last_seen`: the lifetime (a login's `own`, else the policy's) after
    /// it, or for an anonymous session the initial lifetime after its
    /// creation where that is later (its first use switches to `lifetime`
    /// only where that lengthens it).
    fn idle_bound(
        &self,
        anonymous: bool,
        own: Option<Duration>,
        created_at: Timestamp,
        last_seen: Timestamp,
    ) -> Timestamp {
        let idle = last_seen.plus(own.unwrap_or(self.lifetime));
        if anonymous {
            idle.max(created_at.plus(self.initial_lifetime))
        } else {
            idle
        }
    }

    /// Whether a listed session is past its expiry, its lifetime since its
    /// last use or its absolute limit (the same test as
    /// [`is_expired`](Self::is_expired)).
    pub fn is_info_expired(&self, info: &SessionInfo, now: Timestamp) -> bool {
        now >= self.info_expires_at(info) || self.ends_at(info).is_some_and(|end| now >= end)
    }

    /// When a listed session ends however much it is used: its absolute
    /// limit (its login's own, else [`absolute`](Self::absolute)) after its
    /// creation; `None` without one.
    pub fn ends_at(&self, info: &SessionInfo) -> Option<Timestamp> {
        let limit = info.absolute.or(self.absolute)?;
        Some(info.created_at.plus(limit))
    }

    /// The latest expiry a request loading `record` at `now` or before
    /// could give it: its own, or a refresh to a full lifetime, within its
    /// absolute limit.
    pub(crate) fn latest_refresh(&self, record: &SessionRecord, now: Timestamp) -> Timestamp {
        let binding = record.binding.as_deref();
        let refreshed = self.cap(
            binding,
            record.created_at,
            now.plus(self.lifetime_for(binding)),
        );
        record.expires_at.max(refreshed)
    }

    /// Whether a record is still in its initial (anonymous, unused) phase.
    pub fn is_initial(record: &SessionRecord) -> bool {
        record.binding.is_none() && record.last_seen <= record.created_at
    }

    /// The new expiry a request at `now` should write, if any: the first use of a
    /// fresh session switches it to `lifetime` (where that differs from
    /// `initial_lifetime`: else there is nothing to switch, and the session
    /// slides as any other); later, expiry slides once less
    /// than the threshold share of the lifetime is left (a logged-in
    /// session's own [`lifetime`](Binding::lifetime) where its login set one).
    pub fn refresh(&self, record: &SessionRecord, now: Timestamp) -> Option<Timestamp> {
        let binding = record.binding.as_deref();
        let lifetime = self.lifetime_for(binding);
        let candidate = self.cap(binding, record.created_at, now.plus(lifetime));
        if Self::is_initial(record) && self.initial_lifetime != lifetime {
            // Used on a later request: switch to the full lifetime.
            return (now > record.created_at && candidate > record.expires_at).then_some(candidate);
        }
        // Counted from the expiry this policy gives it, which may be sooner
        // than the stored one (see `expires_at`): the refresh then brings
        // the stored expiry down to it.
        let expires_at = self.expires_at(record);
        let left = duration_millis(expires_at.since(now)) as f64;
        let threshold = duration_millis(lifetime) as f64 * self.refresh_threshold;
        (left < threshold && candidate > expires_at).then_some(candidate)
    }
}

/// Whether a session created at `created_at` is past `limit`, if any.
fn is_past(limit: Option<Duration>, created_at: Timestamp, now: Timestamp) -> bool {
    limit.is_some_and(|limit| now >= created_at.plus(limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Binding, SessionId};

    const MIN: Duration = Duration::from_secs(60);
    const T0: Timestamp = Timestamp::from_millis(1_000_000_000);

    fn policy() -> ExpiryPolicy {
        ExpiryPolicy {
            initial_lifetime: 5 * MIN,
            lifetime: 60 * MIN,
            refresh_threshold: 0.5,
            absolute: None,
        }
    }

    #[test]
    fn lifetimes_under_a_millisecond_are_refused() {
        let tiny = Duration::from_micros(500);
        for policy in [
            ExpiryPolicy {
                initial_lifetime: tiny,
                ..policy()
            },
            ExpiryPolicy {
                lifetime: tiny,
                ..policy()
            },
            ExpiryPolicy {
                absolute: Some(Duration::ZERO),
                ..policy()
            },
            ExpiryPolicy {
                absolute: Some(tiny),
                ..policy()
            },
        ] {
            assert_eq!(
                policy.validate(),
                Err(ExpiryError::ZeroLifetime),
                "{policy:?}"
            );
        }
        let shortest = ExpiryPolicy {
            initial_lifetime: Duration::from_millis(1),
            lifetime: Duration::from_millis(1),
            absolute: Some(Duration::from_millis(1)),
            ..policy()
        };
        assert_eq!(shortest.validate(), Ok(()));
    }

    fn record(
        created: Timestamp,
        last_seen: Timestamp,
        expires: Timestamp,
        bound: bool,
    ) -> SessionRecord {
        let mut r = SessionRecord::new(SessionId::generate(), created, expires);
        r.last_seen = last_seen;
        if bound {
            r.binding = Some(Box::new(Binding::user("u")));
        }
        r
    }

    #[test]
    fn new_sessions_get_initial_lifetime_unless_bound() {
        let p = policy();
        assert_eq!(p.for_new(T0, false), T0.plus(5 * MIN));
        assert_eq!(p.for_new(T0, true), T0.plus(60 * MIN));
    }

    #[test]
    fn first_use_on_a_later_request_switches_to_full_lifetime() {
        let p = policy();
        let r = record(T0, T0, T0.plus(5 * MIN), false);
        // Same instant as creation: not a later request.
        assert_eq!(p.refresh(&r, T0), None);
        let now = T0.plus(MIN);
        assert_eq!(p.refresh(&r, now), Some(now.plus(60 * MIN)));
    }

    /// With one lifetime for both, a first use has nothing to switch: no
    /// write until the threshold, as for any session.
    #[test]
    fn first_use_with_equal_lifetimes_slides_as_any_other() {
        let p = ExpiryPolicy {
            initial_lifetime: 60 * MIN,
            ..policy()
        };
        let r = record(T0, T0, T0.plus(60 * MIN), false);
        assert_eq!(p.refresh(&r, T0.plus(MIN)), None);
        let now = T0.plus(31 * MIN);
        assert_eq!(p.refresh(&r, now), Some(now.plus(60 * MIN)));
    }

    #[test]
    fn sliding_refresh_only_past_the_threshold() {
        let p = policy();
        let r = record(T0, T0.plus(MIN), T0.plus(61 * MIN), true);
        // 31 minutes left of 60: more than half, no refresh.
        assert_eq!(p.refresh(&r, T0.plus(30 * MIN)), None);
        // 29 minutes left: refresh to now + lifetime.
        let now = T0.plus(32 * MIN);
        assert_eq!(p.refresh(&r, now), Some(now.plus(60 * MIN)));
    }

    #[test]
    fn threshold_zero_never_refreshes_and_one_always_does() {
        let mut p = policy();
        let r = record(T0, T0.plus(MIN), T0.plus(61 * MIN), true);
        p.refresh_threshold = 0.0;
        assert_eq!(p.refresh(&r, T0.plus(60 * MIN)), None);
        p.refresh_threshold = 1.0;
        assert!(p.refresh(&r, T0.plus(2 * MIN)).is_some());
    }

    #[test]
    fn absolute_limit_caps_refresh_and_expires() {
        let mut p = policy();
        p.absolute = Some(90 * MIN);
        let r = record(T0, T0.plus(MIN), T0.plus(61 * MIN), true);
        let now = T0.plus(50 * MIN);
        assert_eq!(p.refresh(&r, now), Some(T0.plus(90 * MIN)));
        // Refreshed at 40 minutes, to the limit.
        let capped = record(T0, T0.plus(40 * MIN), T0.plus(90 * MIN), true);
        assert_eq!(p.refresh(&capped, T0.plus(80 * MIN)), None);
        assert!(!p.is_expired(&capped, T0.plus(89 * MIN)));
        assert!(p.is_expired(&capped, T0.plus(90 * MIN)));
        // The absolute limit holds even if a store kept a later expiry.
        let long = record(T0, T0.plus(MIN), T0.plus(600 * MIN), true);
        assert!(p.is_expired(&long, T0.plus(90 * MIN)));
    }

    #[test]
    fn a_logins_own_lifetime_sets_its_expiry_and_its_refresh() {
        let mut p = policy();
        let long = Binding::user("u").with_lifetime(600 * MIN);
        assert_eq!(p.for_login(T0, Some(&long)), T0.plus(600 * MIN));
        assert_eq!(
            p.for_login(T0, Some(&Binding::user("u"))),
            T0.plus(60 * MIN)
        );
        assert_eq!(p.for_login(T0, None), T0.plus(60 * MIN));

        let mut r = record(T0, T0, T0.plus(600 * MIN), true);
        r.binding = Some(Box::new(long));
        // 400 of 600 minutes left: more than half, no refresh, where the
        // policy's 60 minutes would long have expired it.
        assert_eq!(p.refresh(&r, T0.plus(200 * MIN)), None);
        // 290 left: refreshed to now + 600.
        let now = T0.plus(310 * MIN);
        assert_eq!(p.refresh(&r, now), Some(now.plus(600 * MIN)));
        // The absolute limit still caps it.
        p.absolute = Some(700 * MIN);
        assert_eq!(p.refresh(&r, now), Some(T0.plus(700 * MIN)));
        assert_eq!(p.for_login(T0, r.binding.as_deref()), T0.plus(600 * MIN));
        p.absolute = Some(100 * MIN);
        assert_eq!(p.for_login(T0, r.binding.as_deref()), T0.plus(100 * MIN));
    }

    #[test]
    fn a_logins_own_absolute_limit_replaces_the_policys() {
        let mut p = policy();
        p.absolute = Some(90 * MIN);
        let short = Binding::user("u").with_absolute(30 * MIN);
        let long = Binding::user("u").with_absolute(600 * MIN);
        assert_eq!(p.absolute_for(Some(&short)), Some(30 * MIN));
        assert_eq!(p.absolute_for(Some(&Binding::user("u"))), Some(90 * MIN));
        assert_eq!(p.absolute_for(None), Some(90 * MIN));
        // At login: the limit is nearer than the lifetime, or further.
        assert_eq!(p.for_login(T0, Some(&short)), T0.plus(30 * MIN));
        assert_eq!(p.for_login(T0, Some(&long)), T0.plus(60 * MIN));

        // A refresh stops at the login's own limit, past the policy's.
        let mut r = record(T0, T0.plus(60 * MIN), T0.plus(120 * MIN), true);
        r.binding = Some(Box::new(long));
        let now = T0.plus(100 * MIN);
        assert!(!p.is_expired(&r, now), "past the policy's 90, within 600");
        assert_eq!(p.refresh(&r, now), Some(now.plus(60 * MIN)));
        (r.last_seen, r.expires_at) = (T0.plus(500 * MIN), T0.plus(560 * MIN));
        assert_eq!(p.refresh(&r, T0.plus(540 * MIN)), Some(T0.plus(600 * MIN)));
        r.expires_at = T0.plus(700 * MIN);
        assert!(
            p.is_expired(&r, T0.plus(600 * MIN)),
            "a later expiry kept by a store"
        );

        // Used all the while, the short one still ends at 30 minutes, also
        // when a store kept a later expiry.
        let mut r = record(T0, T0.plus(MIN), T0.plus(60 * MIN), true);
        r.binding = Some(Box::new(short));
        assert_eq!(p.refresh(&r, T0.plus(20 * MIN)), None);
        assert!(!p.is_expired(&r, T0.plus(29 * MIN)));
        assert!(p.is_expired(&r, T0.plus(30 * MIN)));
        let info = r.info();
        assert_eq!(info.absolute, Some(30 * MIN));
        assert!(p.is_info_expired(&info, T0.plus(30 * MIN)));
        assert!(!p.is_info_expired(&info, T0.plus(29 * MIN)));

        // Without a policy limit, the login's own still holds.
        p.absolute = None;
        assert!(p.is_expired(&r, T0.plus(30 * MIN)));
    }

    #[test]
    fn a_logins_durations_are_rounded_up_to_whole_milliseconds() {
        let absolute = |d: Duration| Binding::user("u").with_absolute(d).absolute;
        assert_eq!(absolute(Duration::ZERO), Some(Duration::from_millis(1)));
        assert_eq!(
            absolute(Duration::from_micros(1500)),
            Some(Duration::from_millis(2))
        );
        let of = |d: Duration| Binding::user("u").with_lifetime(d).lifetime;
        assert_eq!(of(Duration::ZERO), Some(Duration::from_millis(1)));
        assert_eq!(of(Duration::from_micros(1)), Some(Duration::from_millis(1)));
        assert_eq!(
            of(Duration::from_micros(1500)),
            Some(Duration::from_millis(2))
        );
        assert_eq!(of(MIN), Some(MIN));
        assert_eq!(of(Duration::MAX), Some(Duration::from_millis(u64::MAX)));
    }

    /// A release with a shorter lifetime than the one a stored expiry was
    /// given under: an idle session ends that lifetime after its last use,
    /// as one it had refreshed would; one in use is refreshed to it.
    #[test]
    fn a_shorter_lifetime_ends_sessions_stored_under_a_longer_one() {
        let long = ExpiryPolicy {
            lifetime: 600 * MIN,
            ..policy()
        };
        let short = policy();
        let used = T0.plus(MIN);
        let r = record(T0, used, used.plus(600 * MIN), true);
        assert!(!long.is_expired(&r, used.plus(61 * MIN)));
        assert!(!short.is_expired(&r, used.plus(59 * MIN)));
        assert!(short.is_expired(&r, used.plus(60 * MIN)));
        assert!(short.is_info_expired(&r.info(), used.plus(60 * MIN)));
        assert!(!short.is_info_expired(&r.info(), used.plus(59 * MIN)));
        assert_eq!(short.expires_at(&r), used.plus(60 * MIN));
        // In use: more than half of the 60 minutes left, nothing to write;
        // less, refreshed to now + 60, below the stored expiry.
        assert_eq!(short.refresh(&r, used.plus(20 * MIN)), None);
        let now = used.plus(40 * MIN);
        assert_eq!(short.refresh(&r, now), Some(now.plus(60 * MIN)));
        // A login's own lifetime is its own.
        let mut own = r.clone();
        own.binding = Some(Box::new(Binding::user("u").with_lifetime(600 * MIN)));
        assert!(!short.is_expired(&own, used.plus(61 * MIN)));
        // A longer lifetime leaves the stored expiry as it is.
        let longer = ExpiryPolicy {
            lifetime: 6000 * MIN,
            ..policy()
        };
        assert_eq!(longer.expires_at(&r), r.expires_at);
        // A new anonymous session keeps its initial expiry.
        let fresh = record(T0, T0, T0.plus(5 * MIN), false);
        assert_eq!(short.expires_at(&fresh), T0.plus(5 * MIN));
    }

    #[test]
    fn validation() {
        let mut p = policy();
        assert!(p.validate().is_ok());
        p.refresh_threshold = 1.5;
        assert_eq!(p.validate(), Err(ExpiryError::Threshold(1.5)));
        p.refresh_threshold = 0.5;
        p.lifetime = Duration::ZERO;
        assert_eq!(p.validate(), Err(ExpiryError::ZeroLifetime));
    }
}
