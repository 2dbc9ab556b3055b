//! Code the macros generate, under the lints a strict crate denies: any
//! warning it raises is one the user cannot silence on the item. Built by
//! `cargo test` (rustc's lints) and by the workspace's
//! `cargo clippy --all-targets -- -D warnings` (clippy's).
#![deny(
    missing_docs,
    unsafe_code,
    unused_qualifications,
    unused,
    unused_lifetimes,
    deprecated,
    clippy::all,
    clippy::impl_trait_in_params
)]

use session_axum::prelude::*;
use session_axum::{AppContext, BuildError, SessionInterceptor};

/// Session data.
pub mod data {
    use std::collections::HashSet;

    use session_axum::prelude::*;

    /// A trait of the app's own, in scope for every type, whose methods
    /// share the names of common checks: the generated code's method
    /// calls must still pick its own.
    pub trait Everywhere {
        /// A check.
        fn check(&self) -> u8 {
            0
        }
        /// A comparison.
        fn same(&self, _: &Self, _: &str) -> Option<bool> {
            None
        }
    }

    impl<T: ?Sized> Everywhere for T {}

    /// Every argument and supported serde attribute.
    #[session_data(validate = check, group_id = team, authenticated = user)]
    #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
    pub struct Info {
        /// Group.
        pub team: Option<String>,
        /// Principal.
        pub user: Option<String>,
        /// Type default.
        #[serde(default)]
        pub level: u32,
        /// Not stored.
        #[serde(skip, default)]
        pub cache: u32,
        /// Names `Self`.
        pub parent: Option<Box<Self>>,
        /// Path default and an alias.
        #[serde(default = "seven", alias = "old")]
        pub seven: u32,
        /// Compared by value.
        pub set: HashSet<u32>,
        /// Crate-visible.
        pub(crate) inner: u32,
        /// A raw identifier.
        pub r#type: u32,
    }

    fn seven() -> u32 {
        7
    }

    /// A field type private to this module in a public struct: the
    /// generated impls must not expose it in their bounds (`private_bounds`).
    #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Hidden(u32);

    /// A public struct with a private field type.
    #[session_data]
    #[derive(Debug, Clone, Default)]
    pub struct WithPrivate {
        hidden: Hidden,
    }

    fn check(_: &Info) -> Result<(), String> {
        Ok(())
    }

    /// No fields.
    #[session_data]
    #[derive(Debug, Clone, Default)]
    pub struct Empty {}

    /// Only a skipped field with a default: `decode` assigns it right after
    /// `Default::default()` (`clippy::field_reassign_with_default`).
    #[session_data]
    #[derive(Debug, Clone, Default)]
    pub struct OnlySkipped {
        /// Not stored.
        #[serde(skip, default = "seven")]
        pub x: u32,
    }
}

/// Built with `Default`.
#[interceptor(depends_on = [SessionInterceptor])]
#[derive(Debug, Default)]
pub struct Audit;

#[async_trait]
impl Interceptor for Audit {
    async fn intercept(
        &self,
        request: axum::extract::Request,
        next: Next,
    ) -> axum::response::Response {
        next.run(request).await
    }
}

/// Built with `FromApp`.
#[derive(Debug)]
pub struct Limits;

impl FromApp for Limits {
    fn from_app(_: &AppContext) -> Result<Self, BuildError> {
        Ok(Self)
    }
}

#[interceptor(from_app, depends_on = [Audit], runs_before = [session_axum::AuthInterceptor])]
#[async_trait]
impl Interceptor for Limits {
    async fn intercept(
        &self,
        request: axum::extract::Request,
        next: Next,
    ) -> axum::response::Response {
        next.run(request).await
    }
}

/// Left out of the registry, for the apps that add it.
#[interceptor(registry = false, depends_on = [Audit])]
#[derive(Debug, Default)]
pub struct AdminAudit;

#[async_trait]
impl Interceptor for AdminAudit {
    async fn intercept(
        &self,
        request: axum::extract::Request,
        next: Next,
    ) -> axum::response::Response {
        next.run(request).await
    }
}

/// Routes: `&self` and associated, a `#[cfg]` parameter, `Self` in an
/// extractor, deprecated routes under a guard.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Feed;

