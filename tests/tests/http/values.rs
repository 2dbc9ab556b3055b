//! `SessionValues` over real HTTP: untyped values persist like typed data.

use crate::app::start;

#[tokio::test]
async fn untyped_values_persist_across_requests_and_a_read_sets_no_cookie() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.get("/t/values-peek").await;
    assert_eq!(r.body, "null");
    assert!(r.set_cookies.is_empty(), "a read creates nothing");
    assert!(t.store.inner().is_empty());

    assert_eq!(b.get("/t/values-visit").await.body, "1");
    assert!(b.jar.contains_key("sid"), "the write made the session");
    assert_eq!(b.get("/t/values-visit").await.body, "2");
    let r = b.get("/t/values-peek").await;
    assert_eq!(r.body, "2");
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    // The typed counter of the same session is another field.
    assert_eq!(b.get("/t/peek").await.json()["visits"], 0);
}
