//! WebSocket routes: the handshake is authenticated and checked like a
//! write (a socket another site opened would write with the browser's
//! cookies), and a change made before the upgrade is saved when the handle
//! is committed before it moves into the socket.

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt as _, StreamExt as _};
use http::header::{COOKIE, ORIGIN};
use reqwest::Method;
use session_axum::{Session, SigningKeys};
use session_tests::profile::Counters;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::app::{TestApp, key, start_with};

/// Counts the visit, then answers each message with the count the
/// handshake saw.
async fn counted_socket(mut session: Session<Counters>, ws: WebSocketUpgrade) -> Response {
    session.update(|c| c.visits += 1);
    session.commit().expect("a count encodes");
    ws.on_upgrade(move |socket| echo_with(socket, session))
}

async fn echo_with(mut socket: WebSocket, session: Session<Counters>) {
    while let Some(Ok(Message::Text(text))) = socket.recv().await {
        let reply = format!("{text} {}", session.visits);
        if socket.send(Message::Text(reply.into())).await.is_err() {
            return;
        }
    }
}

async fn start() -> TestApp {
    start_with(SigningKeys::single(key(1)), |b| {
        b.merge(Router::new().route("/socket", get(counted_socket)))
    })
    .await
}

/// A browser's handshake as it sends one from a page of `origin`.
fn handshake(t: &TestApp, cookie: &str, origin: &str, site: &str) -> http::Request<()> {
    let url = format!("ws://{}/socket", t.server.addr);
    let mut request = url.into_client_request().expect("a ws URL");
    let headers = request.headers_mut();
    headers.insert(COOKIE, cookie.parse().unwrap());
    headers.insert(ORIGIN, origin.parse().unwrap());
    headers.insert("sec-fetch-site", site.parse().unwrap());
    headers.insert("sec-fetch-mode", "websocket".parse().unwrap());
    request
}

fn cookie_of(b: &session_tests::http::Browser) -> String {
    format!("sid={}", b.jar.get("sid").expect("a session cookie"))
}

#[tokio::test]
async fn a_same_origin_socket_opens_on_the_session_and_its_handshake_change_is_saved() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/t/visit").await.body, "1");
    let origin = format!("http://{}", t.server.addr);
    let request = handshake(&t, &cookie_of(&b), &origin, "same-origin");
    let tcp = tokio::net::TcpStream::connect(t.server.addr).await.unwrap();
    let (mut socket, response) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("the handshake is taken");
    assert_eq!(response.status(), 101);
    socket
        .send(tungstenite::Message::Text("visits".into()))
        .await
        .unwrap();
    let reply = socket.next().await.expect("a reply").unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "visits 2");
    // Saved with the 101, while the socket is still open.
    assert_eq!(b.get("/t/peek").await.json()["visits"], 2);
    socket.close(None).await.unwrap();
}

/// Cross-site WebSocket hijacking: a page on a sibling subdomain (the same
/// site, so `SameSite=Lax` sends the cookie) or another site opens a socket
/// on the user's session.
#[tokio::test]
async fn a_socket_another_origin_opens_is_refused_before_the_session_is_read() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/t/visit").await.body, "1");
    let calls = t.store.ops().len();
    for site in ["same-site", "cross-site"] {
        let request = handshake(&t, &cookie_of(&b), "http://evil.localhost", site);
        let tcp = tokio::net::TcpStream::connect(t.server.addr).await.unwrap();
        match tokio_tungstenite::client_async(request, tcp).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
            other => panic!("{site}: the handshake was not refused: {other:?}"),
        }
    }
    // As reqwest sees it: the JSON refusal, no cookie.
    let headers = [
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://evil.localhost"),
    ];
    let r = b
        .send_with_headers(Method::GET, "/socket", None, &headers)
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.json()["error"], "cross-origin request refused");
    assert!(r.set_cookies.is_empty(), "{r:?}");
    assert_eq!(t.store.ops().len(), calls, "no store call");
    assert_eq!(b.get("/t/peek").await.json()["visits"], 1);
}
