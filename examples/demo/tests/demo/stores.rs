//! The same demo on the file and cookie stores.

use reqwest::Method;

use crate::support::{Demo, data_dir, form_login, login_error_shown, path_arg, start_error};

#[tokio::test]
async fn file_store_keeps_users_logged_in_across_a_restart_and_a_kill() {
    let dir = data_dir("file");
    let args = ["--store", "file", "--data-dir", &path_arg(&dir)];
    let demo = Demo::start(&args, &[]);
    let mut b = demo.browser();
    b.get("/").await;
    form_login(&mut b, "roger", "roger-secret", "laptop").await;
    assert_eq!(b.send(Method::PUT, "/session/info", None).await.status, 204);
    assert!(
        dir.join("session.key").exists(),
        "the key is kept beside the data"
    );
    demo.terminate();

    // A clean restart: same key file, same data.
    let demo = Demo::start(&args, &[]);
    let mut b2 = demo.browser();
    b2.jar = b.jar.clone();
    assert_eq!(b2.get("/session/info/age").await.body, "20");
    assert_eq!(b2.get("/me").await.json()["user"], "roger");

    // A write acknowledged right before SIGKILL survives too.
    let r = b2.get("/").await;
    assert_eq!(r.status, 200);
    demo.kill();
    let demo = Demo::start(&args, &[]);
    let mut b3 = demo.browser();
    b3.jar = b2.jar.clone();
    assert!(b3.get("/").await.body.contains("You visited this page: 3"));
    assert_eq!(
        b3.get("/me/sessions")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn file_store_holds_a_user_to_the_per_user_limit() {
    let dir = data_dir("file-limit");
    let demo = Demo::start(&["--store", "file", "--data-dir", &path_arg(&dir)], &[]);
    crate::support::logins_past_the_limit_end_the_oldest(&demo).await;
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The demo logs to stderr, which an operator sends to a file, often on the
/// disk that holds the data too. With that disk full (here stderr is
/// `/dev/full`, where every write fails with `ENOSPC`), the log lines are
/// lost, but the demo goes on serving: it neither dies on its first log
/// line nor fails the requests that log one.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_log_that_cannot_be_written_does_not_stop_the_demo() {
    let dir = data_dir("full-log");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let args = ["--store", "file", "--data-dir", &path_arg(&dir)];
    let demo = Demo::start_logging_to(&args, &[("RUST_LOG", "debug")], full.into());
    let mut b = demo.browser();
    for visit in 1..=3 {
        let r = b.get("/").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains(&format!("You visited this page: {visit}")));
    }
    // A refused login logs at info level; its flash is shown once.
    form_login(&mut b, "roger", "wrong", "laptop").await;
    assert!(login_error_shown(&mut b).await);
    form_login(&mut b, "roger", "roger-secret", "laptop").await;
    assert_eq!(b.get("/me").await.json()["user"], "roger");
    demo.terminate();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A log sent to a file (not a terminal) is plain text: no colour escape
/// codes around the levels and fields.
#[tokio::test]
async fn a_log_sent_to_a_file_has_no_colour_codes() {
    let dir = data_dir("plain-log");
    let log_path = dir.join("demo.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let demo = Demo::start_logging_to(&[], &[("RUST_LOG", "info")], log.into());
    let mut b = demo.browser();
    form_login(&mut b, "roger", "wrong", "").await;
    demo.terminate();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("login refused"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "escape codes in the log: {text:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The log says at start where sessions are kept, so that a restart on
/// the file store shows which file it reads.
#[tokio::test]
async fn the_log_names_the_store_at_start() {
    let dir = data_dir("store-line");
    let log_path = dir.join("demo.log");
    let data = dir.join("data");
    let args = ["--store", "file", "--data-dir", &path_arg(&data)];
    let log = std::fs::File::create(&log_path).expect("log file");
    let demo = Demo::start_logging_to(&args, &[("RUST_LOG", "info")], log.into());
    demo.terminate();
    let text = std::fs::read_to_string(&log_path).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("sessions kept in a file store"))
        .unwrap_or_else(|| panic!("no store line: {text}"));
    let file = data.join("sessions.redb");
    assert!(line.contains(&*file.to_string_lossy()), "{line}");
    let log = std::fs::File::create(&log_path).expect("log file");
    let demo = Demo::start_logging_to(&[], &[("RUST_LOG", "info")], log.into());
    demo.terminate();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("sessions kept in memory"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A signing key in hex, as the key file holds one.
const DEMO_SECRET: &str = "5ec25ec25ec25ec25ec25ec25ec25ec25ec25ec25ec25ec25ec25ec25ec25ec2";

#[tokio::test]
async fn an_explicit_secret_is_used_instead_of_a_key_file() {
    let dir = data_dir("secret");
    let secret = DEMO_SECRET;
    let args = ["--store", "file", "--data-dir", &path_arg(&dir)];
    let demo = Demo::start(&args, &[("SESSION_SECRET", secret)]);
    let mut b = demo.browser();
    form_login(&mut b, "ada", "ada-secret", "").await;
    drop(demo);
    assert!(!dir.join("session.key").exists());
    let demo = Demo::start(&args, &[("SESSION_SECRET", secret)]);
    let mut b2 = demo.browser();
    b2.jar = b.jar.clone();
    assert_eq!(b2.get("/me").await.json()["user"], "ada");
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The key file's text given as `SESSION_SECRET` is the same key (moving
/// from the file to a secret store keeps users logged in), and a second key
/// rotates: added last it verifies only, moved first it signs, and the old
/// cookie is re-issued under it.
#[tokio::test]
async fn the_key_files_text_is_the_secret_and_a_second_key_rotates() {
    let dir = data_dir("rotate");
    let args = ["--store", "file", "--data-dir", &path_arg(&dir)];
    let demo = Demo::start(&args, &[]);
    let mut b = demo.browser();
    form_login(&mut b, "ada", "ada-secret", "").await;
    drop(demo);
    let old = std::fs::read_to_string(dir.join("session.key")).unwrap();
    let old = old.trim().to_owned();
    std::fs::remove_file(dir.join("session.key")).unwrap();
    // `/me` on a demo started with `secret`, the browser's cookies carried.
    let me = async |jar: &mut std::collections::BTreeMap<String, String>, secret: &str| {
        let demo = Demo::start(&args, &[("SESSION_SECRET", secret)]);
        let mut b = demo.browser();
        b.jar = jar.clone();
        let r = b.get("/me").await;
        *jar = b.jar;
        r
    };

    let r = me(&mut b.jar, &old).await;
    assert_eq!(r.json()["user"], "ada", "{r:?}");
    assert!(r.set_cookies.is_empty(), "the same key: {r:?}");
    let r = me(&mut b.jar, &format!("{old},{DEMO_SECRET}")).await;
    assert_eq!(r.json()["user"], "ada");
    assert!(r.set_cookies.is_empty(), "the new key only verifies: {r:?}");
    let r = me(&mut b.jar, &format!("{DEMO_SECRET},{old}")).await;
    assert_eq!(r.json()["user"], "ada");
    assert!(
        r.cookie("id").is_some(),
        "re-issued under the new key: {r:?}"
    );
    let r = me(&mut b.jar, DEMO_SECRET).await;
    assert_eq!(r.json()["user"], "ada", "{r:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_short_secret_is_refused_at_start() {
    let stderr = start_error(&[], &[("SESSION_SECRET", "00ff")]);
    assert!(stderr.contains("at least 32"), "{stderr}");
    let stderr = start_error(&[], &[("SESSION_SECRET", "a passphrase, not hex")]);
    assert!(stderr.contains("non-hex"), "{stderr}");
}

#[test]
fn a_bad_key_file_is_refused_before_the_store_file_is_created() {
    let dir = data_dir("bad-key");
    std::fs::write(dir.join("session.key"), "not a key").unwrap();
    let stderr = start_error(&["--store", "file", "--data-dir", &path_arg(&dir)], &[]);
    assert!(stderr.contains("does not hold a hex key"), "{stderr}");
    assert!(
        !dir.join("sessions.redb").exists(),
        "the store file was created for a demo that did not start"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A store that does not start leaves no key file (nor a data directory
/// made for it) behind: an unreachable Redis, or a file store that cannot
/// open its file. A working start still creates the key file (see
/// `file_store_keeps_users_logged_in_across_a_restart_and_a_kill`).
#[test]
fn a_store_that_fails_to_start_leaves_no_key_file_behind() {
    let dir = data_dir("store-down");
    let redis_dir = dir.join("redis");
    let url = format!("redis://127.0.0.1:{}", session_tests::redis::free_port());
    let stderr = start_error(
        &[
            "--store",
            "redis",
            "--redis-url",
            &url,
            "--data-dir",
            &path_arg(&redis_dir),
        ],
        &[],
    );
    assert!(stderr.contains("redis store"), "{stderr}");
    assert!(
        !redis_dir.exists(),
        "a failed start left {:?}",
        std::fs::read_dir(&redis_dir).map(|d| d.count())
    );

    // The file store's file cannot be opened: a directory is in its place.
    let file_dir = dir.join("file");
    std::fs::create_dir_all(file_dir.join("sessions.redb")).unwrap();
    let stderr = start_error(
        &["--store", "file", "--data-dir", &path_arg(&file_dir)],
        &[],
    );
    assert!(stderr.contains("file store"), "{stderr}");
    assert!(
        !file_dir.join("session.key").exists(),
        "key file left behind"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A second demo on the data directory another one holds is refused with
/// an error saying what holds it and what to do, not a panic; the first
/// goes on serving.
#[tokio::test]
async fn a_second_demo_on_the_same_data_dir_is_told_what_to_do() {
    let dir = data_dir("second");
    let args = ["--store", "file", "--data-dir", &path_arg(&dir)];
    let first = Demo::start(&args, &[]);
    let stderr = start_error(&args, &[]);
    assert!(stderr.contains("already open"), "{stderr}");
    assert!(
        stderr.contains("stop it, or give this one another --data-dir"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(first.browser().get("/").await.status, 200);
    first.terminate();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_address_in_use_is_named_in_the_start_error_with_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(["--addr", &addr])
        .output()
        .unwrap();
    assert!(!output.status.success(), "demo started on a taken port");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("give another --addr; 127.0.0.1:0 picks a free port"),
        "{stderr}"
    );
}

#[test]
fn help_shows_no_secret_from_the_environment() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_demo"))
        .arg("--help")
        .envs([
            ("REDIS_URL", "redis://:redis-password@10.0.0.5:6379"),
            ("SESSION_SECRET", "a-session-secret-of-at-least-32-bytes"),
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("REDIS_URL"), "{help}");
    assert!(!help.contains("redis-password"), "{help}");
    assert!(!help.contains("a-session-secret"), "{help}");
}

/// `--store redis` with no Redis at `REDIS_URL`: the start error names the
/// address tried (whose value `--help` hides), not its password.
#[test]
fn an_unreachable_redis_start_error_names_the_address_tried() {
    let port = session_tests::redis::free_port();
    let url = format!("redis://:redis-password@127.0.0.1:{port}");
    let stderr = start_error(
        &["--store", "redis"],
        &[("REDIS_URL", url.as_str()), ("SESSION_SECRET", DEMO_SECRET)],
    );
    assert!(
        stderr.contains(&format!("redis://***@127.0.0.1:{port}")),
        "the error does not name the Redis address: {stderr}"
    );
    assert!(!stderr.contains("redis-password"), "{stderr}");
}

#[tokio::test]
async fn cookie_store_serves_the_same_contract_except_revocation() {
    let dir = data_dir("cookie");
    let demo = Demo::start(&["--store", "cookie", "--data-dir", &path_arg(&dir)], &[]);
    let mut b = demo.browser();
    assert!(b.get("/").await.body.contains("You visited this page: 1"));
    form_login(&mut b, "roger", "wrong", "").await;
    assert!(login_error_shown(&mut b).await);
    assert!(!login_error_shown(&mut b).await, "shown once");
    let r = form_login(&mut b, "roger", "roger-secret", "").await;
    assert_eq!(r.headers["location"], "/me");
    assert!(b.get("/").await.body.contains("You visited this page: 2"));
    assert_eq!(b.send(Method::PUT, "/session/info", None).await.status, 204);
    assert_eq!(b.get("/session/info/age").await.body, "20");
    assert_eq!(b.get("/me").await.json()["group"], "staff");
    assert_eq!(
        b.get("/me/sessions").await.status,
        501,
        "no server-side listing"
    );
    let r = b.get("/session/logout").await;
    assert_eq!(r.cookie("id").and_then(|c| c.max_age), Some(0));
    assert_eq!(b.get("/session/info/age").await.status, 401);
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Redis server of the test's own and the demo's arguments for it, the
/// key file kept in a fresh data directory named `name`; `None` without
/// `redis-server` (outside CI).
fn on_redis(
    name: &str,
    extra: &[&str],
) -> Option<(
    session_tests::redis::RedisServer,
    std::path::PathBuf,
    Vec<String>,
)> {
    if !session_tests::redis::available() {
        return None;
    }
    let redis = session_tests::redis::RedisServer::start(&[]);
    let dir = data_dir(name);
    let mut args: Vec<String> = ["--store", "redis", "--redis-url", &redis.url()]
        .into_iter()
        .chain(extra.iter().copied())
        .map(str::to_owned)
        .collect();
    args.extend(["--data-dir".to_owned(), path_arg(&dir)]);
    Some((redis, dir, args))
}

/// `args` as `Demo::start` takes them.
fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn redis_store_serves_the_contract_and_survives_a_demo_restart() {
    let Some((_redis, dir, args)) = on_redis("redis", &[]) else {
        return;
    };
    let args = strs(&args);
    let demo = Demo::start(&args, &[]);
    let mut b = demo.browser();
    assert!(b.get("/").await.body.contains("You visited this page: 1"));
    form_login(&mut b, "ada", "ada-secret", "laptop").await;
    assert_eq!(b.send(Method::PUT, "/session/info", None).await.status, 204);
    let mut phone = demo.browser();
    form_login(&mut phone, "ada", "ada-secret", "phone").await;
    assert_eq!(
        b.get("/me/sessions").await.json().as_array().unwrap().len(),
        2
    );
    demo.kill();

    // Another app server (same key, same Redis) sees the same sessions.
    let demo = Demo::start(&args, &[]);
    let mut b2 = demo.browser();
    b2.jar = b.jar.clone();
    assert_eq!(b2.get("/session/info/age").await.body, "20");
    assert!(b2.get("/").await.body.contains("You visited this page: 2"));
    assert_eq!(
        b2.post("/me/sessions/revoke-others").await.json()["revoked"],
        1
    );
    let mut phone2 = demo.browser();
    phone2.jar = phone.jar.clone();
    assert_eq!(phone2.get("/me/sessions").await.status, 401);
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn redis_store_holds_a_user_to_the_per_user_limit() {
    let Some((_redis, dir, args)) = on_redis("redis-limit", &[]) else {
        return;
    };
    let demo = Demo::start(&strs(&args), &[]);
    crate::support::logins_past_the_limit_end_the_oldest(&demo).await;
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two apps on one Redis, each under its own `--redis-key-prefix`, with the
/// same signing key: neither lists, serves or revokes the other's sessions.
#[tokio::test]
async fn apps_under_different_key_prefixes_share_a_redis_apart() {
    let Some((redis, dir, args)) = on_redis("redis-prefixes", &[]) else {
        return;
    };
    let with_prefix = |prefix: &str| {
        let mut args = args.clone();
        args.extend(["--redis-key-prefix".to_owned(), prefix.to_owned()]);
        args
    };
    let (shop_args, blog_args) = (with_prefix("shop:"), with_prefix("blog:"));
    let shop = Demo::start(&strs(&shop_args), &[]);
    let blog = Demo::start(&strs(&blog_args), &[]);
    let mut laptop = shop.browser();
    form_login(&mut laptop, "ada", "ada-secret", "laptop").await;
    let mut phone = blog.browser();
    form_login(&mut phone, "ada", "ada-secret", "phone").await;

    for browser in [&mut laptop, &mut phone] {
        let listed = browser.get("/me/sessions").await.json();
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    }
    assert_eq!(
        laptop.post("/me/sessions/revoke-others").await.json()["revoked"],
        0
    );
    assert_eq!(phone.get("/session/info/age").await.status, 200);
    // The shop's cookie, verified by the same key, names no blog session.
    let mut stray = blog.browser();
    stray.jar = laptop.jar.clone();
    assert_eq!(stray.get("/session/info/age").await.status, 401);

    let keys = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "--scan"])
        .output()
        .expect("redis-cli runs");
    let keys = String::from_utf8_lossy(&keys.stdout);
    let prefixes: std::collections::BTreeSet<_> = keys
        .lines()
        .filter_map(|key| key.split_once(':'))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        prefixes.into_iter().collect::<Vec<_>>(),
        ["blog", "shop"],
        "{keys}"
    );
    drop((shop, blog));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn two_app_servers_with_local_caches_stay_coherent_through_redis() {
    let Some((_redis, dir, args)) = on_redis("redis-cached", &["--redis-local-cache", "1000"])
    else {
        return;
    };
    let args = strs(&args);
    let (a, b) = (Demo::start(&args, &[]), Demo::start(&args, &[]));
    let mut on_a = a.browser();
    form_login(&mut on_a, "ada", "ada-secret", "laptop").await;
    // The same browser, its requests served by either server. Each server
    // caches the session and the other one changes it; a request that
    // reaches Redis first (listing the sessions) has the invalidation, sent
    // before its reply, handled: the next page view counts on.
    let mut on_b = b.browser();
    on_b.jar = on_a.jar.clone();
    for visit in 1..=3 {
        for (browser, count) in [(&mut on_a, 2 * visit - 1), (&mut on_b, 2 * visit)] {
            assert_eq!(browser.get("/me/sessions").await.status, 200);
            let page = browser.get("/").await.body;
            assert!(
                page.contains(&format!("visited this page: {count}")),
                "visit {count}: {page}"
            );
        }
    }
    let mut phone = a.browser();
    form_login(&mut phone, "ada", "ada-secret", "phone").await;
    assert_eq!(phone.get("/session/info/age").await.status, 200);

    // Revoked on B: A, which holds the phone's session in its cache, stops
    // accepting it once Redis's invalidation arrives.
    assert_eq!(
        on_b.post("/me/sessions/revoke-others").await.json()["revoked"],
        1
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = phone.get("/session/info/age").await.status;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "server A still serves a session revoked on B"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreachable_redis_is_a_clear_start_error() {
    let url = format!("redis://127.0.0.1:{}", session_tests::redis::free_port());
    let stderr = start_error(
        &["--store", "redis", "--redis-url", &url],
        &[("SESSION_SECRET", DEMO_SECRET)],
    );
    assert!(stderr.contains("redis store"), "{stderr}");
}

/// `redis-cli -p <port> <args>`, its output.
fn redis_cli(redis: &session_tests::redis::RedisServer, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test]
async fn stored_account_data_whose_field_is_not_a_string_means_no_session_login_included() {
    let Some((redis, dir, args)) = on_redis("redis-invalid", &[]) else {
        return;
    };
    let demo = Demo::start(&strs(&args), &[]);
    let mut b = demo.browser();
    form_login(&mut b, "roger", "roger-secret", "laptop").await;
    assert_eq!(b.send(Method::PUT, "/session/info", None).await.status, 204);
    assert_eq!(b.get("/session/info/age").await.body, "20");
    assert_eq!(b.get("/me").await.json()["user"], "roger");

    // Behind the app's back, `field` becomes a number: hexancore's
    // `c(plain)` refuses data whose `field` is not a string.
    let keys = redis_cli(&redis, &["--scan", "--pattern", "session:s:*"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    redis_cli(&redis, &["HSET", keys[0], "f:field", "5"]);

    let me = b.get("/me").await.json();
    assert_eq!(
        (me["user"].clone(), me["authenticated"].clone()),
        (serde_json::Value::Null, false.into()),
        "{me}"
    );
    assert_eq!(b.get("/session/info/age").await.status, 401);
    assert_eq!(b.get("/me/sessions").await.status, 401);
    assert_eq!(
        redis_cli(&redis, &["HGET", keys[0], "f:field"]).trim(),
        "5",
        "the stored data is left as it was"
    );
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}
