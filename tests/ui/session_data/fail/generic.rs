use session_axum::session_data;

#[session_data]
#[derive(Default)]
pub struct Info<T> {
    pub value: T,
}

#[session_data]
#[derive(Default)]
pub struct Bounded
where
    u32: Copy,
{
    pub value: u32,
}

fn main() {}