#[controller("/feed")]
#[authenticated]
impl Feed {
    #[get("/a/{id}")]
    async fn a(
        &self,
        #[cfg(any())] gone: Option<Principal>,
        axum::extract::Path(id): axum::extract::Path<u32>,
        #[cfg(unix)] _kept: Option<Principal>,
    ) -> String {
        id.to_string()
    }

    #[deprecated(note = "use `/a/{id}`")]
    #[get("/b")]
    #[authenticated(permissions = ["admin"])]
    async fn b(&self, _query: axum::extract::Query<Self>) -> &'static str {
        "b"
    }

    #[deprecated(note = "use `/a/{id}`")]
    #[post("/c")]
    async fn c(_principal: Option<Principal>) -> &'static str {
        "c"
    }
}

/// A session type and a field on their way out.
#[deprecated(note = "use `data::Info`")]
#[session_data]
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct OldInfo {
    /// Kept.
    pub name: Option<String>,
    /// Going.
    #[deprecated(note = "read `name`")]
    #[serde(default)]
    pub nick: Option<String>,
}

/// A deprecated interceptor.
#[deprecated(note = "use `Audit`")]
#[interceptor]
#[derive(Debug, Default)]
pub struct OldAudit;

#[allow(deprecated)]
#[async_trait]
impl Interceptor for OldAudit {
    async fn intercept(
        &self,
        request: axum::extract::Request,
        next: Next,
    ) -> axum::response::Response {
        next.run(request).await
    }
}

/// The macros' code where rustc's lints are forbidden, not only denied:
/// it may not `allow` them either (an `allow` under a `forbid` is an
/// error, or for a group such as `unused` a warning, which `warnings`
/// denies here). Without serde derives or `#[async_trait]`, whose code
/// carries `allow`s of its own.
pub mod forbidden {
    #![forbid(
        missing_docs,
        unsafe_code,
        unused_qualifications,
        unused,
        dead_code,
        unused_imports,
        unused_lifetimes,
        deprecated
    )]
    #![deny(warnings)]

    use session_axum::prelude::{Principal, controller, interceptor};

    /// Session data: its code has no `allow` at all.
    pub mod data {
        use std::collections::HashSet;

        use session_axum::prelude::session_data;

        fn seven() -> u32 {
            7
        }

        fn check(_: &Private) -> Result<(), String> {
            Ok(())
        }

        /// Private, in a binary: nothing calls its accessors.
        #[session_data(validate = check, group_id = team, authenticated = user)]
        #[derive(Debug, Clone, Default)]
        struct Private {
            team: Option<String>,
            user: Option<String>,
            #[serde(default)]
            level: u32,
            #[serde(skip, default = "seven")]
            cache: u32,
            #[serde(default = "seven", alias = "old")]
            seven: u32,
            set: HashSet<u32>,
            r#type: u32,
        }

        /// Public.
        #[session_data]
        #[derive(Debug, Clone, Default)]
        pub struct Public {
            /// A field.
            pub name: Option<String>,
        }

        /// No fields.
        #[session_data]
        #[derive(Debug, Clone, Default)]
        pub struct Empty {}

        /// Builds the private one, which would otherwise be dead code of
        /// the app's own.
        pub fn touch() {
            let _ = Private::default();
        }
    }

    /// An interceptor, its attribute on the struct (the `impl` is outside,
    /// under `#[async_trait]`). Without `depends_on` or `runs_before`: the
    /// code of one naming others allows `deprecated`, as they may be.
    #[interceptor]
    #[derive(Debug, Default)]
    pub struct Forbidden;

    /// Routes, the attributes imported by name.
    #[derive(Debug, Default)]
    pub struct Strict;

    #[controller("/strict")]
    impl Strict {
        #[get("/a/{id}")]
        async fn a(&self, axum::extract::Path(id): axum::extract::Path<u32>) -> String {
            id.to_string()
        }

        #[post("/b")]
        async fn b(_principal: Option<Principal>) -> &'static str {
            "b"
        }
    }
}

#[async_trait]
impl Interceptor for forbidden::Forbidden {
    async fn intercept(
        &self,
        request: axum::extract::Request,
        next: Next,
    ) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {
    forbidden::data::touch();
}
