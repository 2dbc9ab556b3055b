//! The macros end to end: the DESIGN example written with attributes, served
//! over real HTTP.

use axum::extract::Path;
use axum::http::StatusCode;
use session_axum::prelude::*;
use session_axum::{AppContext, BuildError, SessionService};

use crate::app::start;

#[session_data(group_id = group, authenticated = auth, validate = check_info)]
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub name: Option<String>,
    pub age: Option<u32>,
    pub tags: Vec<String>,
    #[serde(rename = "grp")]
    pub group: Option<String>,
    pub auth: bool,
    #[serde(default = "default_theme")]
    pub theme: String,
    #[serde(skip)]
    pub scratch: u8,
}

fn default_theme() -> String {
    "light".into()
}

fn check_info(info: &Info) -> Result<(), String> {
    match info.age {
        Some(age) if age > 150 => Err(format!("age {age} is not plausible")),
        _ => Ok(()),
    }
}

pub struct SessionRoutes;

#[controller("/m/session")]
#[authenticated]
impl SessionRoutes {
    #[put("/info")]
    async fn store_info(mut session: Session<Info>) -> StatusCode {
        session.set_age(Some(20));
        session.set_name(Some("Roger".into()));
        StatusCode::NO_CONTENT
    }

    #[get("/info/age")]
    async fn age(session: Session<Info>) -> Json<Option<u32>> {
        Json(*session.age())
    }

    #[get("/logout")]
    async fn logout(auth: Auth) -> impl IntoResponse {
        auth.logout().await
    }

    #[post("/tags/{tag}")]
    async fn tag(mut session: Session<Info>, Path(tag): Path<String>) -> Json<Vec<String>> {
        session.update_tags(|t| t.push(tag));
        Json(session.tags().clone())
    }

    #[get("/whoami")]
    #[unauthenticated]
    async fn whoami(principal: Option<Principal>) -> String {
        principal.map_or_else(|| "nobody".to_owned(), |p| p.user_id)
    }

    #[get("/admin")]
    #[authenticated(permissions = ["admin"])]
    async fn admin() -> &'static str {
        "admin"
    }
}

/// A controller requiring a permission, whose routes add their own.
pub struct Staff;

#[controller("/m/staff")]
#[authenticated(permissions = ["staff"])]
impl Staff {
    #[post("/login/{user}")]
    #[unauthenticated]
    async fn login(
        auth: Auth,
        Path(user): Path<String>,
        axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
    ) -> StatusCode {
        let perms = form.get("perms").map_or("", String::as_str);
        auth.login(Binding::user(user).with_permissions(perms.split_whitespace()));
        StatusCode::NO_CONTENT
    }

    #[get("/board")]
    async fn board() -> &'static str {
        "board"
    }

    #[get("/plain")]
    #[authenticated]
    async fn plain() -> &'static str {
        "plain"
    }

    #[get("/root")]
    #[authenticated(permissions = ["admin"])]
    async fn root() -> &'static str {
        "root"
    }
}

/// A controller holding a service, built once from the app.
pub struct Accounts {
    sessions: SessionService,
}

impl FromApp for Accounts {
    fn from_app(ctx: &AppContext) -> Result<Self, BuildError> {
        Ok(Self {
            sessions: ctx.service().clone(),
        })
    }
}

#[controller("/m/accounts", from_app)]
impl Accounts {
    #[post("/login/{user}")]
    async fn login(&self, auth: Auth, Path(user): Path<String>) -> StatusCode {
        auth.login(Binding::user(user));
        StatusCode::NO_CONTENT
    }

    #[get("/count")]
    #[authenticated]
    async fn count(&self, principal: Principal) -> Json<usize> {
        Json(
            self.sessions
                .list_for_user(&principal.user_id)
                .await
                .map(|l| l.len())
                .unwrap_or(0),
        )
    }

    #[get("/me")]
    async fn me(&self, session: Session<Info>) -> Json<serde_json::Value> {
        Json(serde_json::json!({
            "authenticated": session.is_authenticated(),
            "group": session.group_id(),
            "theme": session.theme(),
        }))
    }
}

