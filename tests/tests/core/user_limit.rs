//! The per-user session limit: a login past it ends the user's least
//! recently used sessions.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use session_core::{
    Binding, CookieStore, MemoryStore, MockClock, SessionError, SessionId, SessionRecord,
    SessionService, SessionStore,
};

use crate::support::{Env, MIN, env, listed, policy, service_like, token};
use session_tests::hooked::{After, Hooked};
use session_tests::profile::{self, Profile};

/// `env`'s store behind a service holding each user to `max` sessions.
fn limited(env: &Env, max: usize) -> SessionService {
    service_like(env, |b| b.max_sessions_per_user(max))
}

/// A login on a request that came without a session; the new id.
async fn log_in(service: &SessionService, user: &str) -> SessionId {
    let mut s = service.get::<Profile>(None).await.unwrap();
    let id = s.login(Binding::user(user));
    service.commit(&mut s).await.unwrap();
    id
}

/// Whether a request carrying `id`'s token finds its session.
async fn loads(service: &SessionService, id: &SessionId) -> bool {
    let cell = service.load(Some(&service.token_for(id))).await.unwrap();
    cell.lock().is_loaded()
}

#[tokio::test]
async fn a_login_past_the_limit_ends_the_least_recently_used_sessions() {
    let env = env();
    let service = limited(&env, 3);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(log_in(&service, "u").await);
        env.clock.advance(MIN);
    }
    let [a, b, c] = ids[..] else { unreachable!() };
    let other = log_in(&service, "other").await;
    // `a`, the oldest, is used again (a write): `b` is now the least recent.
    let mut s = service
        .get::<Profile>(Some(&service.token_for(&a)))
        .await
        .unwrap();
    profile::set_age(&mut s, Some(1));
    service.commit(&mut s).await.unwrap();
    env.clock.advance(MIN);
    assert_eq!(listed(&service, "u").await, vec![a, c, b], "at the limit");

    let d = log_in(&service, "u").await;
    assert_eq!(listed(&service, "u").await, vec![d, a, c]);
    assert!(!loads(&service, &b).await, "the ended session still loads");
    assert!(loads(&service, &a).await);
    assert_eq!(
        listed(&service, "other").await,
        vec![other],
        "another user's"
    );

    // authsessions' create_session is a login too.
    env.clock.advance(MIN);
    let e = service.create_session(Binding::user("u")).await.unwrap();
    assert_eq!(listed(&service, "u").await, vec![e, d, a]);
}

/// Logins at one instant: the sessions tie on last use, so the new one need
/// not come first in the listing. It is kept all the same, and the one
/// before it ends.
#[tokio::test]
async fn logins_at_one_instant_keep_the_new_session() {
    let env = env();
    let service = limited(&env, 1);
    let mut previous = log_in(&service, "u").await;
    for _ in 0..12 {
        let new = log_in(&service, "u").await;
        assert!(loads(&service, &new).await, "the new session was ended");
        assert!(!loads(&service, &previous).await);
        assert_eq!(listed(&service, "u").await, vec![new]);
        previous = new;
    }
}

type Hook = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a hook once, right after the first session is created or the
/// first listing of a user's sessions, as the test arms it: another
/// request's work landing inside a login.
#[derive(Clone, Default)]
struct Between {
    after_create: Arc<Mutex<Option<Hook>>>,
    after_listing: Arc<Mutex<Option<Hook>>>,
}

async fn run_once(hook: &Mutex<Option<Hook>>) {
    let hook = hook.lock().unwrap().take();
    if let Some(hook) = hook {
        hook.await;
    }
}

#[session_axum::async_trait]
impl After for Between {
    async fn created(&self, _: &SessionRecord) {
        run_once(&self.after_create).await;
    }

    async fn listed_for_user(&self, _: &str) {
        run_once(&self.after_listing).await;
    }
}

/// Two services holding users to one session each, on one store and one
/// clock: `login`'s store calls run the hooks `between` is armed with, and
/// `other` stands for another request, its calls outside the hooks.
struct Racing {
    clock: MockClock,
    between: Between,
    login: SessionService,
    other: SessionService,
}

fn racing() -> Racing {
    let clock = MockClock::starting_now();
    let inner: Arc<dyn SessionStore> = Arc::new(MemoryStore::with_clock(Arc::new(clock.clone())));
    let between = Between::default();
    let on = |store: Arc<dyn SessionStore>| {
        SessionService::builder()
            .shared_store(store)
            .key(session_core::Key::new([1u8; 32]).unwrap())
            .token_context("sid")
            .expiry(policy())
            .clock(Arc::new(clock.clone()))
            .max_sessions_per_user(1)
            .build()
            .unwrap()
    };
    Racing {
        login: on(Arc::new(Hooked::new(inner.clone(), between.clone()))),
        other: on(inner),
        clock,
        between,
    }
}

/// Arms `slot` with `hook`, run once.
fn arm(slot: &Mutex<Option<Hook>>, hook: impl Future<Output = ()> + Send + 'static) {
    *slot.lock().unwrap() = Some(Box::pin(hook));
}

/// A login form sent twice: the second login runs whole between the
/// first's create and its hold to the limit of 1. The second ends the
/// first's session; the first must not end the second's in turn, or
/// neither login leaves the user a session.
#[tokio::test]
async fn concurrent_logins_leave_the_later_session_not_none() {
    let r = racing();
    let second: Arc<Mutex<Option<SessionId>>> = Arc::default();
    arm(&r.between.after_create, {
        let (service, clock, second) = (r.other.clone(), r.clock.clone(), second.clone());
        async move {
            clock.advance(MIN);
            *second.lock().unwrap() = Some(log_in(&service, "u").await);
        }
    });

    let first = log_in(&r.login, "u").await;

    let second = second.lock().unwrap().expect("the second login ran");
    assert!(
        loads(&r.other, &second).await,
        "the later login's session was ended"
    );
    assert!(!loads(&r.other, &first).await);
    assert_eq!(listed(&r.other, "u").await, vec![second]);
}

