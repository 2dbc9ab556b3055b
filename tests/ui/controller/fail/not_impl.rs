use session_axum::controller;

#[controller("/session")]
pub struct SessionRoutes;

fn main() {}