#[interceptor(depends_on = [session_axum::SessionInterceptor], runs_before = [crate::app::Observer])]
#[derive(Default)]
pub struct Stamp;

#[session_axum::async_trait]
impl Interceptor for Stamp {
    async fn intercept(
        &self,
        request: axum::extract::Request,
        next: Next,
    ) -> axum::response::Response {
        let mut response = next.run(request).await;
        response
            .headers_mut()
            .insert("x-stamp", axum::http::HeaderValue::from_static("1"));
        response
    }
}

/// Served only by the apps given it: an internal port's controller beside
/// a public app in the same binary.
pub struct Internal;

#[controller("/m/internal", registry = false)]
#[authenticated(permissions = ["admin"])]
impl Internal {
    #[get("/whoami")]
    async fn whoami(principal: Principal) -> String {
        principal.user_id
    }
}

#[tokio::test]
async fn an_unregistered_controller_is_served_only_by_the_apps_given_it() {
    let public = start().await;
    let mut b = public.server.browser();
    b.send(
        reqwest::Method::POST,
        "/m/staff/login/eve",
        Some(&[("perms", "admin")]),
    )
    .await;
    assert_eq!(b.get("/m/session/whoami").await.body, "eve", "logged in");
    assert_eq!(b.get("/m/internal/whoami").await.status, 404);

    let keys = session_core::SigningKeys::single(crate::app::key(1));
    let internal = crate::app::start_with(keys, |b| b.add_controller::<Internal>()).await;
    let mut b = internal.server.browser();
    assert_eq!(b.get("/m/internal/whoami").await.status, 401);
    b.send(
        reqwest::Method::POST,
        "/m/staff/login/eve",
        Some(&[("perms", "admin")]),
    )
    .await;
    let r = b.get("/m/internal/whoami").await;
    assert_eq!((r.status, r.body.as_str()), (200, "eve"));
    // The registry's controllers are served there too.
    assert_eq!(b.get("/m/session/whoami").await.body, "eve");
}

/// Run only by the apps given it, ordered among the registered
/// interceptors: inside `Stamp`, outside `Observer`. On the way out it
/// tells which of their headers the response already carries, which
/// proves where it runs, and whose request it saw.
#[interceptor(registry = false, depends_on = [Stamp], runs_before = [crate::app::Observer])]
#[derive(Default)]
pub struct InternalAudit;

#[session_axum::async_trait]
impl Interceptor for InternalAudit {
    async fn intercept(
        &self,
        request: axum::extract::Request,
        next: Next,
    ) -> axum::response::Response {
        let user = Principal::of(&request).map_or_else(|| "anonymous".to_owned(), |p| p.user_id);
        let mut response = next.run(request).await;
        let has = |name: &str| match response.headers().contains_key(name) {
            true => "yes",
            false => "no",
        };
        let seen = format!(
            "{user}; observer={}; stamp={}",
            has("x-observer"),
            has("x-stamp")
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&seen) {
            response.headers_mut().insert("x-internal-audit", v);
        }
        response
    }
}

