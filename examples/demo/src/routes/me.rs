//! hexancore's tracked session data, and authsessions' per-user listing and
//! revocation (by opaque handles, never by session id).

use axum::extract::Path;
use axum::http::StatusCode;
use serde::Serialize;
use session_axum::ListedSession;
use session_axum::prelude::*;

use crate::data::{Account, Info, Visits};

/// One of the user's sessions as listed.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// Opaque, stable name of the session; not a credential.
    pub handle: SessionHandle,
    /// The device label given at login.
    pub label: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Milliseconds since the Unix epoch.
    pub last_seen: u64,
    /// Milliseconds since the Unix epoch.
    pub expires_at: u64,
    /// Whether this is the session making the request.
    pub current: bool,
    /// Whether its login had "Remember me" checked.
    pub remembered: bool,
}

impl From<ListedSession> for SessionView {
    fn from(s: ListedSession) -> Self {
        Self {
            handle: s.handle,
            label: s.label,
            created_at: s.created_at.as_millis(),
            last_seen: s.last_seen.as_millis(),
            expires_at: s.expires_at.as_millis(),
            current: s.current,
            remembered: s.cookie_lifetime == CookieLifetime::UntilExpiry,
        }
    }
}

/// `GET /me`, `GET /me/sessions`, `DELETE /me/sessions/{handle}`,
/// `POST /me/sessions/revoke-others`.
pub struct Me;

#[controller("/me")]
impl Me {
    #[get("/")]
    async fn me(
        account: Session<Account>,
        info: Session<Info>,
        visits: Session<Visits>,
        principal: Option<Principal>,
    ) -> Json<serde_json::Value> {
        Json(serde_json::json!({
            "user": principal.map(|p| p.user_id),
            "field": account.field(),
            "auth": account.auth(),
            "group_id": account.group_id(),
            "name": info.name(),
            "age": info.age(),
            "visits": visits.count(),
            "authenticated": account.is_authenticated(),
            "group": account.group_id(),
        }))
    }

    #[get("/sessions")]
    #[authenticated]
    async fn sessions(auth: Auth) -> Result<Json<Vec<SessionView>>, SessionRejection> {
        let listed = auth.sessions().await?;
        Ok(Json(listed.into_iter().map(SessionView::from).collect()))
    }

    #[delete("/sessions/{handle}")]
    #[authenticated]
    async fn revoke(
        auth: Auth,
        Path(handle): Path<String>,
    ) -> Result<StatusCode, SessionRejection> {
        // Only the principal's own sessions are searched: another user's
        // handle, or text that is no handle, is simply not found.
        let Ok(handle) = handle.parse::<SessionHandle>() else {
            return Ok(StatusCode::NOT_FOUND);
        };
        Ok(match auth.revoke(&handle).await? {
            true => StatusCode::NO_CONTENT,
            false => StatusCode::NOT_FOUND,
        })
    }

    #[post("/sessions/revoke-others")]
    #[authenticated]
    async fn revoke_others(auth: Auth) -> Result<Json<serde_json::Value>, SessionRejection> {
        let revoked = auth.revoke_others().await?;
        Ok(Json(serde_json::json!({ "revoked": revoked })))
    }
}
