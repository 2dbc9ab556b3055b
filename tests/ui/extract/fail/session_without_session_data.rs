use session_axum::Session;

#[derive(Default)]
pub struct Plain {
    pub count: u64,
}

fn handler(session: Session<Plain>) {
    let _ = session;
}

fn main() {
    let _ = handler;
}
