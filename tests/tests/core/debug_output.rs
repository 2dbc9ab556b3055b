//! `Debug` output of the values that hold secrets or personal data: keys,
//! tokens, whole session ids and session field values never show.

use session_core::{Binding, Key, SessionId, SessionValues, SigningKeys, TokenSigner};

use crate::support::{env, token};

/// The secret every key here is made from, in the forms a `Debug` could show.
const SECRET: [u8; 32] = [0xab; 32];
/// A field value standing for personal data.
const PERSONAL: &str = "ada.lovelace@example.com";

fn assert_hides(debug: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!debug.contains(secret), "{secret} shows in {debug}");
    }
}

fn key_forms() -> Vec<String> {
    vec!["ab".repeat(32), "171, 171".to_owned(), "AB".repeat(8)]
}

#[test]
fn keys_signers_and_ids_show_no_secret() {
    let key = Key::new(SECRET).unwrap();
    let keys = SigningKeys::single(key.clone());
    let signer = TokenSigner::new(keys.clone(), "id");
    let id = SessionId::generate();
    let token = signer.sign_id(&id);
    let forms = key_forms();
    let mut secrets: Vec<&str> = forms.iter().map(String::as_str).collect();
    let full = id.to_string();
    secrets.extend([full.as_str(), token.as_str()]);
    for debug in [
        format!("{key:?}"),
        format!("{keys:?}"),
        format!("{signer:?}"),
        format!("{id:?}"),
        format!("{:?}", id.short()),
    ] {
        assert_hides(&debug, &secrets);
    }
}

#[tokio::test]
async fn session_state_and_records_show_no_field_value() {
    let env = env();
    let cell = env.service.load(None).await.unwrap();
    cell.lock()
        .set_field("email", serde_json::to_string(PERSONAL).unwrap());
    SessionValues::new(cell.clone())
        .flash("notice", PERSONAL)
        .unwrap();
    let debug = format!("{cell:?}");
    assert_hides(&debug, &[PERSONAL]);
    let persisted = env.service.persist(&cell).await.unwrap();
    let t = token(&persisted);
    let id = persisted.id.unwrap();
    let record = env.service.record(&id).await.unwrap().unwrap();
    let full = id.to_string();
    assert_hides(&format!("{record:?}"), &[PERSONAL, &full, &t]);
    assert_hides(&format!("{:?}", record.fields), &[PERSONAL]);
    let loaded = env.service.load(Some(&t)).await.unwrap();
    assert_hides(&format!("{loaded:?}"), &[PERSONAL, &full, &t]);
    assert_hides(&format!("{:?}", env.service), &[&t]);
}

#[test]
fn bindings_show_the_user_but_no_secret() {
    let binding = Binding::user("ada").with_label("laptop");
    let debug = format!("{binding:?}");
    assert!(debug.contains("ada"), "{debug}");
}

#[test]
fn builders_show_no_key() {
    let key = Key::new(SECRET).unwrap();
    let forms = key_forms();
    let secrets: Vec<&str> = forms.iter().map(String::as_str).collect();
    let service = session_core::SessionService::builder().key(key.clone());
    assert_hides(&format!("{service:?}"), &secrets);
    let app = session_axum::App::builder().secret(key);
    assert_hides(&format!("{app:?}"), &secrets);
    let cookie = session_core::CookieStore::encrypted();
    assert_hides(&format!("{cookie:?}"), &secrets);
}
