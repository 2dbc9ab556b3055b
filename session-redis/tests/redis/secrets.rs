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
