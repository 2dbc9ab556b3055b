use session_core::SessionData;

#[session_axum::session_data(crate = session_core)]
#[derive(Default)]
pub struct Visits {
    pub count: u64,
}

fn main() {
    assert_eq!(Visits::FIELDS, ["count"]);
}
