//! The Redis password never shows in Debug output or errors.

use session_redis::RedisStore;

#[test]
fn the_builders_debug_output_does_not_show_the_redis_password() {
    let builder = RedisStore::builder().url("redis://app:hunter2-secret@127.0.0.1:6379/0");
    let debug = format!("{builder:?}");
    assert!(!debug.contains("hunter2-secret"), "{debug}");
    let cluster = RedisStore::builder().cluster_urls(["redis://:hunter2-secret@10.0.0.1:7000"]);
    let debug = format!("{cluster:?}");
    assert!(!debug.contains("hunter2-secret"), "{debug}");
}

#[test]
fn a_url_that_does_not_parse_is_refused_without_echoing_the_password() {
    for url in [
        "redis://app:hunter2-secret@127.0.0.1:notaport/0",
        "redis://app:hunter2-secret@127.0.0.1:6379/notadb",
        "redis://app:hunter2-secret@[::1/0",
        "redis+bogus://app:hunter2-secret@host/0",
    ] {
        match RedisStore::builder().url(url).build() {
            Ok(_) => {}
            Err(error) => {
                let text = format!("{error} {error:?}");
                assert!(!text.contains("hunter2-secret"), "{url}: {text}");
            }
        }
    }
}

/// A password with a `/`, `?` or `#` (a base64 one, written unescaped): the
/// URL no longer parses, and its Debug output and display form, which a
/// start-up error shows, still mask all of it.
#[test]
fn a_password_holding_url_delimiters_is_masked_whole() {
    for (url, password) in [
        ("redis://:hunter2/x+Yz==@127.0.0.1:6379/0", "hunter2/x+Yz=="),
        ("redis://app:hun?ter2@127.0.0.1:6379", "ter2"),
        ("redis://app:hun#ter2@127.0.0.1:6379", "ter2"),
    ] {
        let builder = RedisStore::builder().url(url);
        let debug = format!("{builder:?} {}", session_redis::display_url(url));
        for part in [password, "hun"] {
            assert!(!debug.contains(part), "{url}: {debug}");
        }
        if let Err(error) = builder.build() {
            let text = format!("{error} {error:?}");
            assert!(!text.contains(password), "{url}: {text}");
        }
    }
}