/// A session past the limit is rotated by another request of its browser
/// between the login's listing and its delete: the delete finds the old id
/// gone, and the limit follows the move to end the session there, which
/// would otherwise stay one over the limit until the next login.
#[tokio::test]
async fn the_limit_follows_a_session_moved_after_the_listing() {
    let r = racing();
    let old = log_in(&r.other, "u").await;
    r.clock.advance(MIN);
    let moved: Arc<Mutex<Option<SessionId>>> = Arc::default();
    arm(&r.between.after_listing, {
        let (other, t, moved) = (r.other.clone(), r.other.token_for(&old), moved.clone());
        async move {
            let cell = other.load(Some(&t)).await.unwrap();
            cell.lock().rotate().expect("a stored session to move");
            *moved.lock().unwrap() = other.persist(&cell).await.unwrap().id;
        }
    });

    let new = log_in(&r.login, "u").await;

    let moved = moved.lock().unwrap().expect("the rotation ran");
    assert_ne!(moved, old);
    assert!(
        !loads(&r.other, &moved).await,
        "the moved session escaped the limit"
    );
    assert!(loads(&r.other, &new).await);
    assert_eq!(listed(&r.other, "u").await, vec![new]);
}

/// As above, but the other request is a login of that browser as the same
/// user, after this one: its session is newer, and it holds the user to the
/// limit itself (ending this login's session). Following the move must not
/// end it, or neither login leaves the user a session.
#[tokio::test]
async fn the_limit_does_not_follow_a_move_into_a_later_login() {
    let r = racing();
    let old = log_in(&r.other, "u").await;
    r.clock.advance(MIN);
    let later: Arc<Mutex<Option<SessionId>>> = Arc::default();
    arm(&r.between.after_listing, {
        let (other, clock, t) = (r.other.clone(), r.clock.clone(), r.other.token_for(&old));
        let later = later.clone();
        async move {
            clock.advance(MIN);
            let mut s = other.get::<Profile>(Some(&t)).await.unwrap();
            let id = s.login(Binding::user("u"));
            other.commit(&mut s).await.unwrap();
            *later.lock().unwrap() = Some(id);
        }
    });

    log_in(&r.login, "u").await;

    let later = later.lock().unwrap().expect("the other login ran");
    assert!(
        loads(&r.other, &later).await,
        "the later login's session was ended"
    );
    assert_eq!(listed(&r.other, "u").await, vec![later]);
}

#[tokio::test]
async fn a_login_moving_a_session_counts_it_once_and_keeps_the_new_one() {
    let env = env();
    let service = limited(&env, 2);
    let first = log_in(&service, "u").await;
    env.clock.advance(MIN);
    // An anonymous session, in no listing, then logged in: it moves to a
    // new id, and the user has two sessions, the limit.
    let mut s = service.get::<Profile>(None).await.unwrap();
    profile::set_age(&mut s, Some(7));
    let anonymous = token(&service.commit(&mut s).await.unwrap());
    env.clock.advance(MIN);
    let mut s = service.get::<Profile>(Some(&anonymous)).await.unwrap();
    let second = s.login(Binding::user("u"));
    service.commit(&mut s).await.unwrap();
    assert_eq!(listed(&service, "u").await, vec![second, first]);

    // With a limit of 1, the session logging in again is the one kept.
    let strict = limited(&env, 1);
    let mut s = strict
        .get::<Profile>(Some(&strict.token_for(&first)))
        .await
        .unwrap();
    let again = s.login(Binding::user("u"));
    strict.commit(&mut s).await.unwrap();
    assert_eq!(listed(&strict, "u").await, vec![again]);
    assert!(loads(&strict, &again).await);
}

#[tokio::test]
async fn without_a_limit_logins_pile_up() {
    let env = env();
    for _ in 0..5 {
        log_in(&env.service, "u").await;
    }
    assert_eq!(listed(&env.service, "u").await.len(), 5);
}

#[tokio::test]
async fn a_failure_to_end_sessions_past_the_limit_leaves_the_login_standing() {
    let env = env();
    let service = limited(&env, 1);
    let first = log_in(&service, "u").await;
    env.store.fail_deletes(true);
    env.clock.advance(MIN);
    let second = log_in(&service, "u").await;
    env.store.fail_deletes(false);
    assert!(loads(&service, &second).await, "the login stands");
    // The session that could not end is still there, one over the limit,
    // until the next login.
    assert_eq!(listed(&service, "u").await, vec![second, first]);
    env.clock.advance(MIN);
    let third = log_in(&service, "u").await;
    assert_eq!(listed(&service, "u").await, vec![third]);
}

#[test]
fn a_limit_of_zero_or_on_a_store_without_a_user_index_is_refused() {
    let refused = |store: Arc<dyn SessionStore>, max| {
        let error = SessionService::builder()
            .shared_store(store)
            .key(session_core::Key::generate())
            .max_sessions_per_user(max)
            .build()
            .unwrap_err();
        match error {
            SessionError::Config(message) => message,
            other => panic!("expected a config error, got {other:?}"),
        }
    };
    let zero = refused(Arc::new(MemoryStore::new()), 0);
    assert!(zero.contains("at least 1"), "{zero}");
    let cookie = refused(Arc::new(CookieStore::signed()), 3);
    assert!(cookie.contains("per-user index"), "{cookie}");
    assert!(cookie.contains("cookie"), "{cookie}");
}