/// Two apps served at once from one binary, a public one and an internal
/// one given `InternalAudit`: it runs only in the internal one, between the
/// registered interceptors its declarations name.
#[tokio::test]
async fn an_unregistered_interceptor_runs_only_in_the_apps_given_it_in_its_declared_place() {
    let public = start().await;
    let keys = session_core::SigningKeys::single(crate::app::key(1));
    let internal = crate::app::start_with(keys, |b| b.add_interceptor::<InternalAudit>()).await;

    assert!(
        !public.app_order.contains(&"InternalAudit"),
        "{:?}",
        public.app_order
    );
    let pos = |name: &str| {
        internal
            .app_order
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name} missing from {:?}", internal.app_order))
    };
    assert!(pos("AuthInterceptor") < pos("SessionInterceptor"));
    assert!(pos("SessionInterceptor") < pos("Stamp"));
    assert!(pos("Stamp") < pos("InternalAudit"));
    assert!(pos("InternalAudit") < pos("Observer"));

    let mut on_public = public.server.browser();
    let mut on_internal = internal.server.browser();
    let r = on_internal.get("/m/session/whoami").await;
    assert_eq!(r.body, "nobody");
    assert_eq!(
        r.headers["x-internal-audit"],
        "anonymous; observer=yes; stamp=no"
    );
    let r = on_public.get("/m/session/whoami").await;
    assert_eq!(r.body, "nobody");
    assert!(!r.headers.contains_key("x-internal-audit"), "{r:?}");

    // Both servers answer in turn: each app keeps its own chain.
    for b in [&mut on_public, &mut on_internal] {
        assert_eq!(b.post("/t/login?user=eve").await.status, 204);
    }
    let r = on_internal.get("/m/session/whoami").await;
    assert_eq!(r.body, "eve");
    assert_eq!(r.headers["x-internal-audit"], "eve; observer=yes; stamp=no");
    // The registered interceptors run there as well, around and inside it.
    assert_eq!(r.headers["x-stamp"], "1");
    assert_eq!(r.headers["x-observer"], "session;principal=eve");
    let r = on_public.get("/m/session/whoami").await;
    assert_eq!(r.body, "eve");
    assert!(!r.headers.contains_key("x-internal-audit"), "{r:?}");
    assert_eq!(r.headers["x-stamp"], "1");
    // Plain routes and unmatched paths run inside it too.
    let r = on_internal.get("/nowhere").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.headers["x-internal-audit"], "eve; observer=yes; stamp=no");
    let r = on_public.get("/plain").await;
    assert!(!r.headers.contains_key("x-internal-audit"), "{r:?}");
}

#[tokio::test]
async fn the_design_example_works_over_http() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/m/session/info/age").await.status, 401);
    b.post("/m/accounts/login/roger").await;
    assert_eq!(b.get("/m/session/info/age").await.body, "null");
    let r = b.send(reqwest::Method::PUT, "/m/session/info", None).await;
    assert_eq!(r.status, 204);
    assert_eq!(b.get("/m/session/info/age").await.body, "20");
    assert_eq!(b.post("/m/session/tags/a").await.body, "[\"a\"]");
    assert_eq!(b.post("/m/session/tags/b").await.body, "[\"a\",\"b\"]");
    assert_eq!(b.get("/m/session/whoami").await.body, "roger");
    assert_eq!(b.get("/m/session/admin").await.status, 403);
    assert_eq!(b.get("/m/accounts/count").await.body, "1");
    let me = b.get("/m/accounts/me").await.json();
    assert_eq!(me["authenticated"], true);
    assert_eq!(me["theme"], "light");
    let r = b.get("/m/session/logout").await;
    assert_eq!(r.status, 204);
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0));
    assert_eq!(b.get("/m/session/info/age").await.status, 401);
    assert_eq!(
        t.server.browser().get("/m/session/whoami").await.body,
        "nobody"
    );
}

/// A route's own `#[authenticated(..)]` adds to the controller's guard: it
/// never opens a route to principals the controller refuses.
#[tokio::test]
async fn a_routes_own_guard_adds_to_the_controllers() {
    let t = start().await;
    let statuses = |perms: &'static str| {
        let server = &t.server;
        async move {
            let mut b = server.browser();
            let login = b
                .send(
                    reqwest::Method::POST,
                    "/m/staff/login/eve",
                    Some(&[("perms", perms)]),
                )
                .await;
            assert_eq!(login.status, 204);
            let mut out = Vec::new();
            for path in ["/m/staff/board", "/m/staff/plain", "/m/staff/root"] {
                out.push(b.get(path).await.status);
            }
            out
        }
    };
    assert_eq!(statuses("").await, [403, 403, 403]);
    assert_eq!(statuses("admin").await, [403, 403, 403]);
    assert_eq!(statuses("staff").await, [200, 200, 403]);
    assert_eq!(statuses("staff admin").await, [200, 200, 200]);
    assert_eq!(t.server.browser().get("/m/staff/plain").await.status, 401);
}

