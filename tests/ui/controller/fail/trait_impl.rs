use session_axum::prelude::*;

pub struct SessionRoutes;

#[controller("/session")]
impl Default for SessionRoutes {
    fn default() -> Self {
        SessionRoutes
    }
}

fn main() {}
