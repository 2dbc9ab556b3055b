use std::sync::Arc;
use std::time::Duration;

use session_core::conformance::RecordingStore;
use session_core::service::SessionServiceBuilder;
use session_core::{
    CookieAction, ExpiryPolicy, Key, MemoryStore, MockClock, Persisted, SessionService,
    SessionStore, SigningKeys,
};

pub const MIN: Duration = Duration::from_secs(60);

pub struct Env {
    pub clock: MockClock,
    pub store: RecordingStore<MemoryStore>,
    pub service: SessionService,
    pub keys: SigningKeys,
}

pub fn policy() -> ExpiryPolicy {
    ExpiryPolicy {
        initial_lifetime: 5 * MIN,
        lifetime: 60 * MIN,
        refresh_threshold: 0.5,
        absolute: None,
    }
}

/// A service on a store of the test's (a hooked one, say), with the
/// suite's key, cookie name, policy and `clock`.
pub fn service_on(store: Arc<dyn SessionStore>, clock: &MockClock) -> SessionService {
    SessionService::builder()
        .shared_store(store)
        .key(Key::new([1u8; 32]).unwrap())
        .token_context("sid")
        .expiry(policy())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

pub fn env() -> Env {
    env_with(policy(), SigningKeys::single(Key::new([1u8; 32]).unwrap()))
}

pub fn env_with(expiry: ExpiryPolicy, keys: SigningKeys) -> Env {
    let clock = MockClock::starting_now();
    let store = RecordingStore::new(MemoryStore::with_clock(Arc::new(clock.clone())));
    let service = SessionService::builder()
        .store(store.clone())
        .keys(&keys)
        .token_context("sid")
        .expiry(expiry)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    Env {
        clock,
        store,
        service,
        keys,
    }
}

/// The token of a `Set` cookie action.
pub fn token(p: &Persisted) -> String {
    match &p.cookie {
        CookieAction::Set { token, .. } => token.clone(),
        other => panic!("expected a cookie to be set, got {other:?}"),
    }
}

/// The ids `service` lists for `user`, in the listing's order.
pub async fn listed(service: &SessionService, user: &str) -> Vec<session_core::SessionId> {
    let infos = service.list_for_user(user).await.unwrap();
    infos.into_iter().map(|i| i.id).collect()
}

/// Another service on `env`'s store, keys and clock (an app restarted with
/// other settings, say), configured further by `configure`.
pub fn service_like(
    env: &Env,
    configure: impl FnOnce(SessionServiceBuilder) -> SessionServiceBuilder,
) -> SessionService {
    let builder = SessionService::builder()
        .shared_store(env.service.store().clone())
        .keys(&env.keys)
        .token_context("sid")
        .expiry(policy())
        .clock(env.service.clock().clone());
    configure(builder).build().unwrap()
}
