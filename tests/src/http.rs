//! A real server bound on 127.0.0.1 and a client that keeps cookies the way a
//! browser does (by name; `Max-Age=0` removes), so tests can also tamper with them.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Router;
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use tokio::sync::oneshot;

/// A server on a free loopback port, stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(router: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        Self {
            addr,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn browser(&self) -> Browser {
        Browser::new(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One `Set-Cookie` line, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct SetCookie {
    pub raw: String,
    pub name: String,
    pub value: String,
    pub max_age: Option<i64>,
}

impl SetCookie {
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split(';');
        let (name, value) = parts.next()?.trim().split_once('=')?;
        let max_age = parts
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("max-age"))
            .and_then(|(_, v)| v.parse().ok());
        Some(Self {
            raw: raw.to_owned(),
            name: name.to_owned(),
            value: value.to_owned(),
            max_age,
        })
    }

    pub fn has(&self, attribute: &str) -> bool {
        self.raw
            .split(';')
            .any(|p| p.trim().eq_ignore_ascii_case(attribute))
    }
}

/// A response with the parts tests look at.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    pub set_cookies: Vec<SetCookie>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn cookie(&self, name: &str) -> Option<&SetCookie> {
        self.set_cookies.iter().find(|c| c.name == name)
    }
}

/// The headers a browser sends with a page load the user asked for.
pub const NAVIGATION: &[(&str, &str)] = &[
    (
        "accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ),
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-dest", "document"),
];

/// A client for the servers the tests start on loopback: never through a
/// proxy, whatever `HTTP_PROXY` says (reqwest reads it, and does not leave
/// loopback out).
pub fn client() -> reqwest::Client {
    client_builder().build().expect("client")
}

/// [`client`]'s builder, for more settings.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().no_proxy()
}

/// A client with a cookie jar.
pub struct Browser {
    addr: SocketAddr,
    client: reqwest::Client,
    pub jar: BTreeMap<String, String>,
    pub bearer: Option<String>,
}

impl Browser {
    pub fn new(addr: SocketAddr) -> Self {
        let client = client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            addr,
            client,
            jar: BTreeMap::new(),
            bearer: None,
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str) -> Reply {
        self.send(reqwest::Method::POST, path, None).await
    }

    pub async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Reply {
        self.send_with_headers(method, path, form, &[]).await
    }

    /// A page load as a browser sends it when the user navigates: `GET`,
    /// asking for HTML, `Sec-Fetch-Mode: navigate`.
    pub async fn navigate(&mut self, path: &str) -> Reply {
        self.send_with_headers(reqwest::Method::GET, path, None, NAVIGATION)
            .await
    }

    /// The `Cookie` header the jar sends.
    pub fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// `send` with extra request headers.
    pub async fn send_with_headers(
        &mut self,
        method: reqwest::Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("http://{}{}", self.addr, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if !self.jar.is_empty() {
            request = request.header(COOKIE, self.cookie_header());
        }
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("body");
        let set_cookies: Vec<SetCookie> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(SetCookie::parse)
            .collect();
        for c in &set_cookies {
            if c.max_age == Some(0) || c.value.is_empty() {
                self.jar.remove(&c.name);
            } else {
                self.jar.insert(c.name.clone(), c.value.clone());
            }
        }
        Reply {
            status,
            headers,
            body,
            set_cookies,
        }
    }
}
