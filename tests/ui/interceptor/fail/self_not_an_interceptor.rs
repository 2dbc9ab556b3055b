use session_axum::interceptor;

#[interceptor]
#[derive(Default)]
pub struct Audit;

fn main() {}
