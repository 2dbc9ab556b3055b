//! WebSocket routes: the handshake is authenticated and checked like a
//! write (a socket another site opened would write with the browser's
//! cookies), a change made before the upgrade is saved when the handle
//! is committed before it moves into the socket, and a socket that selects
//! on `Auth::session_end` closes with its session.

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt as _, StreamExt as _};
use http::header::{COOKIE, ORIGIN};
use reqwest::Method;
use session_axum::{Auth, Session, SigningKeys};
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

/// Counts the visit (a browser without a session gets one), then echoes
/// until the session ends.
async fn watched_socket(
    mut session: Session<Counters>,
    auth: Auth,
    ws: WebSocketUpgrade,
) -> Response {
    session.update(|c| c.visits += 1);
    session.commit().expect("a count encodes");
    let ended = auth.session_end(WATCH_EVERY).expect("a server-side store");
    ws.on_upgrade(move |socket| async move {
        tokio::select! {
            () = ended => {}
            () = echo_with(socket, session) => {}
        }
    })
}

const WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

async fn start() -> TestApp {
    start_with(SigningKeys::single(key(1)), |b| {
        b.merge(
            Router::new()
                .route("/socket", get(counted_socket))
                .route("/watched", get(watched_socket)),
        )
    })
    .await
}

/// A browser's handshake as it sends one from a page of `origin`.
fn handshake(t: &TestApp, cookie: &str, origin: &str, site: &str) -> http::Request<()> {
    handshake_to(t, "/socket", cookie, origin, site)
}

fn handshake_to(
    t: &TestApp,
    path: &str,
    cookie: &str,
    origin: &str,
    site: &str,
) -> http::Request<()> {
    let url = format!("ws://{}{path}", t.server.addr);
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

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens `/watched` from the app's own origin, with `cookie` (none: `""`).
async fn open_watched(t: &TestApp, cookie: &str) -> (Socket, http::Response<Option<Vec<u8>>>) {
    let origin = format!("http://{}", t.server.addr);
    let mut request = handshake_to(t, "/watched", "", &origin, "same-origin");
    if cookie.is_empty() {
        request.headers_mut().remove(COOKIE);
    } else {
        request
            .headers_mut()
            .insert(COOKIE, cookie.parse().unwrap());
    }
    let tcp = tokio::net::TcpStream::connect(t.server.addr).await.unwrap();
    let (socket, response) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("the handshake is taken");
    assert_eq!(response.status(), 101);
    (socket, response)
}

/// Whether the socket still answers, after several of the watch's checks.
async fn still_answers(socket: &mut Socket) -> bool {
    tokio::time::sleep(WATCH_EVERY * 5).await;
    if socket
        .send(tungstenite::Message::Text("visits".into()))
        .await
        .is_err()
    {
        return false;
    }
    matches!(socket.next().await, Some(Ok(tungstenite::Message::Text(_))))
}

/// Waits for the server to close the socket; panics after 10 s.
async fn closed_by_server(socket: &mut Socket) {
    let closed = async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(tungstenite::Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), closed)
        .await
        .expect("the server closes the socket once its session ended");
}

#[tokio::test]
async fn a_watched_socket_closes_when_its_session_is_logged_out_elsewhere() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=alice").await.status, 204);
    let (mut socket, _) = open_watched(&t, &cookie_of(&b)).await;
    assert!(
        still_answers(&mut socket).await,
        "open while the session lives"
    );
    assert_eq!(b.post("/t/logout").await.status, 204);
    closed_by_server(&mut socket).await;
}

#[tokio::test]
async fn a_watched_socket_closes_when_its_user_is_revoked() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=alice").await.status, 204);
    let (mut socket, _) = open_watched(&t, &cookie_of(&b)).await;
    assert!(still_answers(&mut socket).await);
    assert_eq!(t.service.revoke_all("alice", None).await.unwrap(), 1);
    closed_by_server(&mut socket).await;
}

/// The handshake made the session: its id exists only once it is stored,
/// after the handler, and that is the session watched.
#[tokio::test]
async fn a_session_the_handshake_created_is_the_one_watched() {
    let t = start().await;
    let (mut socket, response) = open_watched(&t, "").await;
    let set_cookie = response.headers()[http::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert!(still_answers(&mut socket).await, "the new session is live");
    let mut b = t.server.browser();
    let r = b
        .send_with_headers(Method::POST, "/t/logout", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    closed_by_server(&mut socket).await;
}

/// An outage must not close every socket: the watch waits it out.
#[tokio::test]
async fn a_store_outage_leaves_watched_sockets_open() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=alice").await.status, 204);
    let (mut socket, _) = open_watched(&t, &cookie_of(&b)).await;
    t.store.set_down(true);
    assert!(still_answers(&mut socket).await, "open through the outage");
    t.store.set_down(false);
    assert!(still_answers(&mut socket).await);
    assert_eq!(b.post("/t/logout").await.status, 204);
    closed_by_server(&mut socket).await;
}
