//! A field attribute the macro refuses is the only error: the struct's
//! other code is still generated, so its uses add none of their own.
use session_axum::{Session, session_data};

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Info {
    #[serde(skip_deserializing)]
    pub visits: u64,
    pub name: String,
}

pub fn read(mut session: Session<Info>) -> u64 {
    session.set_name("a".to_owned());
    session.update_visits(|v| *v += 1);
    *session.visits()
}

fn main() {}
