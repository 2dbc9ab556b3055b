// The generated code names everything by full path: it compiles in a module
// without the prelude.
#![allow(dead_code)]

mod m {
    #![no_implicit_prelude]

    #[::session_axum::session_data(validate = valid)]
    #[derive(::core::default::Default)]
    pub struct Data {
        pub count: u64,
        #[serde(default = "seven")]
        pub seven: u32,
        #[serde(skip)]
        pub cache: u8,
    }

    pub fn seven() -> u32 {
        7
    }

    fn valid(_: &Data) -> ::core::result::Result<(), &'static str> {
        ::core::result::Result::Ok(())
    }

    #[derive(::core::default::Default)]
    pub struct Ctl;

    #[::session_axum::controller("/np")]
    impl Ctl {
        #[get("/{n}")]
        async fn a(&self, _n: ::session_axum::axum::extract::Path<u32>) -> &'static str {
            "a"
        }

        #[get("/")]
        async fn b() -> &'static str {
            "b"
        }

        #[post("/sensitive")]
        #[authenticated(permissions = ["admin"], recent_login_secs = 300)]
        async fn c() -> &'static str {
            "c"
        }
    }
}

fn main() {}
