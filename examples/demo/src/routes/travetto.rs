//! Travetto's `SessionRoutes` sample: every route needs a principal.

use axum::http::StatusCode;
use session_axum::prelude::*;

use crate::data::Info;

/// `PUT /session/info`, `GET /session/info/age`, `GET /session/logout`.
pub struct SessionRoutes;

#[controller("/session")]
#[authenticated]
impl SessionRoutes {
    #[put("/info")]
    async fn store_info(mut session: Session<Info>) -> StatusCode {
        session.set_age(Some(20));
        session.set_name(Some("Roger".into()));
        StatusCode::NO_CONTENT
    }

    #[get("/logout")]
    async fn logout(auth: Auth) -> impl IntoResponse {
        auth.logout().await
    }

    #[get("/info/age")]
    async fn age(session: Session<Info>) -> Json<Option<u32>> {
        Json(*session.age())
    }
}
