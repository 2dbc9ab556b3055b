//! hexancore's tracked session data, and authsessions' per-user listing and
//! revocation (by opaque handles, never by session id).

use axum::extract::Path;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use serde::Serialize;
use session_axum::prelude::*;
use session_axum::{AppContext, BuildError, SessionId, SessionService};
use session_core::SessionError;
use sha2::Sha256;

use crate::data::{Account, Info, Visits};

/// One of the user's sessions as listed.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// Opaque, stable name of the session; not a credential.
    pub handle: String,
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

/// `GET /me`, `GET /me/sessions`, `DELETE /me/sessions/{handle}`,
/// `POST /me/sessions/revoke-others`.
pub struct Me {
    sessions: SessionService,
    /// Keyed once with a key derived for handles; cloned per handle.
    handle_mac: Hmac<Sha256>,
}

impl FromApp for Me {
    fn from_app(ctx: &AppContext) -> Result<Self, BuildError> {
        let sessions = ctx.service().clone();
        let handle_key = sessions
            .signer()
            .keys()
            .primary()
            .derive("demo session handles");
        let handle_mac = Hmac::<Sha256>::new_from_slice(&handle_key)
            .map_err(|e| SessionError::Config(format!("session handle key: {e}")))?;
        Ok(Self {
            sessions,
            handle_mac,
        })
    }
}

impl Me {
    /// An opaque handle for `id`: an HMAC under a key derived for it, so a
    /// handle reveals nothing of the id and cannot be made without the key.
    fn handle(&self, id: &SessionId) -> String {
        let mac = self.handle_mac.clone().chain_update(id.as_bytes());
        let tag = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&tag[..16])
    }
}

#[controller("/me", from_app)]
impl Me {
    #[get("/")]
    async fn me(
        &self,
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
    async fn sessions(
        &self,
        auth: Auth,
        principal: Principal,
    ) -> Result<Json<Vec<SessionView>>, SessionRejection> {
        let current = auth.session_id();
        let listed = self.sessions.list_for_user(&principal.user_id).await?;
        Ok(Json(
            listed
                .into_iter()
                .map(|s| SessionView {
                    handle: self.handle(&s.id),
                    label: s.label,
                    created_at: s.created_at.as_millis(),
                    last_seen: s.last_seen.as_millis(),
                    expires_at: s.expires_at.as_millis(),
                    current: Some(s.id) == current,
                    remembered: s.cookie_lifetime == CookieLifetime::UntilExpiry,
                })
                .collect(),
        ))
    }

    #[delete("/sessions/{handle}")]
    #[authenticated]
    async fn revoke(
        &self,
        principal: Principal,
        Path(handle): Path<String>,
    ) -> Result<StatusCode, SessionRejection> {
        // Only the principal's own sessions are searched: another user's handle is simply not found.
        let listed = self.sessions.list_for_user(&principal.user_id).await?;
        let Some(target) = listed.into_iter().find(|s| self.handle(&s.id) == handle) else {
            return Ok(StatusCode::NOT_FOUND);
        };
        // Listed for this principal, so ownership is known: skip `revoke`'s extra load.
        self.sessions.destroy_session(&target.id).await?;
        Ok(StatusCode::NO_CONTENT)
    }

    #[post("/sessions/revoke-others")]
    #[authenticated]
    async fn revoke_others(&self, auth: Auth) -> Result<Json<serde_json::Value>, SessionRejection> {
        let revoked = auth.revoke_others().await?;
        Ok(Json(serde_json::json!({ "revoked": revoked })))
    }
}
