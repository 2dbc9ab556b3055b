//! astro-session's page: a visit counter kept in the session, no login needed.

use axum::response::Html;
use session_axum::prelude::*;

use crate::data::Visits;

/// `GET /`.
pub struct Home;

#[controller("/")]
impl Home {
    #[get("/")]
    async fn index(mut visits: Session<Visits>) -> Html<String> {
        visits.update_count(|count| *count += 1);
        Html(format!(
            "<!doctype html>\n<title>Sessions demo</title>\n<p>You visited this page: {}</p>\n\
             <p><a href=\"/login\">Log in</a> · <a href=\"/me\">Your session</a></p>\n",
            visits.count()
        ))
    }
}
