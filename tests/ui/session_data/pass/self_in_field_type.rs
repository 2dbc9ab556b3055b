use session_axum::core::{SessionData, Tracked};
use session_axum::session_data;

/// Fields whose types name `Self` (also in an array length): their
/// accessors live on `CrumbTracked`, where `Self` would mean the tracked type.
#[session_data]
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Crumb {
    pub title: String,
    pub parent: Option<Box<Self>>,
    pub mark: [u8; Self::MARK],
}

impl Crumb {
    const MARK: usize = 2;
}

fn main() {
    let parent = Crumb {
        title: "home".into(),
        parent: None,
        mark: [0, 0],
    };
    let crumb = Crumb {
        title: "settings".into(),
        parent: Some(Box::new(parent)),
        mark: [1, 2],
    };
    let back = Crumb::decode(&crumb.encode().unwrap()).unwrap();
    let mut tracked = CrumbTracked(Tracked::new(back));
    let parent: &Option<Box<Crumb>> = tracked.parent();
    assert_eq!(parent.as_ref().unwrap().title, "home");
    assert_eq!(tracked.mark(), &[1, 2]);
    tracked.set_parent(None);
    assert!(tracked.parent().is_none());
}
