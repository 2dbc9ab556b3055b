// Generated code names primitives through `::core::primitive`: a module
// whose own items shadow `usize`, `str` or `bool` (legal, if unusual) still
// compiles, as it does with `Option`, `Result`, `String` or `Session`
// shadowed.
#![allow(non_camel_case_types, dead_code)]

mod shadowing {
    use session_axum::core::SessionData;
    use session_axum::session_data;

    struct usize;
    struct str;
    struct bool;

    fn check(_: &Info) -> ::core::result::Result<(), &'static ::core::primitive::str> {
        ::core::result::Result::Ok(())
    }

    #[session_data(validate = check, authenticated = user)]
    #[derive(Debug, Clone, Default)]
    pub struct Info {
        pub user: ::core::option::Option<::std::string::String>,
        pub level: ::core::primitive::u32,
    }

    pub fn run() {
        assert_eq!(Info::FIELDS.len(), 2);
        assert!(!Info::default().is_authenticated());
    }
}

fn main() {
    shadowing::run();
}
