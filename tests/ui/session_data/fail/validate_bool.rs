use session_axum::session_data;

#[session_data(validate = name_given)]
#[derive(Default)]
pub struct Info {
    pub name: String,
}

fn name_given(info: &Info) -> bool {
    !info.name.is_empty()
}

fn main() {}