#[tokio::test]
async fn only_changed_fields_are_stored_under_their_stored_names() {
    let t = start().await;
    let mut b = t.server.browser();
    b.post("/m/accounts/login/ada").await;
    b.send(reqwest::Method::PUT, "/m/session/info", None).await;
    let id = t.service.list_for_user("ada").await.unwrap()[0].id;
    let record = t.service.record(&id).await.unwrap().unwrap();
    let names: Vec<&str> = record.fields.names().collect();
    assert_eq!(names, ["age", "name"]);
    assert_eq!(
        <Info as session_core::SessionData>::FIELDS,
        ["name", "age", "tags", "grp", "auth", "theme"]
    );
}

#[tokio::test]
async fn registered_interceptors_are_ordered_by_their_declarations() {
    let t = start().await;
    let pos = |name: &str| t.app_order.iter().position(|n| *n == name).unwrap();
    assert!(pos("SessionInterceptor") < pos("Stamp"));
    assert!(pos("Stamp") < pos("Observer"));
    assert_eq!(
        t.server.browser().get("/plain").await.headers["x-stamp"],
        "1"
    );
}

#[test]
fn group_authenticated_defaults_and_validation_come_from_the_attributes() {
    use session_core::SessionData;
    let fields: session_core::FieldMap =
        [("grp", "\"g1\""), ("auth", "true")].into_iter().collect();
    let info = Info::decode_valid(&fields).unwrap();
    assert_eq!(info.group_id().as_deref(), Some("g1"));
    assert!(info.is_authenticated());
    assert_eq!(info.theme, "light");
    let bad: session_core::FieldMap = [("age", "151")].into_iter().collect();
    assert!(
        Info::decode_valid(&bad)
            .unwrap_err()
            .to_string()
            .contains("151")
    );
}

/// A controller whose routes are named like `Arc`'s methods, one of them
/// compiled out, and a controller and session type written by `macro_rules!`.
#[derive(Default)]
pub struct Odd;

#[controller("/m/odd")]
impl Odd {
    #[get("/clone")]
    async fn clone(&self) -> &'static str {
        "the controller's clone"
    }

    #[get("/typed")]
    #[allow(clippy::needless_arbitrary_self_type)] // the spelling under test
    async fn typed(self: &Self) -> &'static str {
        "typed receiver"
    }

    #[cfg(any())]
    #[get("/never")]
    async fn never(&self) -> &'static str {
        "compiled out"
    }

    #[cfg(test)]
    #[get("/always")]
    async fn always() -> &'static str {
        "compiled in"
    }
}

macro_rules! counter_routes {
    ($controller:ty, $data:ident) => {
        #[session_data]
        #[derive(Debug, Clone, Default)]
        pub struct $data {
            pub hits: u32,
        }

        #[controller("/m/generated")]
        impl $controller {
            #[get("/hit")]
            async fn hit(mut session: Session<$data>) -> Json<u32> {
                session.update_hits(|h| *h += 1);
                Json(*session.hits())
            }
        }
    };
}

pub struct Generated;
counter_routes!(Generated, Hits);

#[tokio::test]
async fn odd_route_names_cfg_routes_and_macro_written_controllers_work() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/m/odd/clone").await.body, "the controller's clone");
    assert_eq!(b.get("/m/odd/typed").await.body, "typed receiver");
    assert_eq!(b.get("/m/odd/never").await.status, 404);
    assert_eq!(b.get("/m/odd/always").await.body, "compiled in");
    assert_eq!(b.get("/m/generated/hit").await.body, "1");
    assert_eq!(b.get("/m/generated/hit").await.body, "2");
}

/// Route methods whose `#[cfg]` comes from a `cfg_attr`: each route exists
/// exactly when its method does, as under the plain `#[cfg]` it expands to.
#[derive(Default)]
pub struct Conditional;

