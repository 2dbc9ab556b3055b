//! The session layer's log lines carry no request context of their own:
//! they go inside the span an app opens per request (tower-http's
//! `TraceLayer`, as the README shows), so that span names the route.

use axum::http::Request;
use session_axum::{App, Guard, RouteDef, SessionValues};
use session_tests::logs::capture;
use tower_http::trace::TraceLayer;

async fn count(values: SessionValues) -> &'static str {
    let n = values.get::<u64>("n").unwrap().unwrap_or_default();
    values.insert("n", n + 1).unwrap();
    "counted"
}

fn routes(_: &session_axum::AppContext) -> Result<Vec<RouteDef>, session_axum::BuildError> {
    Ok(vec![RouteDef {
        method: http::Method::GET,
        path: "/spans/count",
        guard: Guard::OPEN,
        handler: axum::routing::get(count),
    }])
}

static ROUTES: session_axum::ControllerRegistration = session_axum::ControllerRegistration {
    name: "Spans",
    base_path: "/",
    routes,
};

#[tokio::test]
async fn library_lines_are_inside_the_apps_request_span_which_shows_no_cookie() {
    let app = App::builder()
        .use_registry(false)
        .controller(&ROUTES)
        .store(session_core::MemoryStore::new())
        .secret(session_core::Key::new([5u8; 32]).unwrap())
        .secure(false)
        .build()
        .unwrap();
    // What the README advises: method and path, not the headers (they hold
    // the session cookie and bearer tokens) nor the query.
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
    });
    let server = session_tests::http::TestServer::start(app.into_router().layer(trace)).await;
    let mut b = server.browser();
    assert_eq!(b.get("/spans/count").await.status, 200);
    let (log, _guard) = capture();
    let tampered = "tampered-cookie-value.x";
    let r = session_tests::http::client()
        .get(server.url("/spans/count?next=secret-query"))
        .header("cookie", format!("id={tampered}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("refused"))
        .unwrap_or_else(|| panic!("no line: {text}"));
    assert!(
        line.contains("request{method=GET path=/spans/count}"),
        "{line}"
    );
    for secret in [tampered, "secret-query", &b.jar["id"]] {
        assert!(!text.contains(secret), "{secret}: {text}");
    }
}
