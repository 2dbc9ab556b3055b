use session_axum::prelude::*;

fn check(_: &Shop) -> Result<(), String> {
    Ok(())
}

#[session_data(validate = "check")]
#[derive(Debug, Clone, Default)]
pub struct Shop {
    pub views: u64,
}

#[session_data(group_id = "team")]
#[derive(Debug, Clone, Default)]
pub struct Member {
    pub team: Option<String>,
}

fn main() {}
