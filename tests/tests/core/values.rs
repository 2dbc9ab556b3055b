//! `SessionValues`: session data as named JSON values, tracked like typed
//! fields.

use session_core::conformance::StoreOp;
use session_core::{PersistOutcome, SessionDataError, SessionValues};

use crate::support::{env, token};

async fn stored(env: &crate::support::Env) -> String {
    let values = SessionValues::new(env.service.load(None).await.unwrap());
    values.insert("visits", 1u64).unwrap();
    values.insert("theme", "dark").unwrap();
    let t = token(&env.service.persist(values.cell()).await.unwrap());
    env.store.clear();
    t
}

#[tokio::test]
async fn values_read_back_and_only_a_changed_one_is_written() {
    let env = env();
    let t = stored(&env).await;
    let values = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    assert_eq!(values.get::<u64>("visits").unwrap(), Some(1));
    assert_eq!(
        values.get::<String>("theme").unwrap().as_deref(),
        Some("dark")
    );
    assert_eq!(values.keys(), ["theme", "visits"]);

    values.insert("visits", 1u64).unwrap();
    let persisted = env.service.persist(values.cell()).await.unwrap();
    assert_eq!(
        persisted.outcome,
        PersistOutcome::Unchanged,
        "an equal value"
    );
    assert!(env.store.writes().is_empty());

    let values = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    values.insert("visits", 2u64).unwrap();
    assert_eq!(
        values.get::<u64>("visits").unwrap(),
        Some(2),
        "sees its write"
    );
    env.service.persist(values.cell()).await.unwrap();
    let writes = env.store.writes();
    let [StoreOp::Save(_, patch)] = writes.as_slice() else {
        panic!("{writes:?}")
    };
    assert_eq!(
        patch.set_fields.iter().collect::<Vec<_>>(),
        [("visits", "2")]
    );
}

#[tokio::test]
async fn a_removed_value_is_removed_from_the_store() {
    let env = env();
    let t = stored(&env).await;
    let values = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    assert!(values.remove("theme"));
    assert!(!values.remove("theme"), "already gone");
    assert!(!values.contains("theme"));
    env.service.persist(values.cell()).await.unwrap();
    let writes = env.store.writes();
    let [StoreOp::Save(_, patch)] = writes.as_slice() else {
        panic!("{writes:?}")
    };
    assert_eq!(patch.removed_fields, [Box::from("theme")]);
    let again = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    assert_eq!(again.keys(), ["visits"]);
}

#[tokio::test]
async fn a_request_that_only_reads_creates_nothing() {
    let env = env();
    let values = SessionValues::new(env.service.load(None).await.unwrap());
    assert_eq!(values.get::<u64>("visits").unwrap(), None);
    assert!(!values.remove("visits"));
    let persisted = env.service.persist(values.cell()).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Unchanged);
    assert!(env.store.ops().is_empty());
}

#[tokio::test]
async fn a_value_of_another_type_is_an_error_naming_its_key() {
    let env = env();
    let t = stored(&env).await;
    let values = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    let error = values.get::<u64>("theme").unwrap_err();
    assert!(
        matches!(&error, SessionDataError::InvalidField { field, .. } if field == "theme"),
        "{error}"
    );
}

#[tokio::test]
async fn a_value_json_cannot_hold_is_refused_and_nothing_changes() {
    let env = env();
    let t = stored(&env).await;
    let values = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    let error = values.insert("visits", f64::NAN).unwrap_err();
    assert!(matches!(error, SessionDataError::Encode { .. }), "{error}");
    assert_eq!(values.get::<u64>("visits").unwrap(), Some(1));
    let persisted = env.service.persist(values.cell()).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Unchanged);
}

/// A typed field and a value of the same name are one stored field.
#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Visits {
    pub visits: u64,
}

