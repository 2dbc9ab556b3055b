//! Starts the real `demo` binary on a free port and stops it by process id.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use session_tests::http::Browser;

pub struct Demo {
    child: Child,
    pub addr: SocketAddr,
}

impl Demo {
    /// Starts `demo` with `args` (plus `--addr 127.0.0.1:0`) and waits for its "listening" line.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Demo {
        Self::start_logging_to(args, envs, Stdio::inherit())
    }

    /// [`start`](Self::start), its log (stderr) sent to `log`.
    pub fn start_logging_to(args: &[&str], envs: &[(&str, &str)], log: Stdio) -> Demo {
        let mut command = Command::new(env!("CARGO_BIN_EXE_demo"));
        command
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("SESSION_SECRET")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("demo starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(100)) {
                break addr.parse().expect("address");
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("demo exited early: {status}");
            }
            assert!(Instant::now() < deadline, "demo did not start in time");
        };
        Demo { child, addr }
    }

    pub fn browser(&self) -> Browser {
        Browser::new(self.addr)
    }

    /// `POST /api/token` with JSON credentials.
    pub async fn request_token(
        &self,
        user: &str,
        password: &str,
        label: &str,
    ) -> reqwest::Response {
        self.request_token_with_cookie(user, password, label, None)
            .await
    }

    /// `POST /api/token`, sending `cookie` (`name=value`) along when given.
    pub async fn request_token_with_cookie(
        &self,
        user: &str,
        password: &str,
        label: &str,
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut request = session_tests::http::client()
            .post(format!("http://{}/api/token", self.addr))
            .json(&serde_json::json!({"username": user, "password": password, "label": label}));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// A bearer token from `POST /api/token`.
    pub async fn token(&self, user: &str, password: &str, label: &str) -> String {
        let reply: serde_json::Value = self
            .request_token(user, password, label)
            .await
            .json()
            .await
            .unwrap();
        reply["token"].as_str().expect("token").to_owned()
    }

    /// Stops the demo with SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the demo with SIGTERM and waits for it to exit by itself.
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("demo did not stop on SIGTERM");
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `demo` expecting it to refuse to start; returns its stderr.
pub fn start_error(args: &[&str], envs: &[(&str, &str)]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env_remove("SESSION_SECRET")
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success(), "demo started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh data directory for one test.
pub fn data_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sessions-demo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

pub fn path_arg(dir: &Path) -> String {
    dir.to_string_lossy().into_owned()
}

/// `POST path` with `body` as it is, of `content_type`; redirects not followed.
pub async fn send_raw(
    demo: &Demo,
    path: &str,
    content_type: &str,
    body: String,
) -> reqwest::Response {
    session_tests::http::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("http://{}{path}", demo.addr))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Logs in through the HTML form.
pub async fn form_login(
    b: &mut Browser,
    user: &str,
    password: &str,
    label: &str,
) -> session_tests::http::Reply {
    b.send(
        reqwest::Method::POST,
        "/login",
        Some(&[("username", user), ("password", password), ("label", label)]),
    )
    .await
}

/// Whether `GET /login` shows the failed-login flash.
pub async fn login_error_shown(b: &mut Browser) -> bool {
    b.get("/login")
        .await
        .body
        .contains("Invalid username or password")
}

/// Logs one user in `MAX_SESSIONS_PER_USER` times and once more: the
/// first session ends, its browser logged out, and the user keeps the limit.
pub async fn logins_past_the_limit_end_the_oldest(demo: &Demo) {
    let mut first = demo.browser();
    form_login(&mut first, "grace", "grace-secret", "first").await;
    // Its last use strictly before the others'.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut api = demo.browser();
    for n in 1..demo::MAX_SESSIONS_PER_USER {
        api.bearer = Some(
            demo.token("grace", "grace-secret", &format!("cli {n}"))
                .await,
        );
    }
    let list = first.get("/me/sessions").await.json();
    assert_eq!(list.as_array().unwrap().len(), demo::MAX_SESSIONS_PER_USER);

    api.bearer = Some(demo.token("grace", "grace-secret", "one more").await);
    assert_eq!(first.get("/me/sessions").await.status, 401, "ended");
    let list = api.get("/me/sessions").await.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), demo::MAX_SESSIONS_PER_USER);
    assert_eq!(list[0]["label"], "one more");
    assert!(list.iter().all(|s| s["label"] != "first"));
}
