use session_axum::core::{SessionData, Tracked};
use session_axum::session_data;

/// A field whose type names `Self`: its accessors live on `CrumbTracked`,
/// where `Self` would mean the tracked type.
#[session_data]
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Crumb {
    pub title: String,
    pub parent: Option<Box<Self>>,
}

fn main() {
    let parent = Crumb {
        title: "home".into(),
        parent: None,
    };
    let crumb = Crumb {
        title: "settings".into(),
        parent: Some(Box::new(parent)),
    };
    let back = Crumb::decode(&crumb.encode().unwrap()).unwrap();
    let mut tracked = CrumbTracked(Tracked::new(back));
    let parent: &Option<Box<Crumb>> = tracked.parent();
    assert_eq!(parent.as_ref().unwrap().title, "home");
    tracked.set_parent(None);
    assert!(tracked.parent().is_none());
}