#[tokio::test]
async fn a_typed_field_and_a_value_of_its_name_are_the_same_field() {
    let env = env();
    let t = stored(&env).await;
    let cell = env.service.load(Some(&t)).await.unwrap();
    let values = SessionValues::new(cell.clone());
    values.insert("visits", 5u64).unwrap();
    let typed = env.service.typed::<Visits>(&cell).unwrap();
    assert_eq!(typed.visits, 5);
    drop(typed);
    env.service.persist(&cell).await.unwrap();
    let mut typed = env.service.get::<Visits>(Some(&t)).await.unwrap();
    assert_eq!(typed.visits, 5);
    typed.set_visits(6);
    env.service.commit(&mut typed).await.unwrap();
    let values = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    assert_eq!(values.get::<u64>("visits").unwrap(), Some(6));
    assert_eq!(
        values.get::<String>("theme").unwrap().as_deref(),
        Some("dark")
    );
}

#[tokio::test]
async fn a_flash_without_a_type_is_read_once_beside_a_value_of_its_name() {
    let env = env();
    let t = stored(&env).await;
    let values = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    values.flash("theme", "saved").unwrap();
    assert_eq!(
        values.take_flash::<String>("theme"),
        None,
        "for a later request"
    );
    env.service.persist(values.cell()).await.unwrap();

    let values = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    assert_eq!(
        values.take_flash::<String>("theme").as_deref(),
        Some("saved")
    );
    assert_eq!(
        values.get::<String>("theme").unwrap().as_deref(),
        Some("dark")
    );
    env.service.persist(values.cell()).await.unwrap();
    let values = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    assert_eq!(values.take_flash::<String>("theme"), None, "read once");
}

#[tokio::test]
async fn clear_rotate_and_destroy_as_tower_sessions_names_them() {
    let env = env();
    let t = stored(&env).await;
    let values = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    let old = values.session_id().unwrap();
    let new = values.rotate().expect("a stored session moves");
    assert_ne!(new, old);
    assert_eq!(values.session_id(), Some(new));
    values.clear();
    assert!(values.keys().is_empty());
    let moved = token(&env.service.persist(values.cell()).await.unwrap());
    assert!(
        env.service
            .load(Some(&t))
            .await
            .unwrap()
            .lock()
            .record()
            .is_none(),
        "old id"
    );
    let values = SessionValues::new(env.service.load(Some(&moved)).await.unwrap());
    assert_eq!(values.session_id(), Some(new));
    assert!(values.keys().is_empty(), "cleared");

    values.destroy();
    env.service.persist(values.cell()).await.unwrap();
    assert!(
        env.service.record(&new).await.unwrap().is_none(),
        "destroyed"
    );
}

#[tokio::test]
async fn a_new_session_has_no_id_and_nothing_to_rotate() {
    let env = env();
    let values = SessionValues::new(env.service.load(None).await.unwrap());
    assert_eq!(values.session_id(), None);
    assert_eq!(values.rotate(), None);
}

/// Values and flashes are given by value (`format!(..)`, a `Vec`) as well
/// as by reference, and read back alike.
#[tokio::test]
async fn values_and_flashes_are_given_by_value_or_by_reference() {
    let env = env();
    let values = SessionValues::new(env.service.load(None).await.unwrap());
    let cart = vec![1u32, 2];
    values
        .insert("greeting", format!("hello {}", "ada"))
        .unwrap();
    values.insert("cart", &cart).unwrap();
    values
        .flash("notice", format!("{} items", cart.len()))
        .unwrap();
    values.flash("items", cart).unwrap();
    let t = token(&env.service.persist(values.cell()).await.unwrap());
    let values = SessionValues::new(env.service.load(Some(&t)).await.unwrap());
    assert_eq!(
        values.get::<String>("greeting").unwrap().as_deref(),
        Some("hello ada")
    );
    assert_eq!(values.get::<Vec<u32>>("cart").unwrap(), Some(vec![1, 2]));
    assert_eq!(
        values.take_flash::<String>("notice").as_deref(),
        Some("2 items")
    );
    assert_eq!(values.take_flash::<Vec<u32>>("items"), Some(vec![1, 2]));
}
