//! Route and guard attributes imported by name count as used: the
//! controller reads them itself, and its generated code names each as
//! written. Where they are not imported, a bare `#[get]` still works.
#![deny(warnings)]

mod named {
    use session_axum::prelude::{authenticated, controller, get, post, unauthenticated};

    pub struct Ctl;

    #[controller("/named")]
    #[authenticated]
    impl Ctl {
        #[get("/a")]
        async fn a() -> &'static str {
            "a"
        }

        #[post("/b")]
        #[unauthenticated]
        async fn b() -> &'static str {
            "b"
        }
    }
}

mod from_the_crate_root {
    use session_axum::{controller, delete};

    pub struct Ctl;

    #[controller("/root")]
    impl Ctl {
        #[delete("/a")]
        async fn a() -> &'static str {
            "a"
        }
    }
}

mod through_a_module {
    use session_axum::prelude;

    pub struct Ctl;

    #[prelude::controller("/module")]
    impl Ctl {
        #[prelude::put("/a")]
        async fn a() -> &'static str {
            "a"
        }
    }
}

mod not_imported {
    // A value named `get` beside it is not the attribute.
    use axum::routing::get;

    pub fn router() -> axum::Router {
        axum::Router::new().route("/", get(|| async { "plain" }))
    }

    pub struct Ctl;

    #[session_axum::controller("/bare")]
    impl Ctl {
        #[get("/a")]
        async fn a() -> &'static str {
            "a"
        }

        #[session_axum::patch("/b")]
        async fn b() -> &'static str {
            "b"
        }
    }
}

fn main() {
    let _ = not_imported::router();
}
