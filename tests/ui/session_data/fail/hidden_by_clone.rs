use session_axum::session_data;

// Through a `&Session<Prefs>`, `session.clone()` clones the reference.
#[session_data]
#[derive(Default)]
pub struct Prefs {
    pub clone: u32,
}

fn main() {}
