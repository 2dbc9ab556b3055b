use session_axum::prelude::*;

fn main() {
    let _ = App::builder().add_interceptor::<String>();
}
