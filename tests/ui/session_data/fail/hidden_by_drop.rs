use session_axum::session_data;

// `session.drop()` names the handle's destructor, never the getter.
#[session_data]
#[derive(Default)]
pub struct Order {
    pub drop: bool,
}

fn main() {}
