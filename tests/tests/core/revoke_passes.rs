//! `revoke_all` passes again while the user's listing shows sessions other
//! than the one to keep: what a rotation landing between two passes does.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use session_core::{
    Binding, Key, MemoryStore, MockClock, Page, PageRequest, SaveOutcome, SessionId, SessionInfo,
    SessionPatch, SessionRecord, SessionService, SessionStore, StoreError, Timestamp,
};

use crate::support::{policy, token};

type Hook = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A memory store that runs a hook once, right after its first
/// `delete_for_user`: another request's work landing between two passes.
#[derive(Clone)]
struct BetweenPasses {
    inner: MemoryStore,
    hook: Arc<Mutex<Option<Hook>>>,
}

impl std::fmt::Debug for BetweenPasses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BetweenPasses")
    }
}

#[async_trait]
impl SessionStore for BetweenPasses {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn capabilities(&self) -> session_core::Capabilities {
        self.inner.capabilities()
    }
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.inner.create(record).await
    }
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.load(id).await
    }
    async fn load_at(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.load_at(id, now).await
    }
    async fn save(&self, id: &SessionId, patch: &SessionPatch) -> Result<SaveOutcome, StoreError> {
        self.inner.save(id, patch).await
    }
    async fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
        last_seen: Timestamp,
        user_id: Option<&str>,
    ) -> Result<SaveOutcome, StoreError> {
        self.inner.touch(id, expires_at, last_seen, user_id).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.inner.delete(id).await
    }
    async fn list_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        self.inner.list_for_user(user_id).await
    }
    async fn delete_for_user(
        &self,
        user_id: &str,
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        let deleted = self.inner.delete_for_user(user_id, keep).await?;
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook.await;
        }
        Ok(deleted)
    }
    async fn list(&self, page: PageRequest) -> Result<Page<SessionInfo>, StoreError> {
        self.inner.list(page).await
    }
}

fn service_on(store: Arc<dyn SessionStore>, clock: &MockClock) -> SessionService {
    SessionService::builder()
        .shared_store(store)
        .key(Key::new([1u8; 32]).unwrap())
        .token_context("sid")
        .expiry(policy())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

/// "Log out my other devices" keeps the session of the request asking
/// (`Auth::revoke_others` passes it as `keep`). Another request of that
/// browser rotates it (a privilege change, say) while the revocation runs:
/// with one pass, the rotated id, created after the pass read the user's
/// index, stayed, and so did the browser's login. The passes added since
/// read the listing again, find the rotated id, which is not `keep`, and
/// revoke it: the device that asked to stay logged in is logged out, and
/// the count includes its own session. (The kept session's marker names
/// the id it moved to.)
#[tokio::test]
async fn revoke_all_keeps_the_kept_session_that_a_rotation_moved_between_passes() {
    let clock = MockClock::starting_now();
    let inner = MemoryStore::with_clock(Arc::new(clock.clone()));
    let hook: Arc<Mutex<Option<Hook>>> = Arc::default();
    let store = BetweenPasses {
        inner: inner.clone(),
        hook: hook.clone(),
    };
    let service = service_on(Arc::new(store), &clock);
    // The other request runs on the same sessions, outside the hook.
    let other = service_on(Arc::new(inner), &clock);

    let kept = service.create_session(Binding::user("u")).await.unwrap();
    service.create_session(Binding::user("u")).await.unwrap();
    let moved_to: Arc<Mutex<Option<String>>> = Arc::default();
    *hook.lock().unwrap() = Some(Box::pin({
        let (other, t, moved_to) = (other.clone(), service.token_for(&kept), moved_to.clone());
        async move {
            let cell = other.load(Some(&t)).await.unwrap();
            cell.lock().rotate().expect("a stored session to move");
            let p = other.persist(&cell).await.unwrap();
            *moved_to.lock().unwrap() = Some(token(&p));
        }
    }));

    let revoked = service.revoke_all("u", Some(&kept)).await.unwrap();

    let t = moved_to.lock().unwrap().clone().expect("the rotation ran");
    let cell = service.load(Some(&t)).await.unwrap();
    assert!(
        cell.lock().binding().is_some(),
        "the kept session, rotated between passes, was revoked (count {revoked})"
    );
    assert_eq!(revoked, 1, "only the other device's session went");
}