#[controller("/m/conditional")]
impl Conditional {
    #[cfg_attr(all(), cfg(any()))]
    #[get("/gone")]
    async fn gone() -> &'static str {
        "compiled out"
    }

    #[cfg_attr(any(), cfg(any()))]
    #[get("/kept")]
    async fn kept() -> &'static str {
        "kept"
    }

    #[cfg_attr(all(), cfg_attr(all(), cfg(any())))]
    #[get("/nested")]
    async fn nested(&self) -> &'static str {
        "compiled out"
    }

    #[cfg_attr(all(), allow(dead_code), cfg(any()))]
    #[get("/listed")]
    async fn listed(&self) -> &'static str {
        "compiled out"
    }

    #[cfg_attr(all(), allow(dead_code), cfg(all()))]
    #[get("/listed-kept")]
    async fn listed_kept(&self) -> &'static str {
        "kept"
    }

    // Only one of the two exists, so they do not clash.
    #[cfg_attr(all(), cfg(any()))]
    #[get("/one")]
    async fn one_gone() -> &'static str {
        "compiled out"
    }

    #[get("/one")]
    async fn one_kept(&self) -> &'static str {
        "kept"
    }
}

#[tokio::test]
async fn a_route_exists_exactly_when_its_methods_cfg_attr_keeps_it() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/m/conditional/gone").await.status, 404);
    assert_eq!(b.get("/m/conditional/kept").await.body, "kept");
    assert_eq!(b.get("/m/conditional/nested").await.status, 404);
    assert_eq!(b.get("/m/conditional/listed").await.status, 404);
    assert_eq!(b.get("/m/conditional/listed-kept").await.body, "kept");
    assert_eq!(b.get("/m/conditional/one").await.body, "kept");
}

/// Parameters after static text in their segment, and a route written with
/// a percent-encoding, reached by the requests that spell it so.
pub struct Paths;

#[controller("/m/paths")]
impl Paths {
    #[get("/file-{name}")]
    async fn file(Path(name): Path<String>) -> String {
        name
    }

    #[get("/tree/v{*rest}")]
    async fn tree(Path(rest): Path<String>) -> String {
        rest
    }

    #[get("/caf%c3%a9")]
    async fn cafe() -> &'static str {
        "coffee"
    }
}

#[tokio::test]
async fn prefixed_parameters_and_encoded_paths_are_reached() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/m/paths/file-report").await.body, "report");
    assert_eq!(b.get("/m/paths/file-").await.status, 404);
    assert_eq!(b.get("/m/paths/tree/v1/a/b").await.body, "1/a/b");
    assert_eq!(b.get("/m/paths/caf%c3%a9").await.body, "coffee");
    assert_eq!(b.get("/m/paths/caf%C3%A9").await.status, 404, "as spelled");
}

pub struct Sensitive;

#[controller("/m/sensitive")]
#[authenticated(recent_login_secs = 600)]
impl Sensitive {
    #[get("/settings")]
    async fn settings(principal: Principal) -> String {
        principal.user_id
    }

    /// Stricter than the controller: the shorter time wins.
    #[post("/password")]
    #[authenticated(recent_login_secs = 60)]
    async fn password(principal: Principal) -> String {
        principal.user_id
    }
}

/// `#[authenticated(recent_login_secs = N)]`: a login older than `N`
/// seconds is asked to log in again (401), on the controller and, stricter,
/// on a route; logging in again lets it through.
#[tokio::test]
async fn a_recent_login_guard_refuses_an_older_login() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/m/sensitive/settings").await.status, 401);
    b.post("/t/login?user=ada").await;
    assert_eq!(b.get("/m/sensitive/settings").await.body, "ada");
    assert_eq!(b.post("/m/sensitive/password").await.body, "ada");

    t.clock.advance(std::time::Duration::from_secs(120));
    assert_eq!(b.get("/m/sensitive/settings").await.status, 200);
    let r = b.post("/m/sensitive/password").await;
    assert_eq!(r.status, 401);
    assert!(r.headers.get("www-authenticate").is_some());

    t.clock.advance(std::time::Duration::from_secs(500));
    assert_eq!(b.get("/m/sensitive/settings").await.status, 401);
    assert_eq!(b.get("/t/me").await.status, 200, "the session goes on");

    b.post("/t/login?user=ada").await;
    assert_eq!(b.get("/m/sensitive/settings").await.status, 200);
    assert_eq!(b.post("/m/sensitive/password").await.status, 200);
}
