//! Hand-written controller registrations (what the macros check at compile
//! time): mistakes in their routes are build errors, never a panic or a
//! route at a path nobody wrote.

use axum::routing::get;
use http::Method;
use session_axum::path::PathError;
use session_axum::{
    App, AppContext, BuildError, ControllerRegistration, Guard, MemoryStore, RouteDef,
};

fn route(path: &'static str) -> RouteDef {
    RouteDef {
        method: Method::GET,
        path,
        guard: Guard::OPEN,
        handler: get(|| async { "x" }),
    }
}

fn build(controller: &'static ControllerRegistration) -> Result<App, BuildError> {
    App::builder()
        .store(MemoryStore::new())
        .secret(crate::app::key(1))
        .use_registry(false)
        .controller(controller)
        .build()
}

#[test]
fn a_route_path_without_a_leading_slash_is_a_build_error() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![route("info")])
    }
    static NO_SLASH: ControllerRegistration = ControllerRegistration {
        name: "NoSlash",
        base_path: "/session",
        routes,
    };
    match build(&NO_SLASH) {
        Err(BuildError::Path {
            controller: "NoSlash",
            source: PathError::NoLeadingSlash(path),
        }) => assert_eq!(path, "info"),
        Err(other) => panic!("{other}"),
        Ok(app) => panic!("accepted, as {:?}", app.routes()),
    }
}

#[test]
fn a_base_path_without_a_leading_slash_is_a_build_error() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![route("/info")])
    }
    static NO_SLASH: ControllerRegistration = ControllerRegistration {
        name: "NoSlashBase",
        base_path: "session",
        routes,
    };
    assert!(matches!(
        build(&NO_SLASH),
        Err(BuildError::Path {
            source: PathError::NoLeadingSlash(_),
            ..
        })
    ));
}

#[test]
fn routes_that_match_the_same_requests_are_a_build_error() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![route("/u/{id}"), route("/u/{name}")])
    }
    static TWICE: ControllerRegistration = ControllerRegistration {
        name: "Twice",
        base_path: "/",
        routes,
    };
    match build(&TWICE) {
        Err(BuildError::RouteConflict { path, .. }) => assert_eq!(path, "/u/{name}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn one_path_spelled_with_other_parameter_names_is_a_build_error() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        let mut delete = route("/u/{name}");
        delete.method = Method::DELETE;
        Ok(vec![route("/u/{id}"), delete])
    }
    static SPELLED: ControllerRegistration = ControllerRegistration {
        name: "Spelled",
        base_path: "/",
        routes,
    };
    match build(&SPELLED) {
        Err(BuildError::RouteConflict { path, message }) => {
            assert_eq!(path, "/u/{name}");
            assert!(
                message.contains("same path with other parameter names"),
                "{message}"
            );
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn an_older_axum_wildcard_is_a_path_error() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![route("/files/*rest")])
    }
    static STAR: ControllerRegistration = ControllerRegistration {
        name: "Star",
        base_path: "/",
        routes,
    };
    assert!(matches!(
        build(&STAR),
        Err(BuildError::Path {
            source: PathError::BadParameter { .. },
            ..
        })
    ));
}

/// Characters clients send as written are accepted, and requests reach
/// such routes.
#[tokio::test]
async fn routes_holding_characters_clients_send_as_written_are_reachable() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![route("/a|b"), route("/v[1]/c~d")])
    }
    static WRITTEN: ControllerRegistration = ControllerRegistration {
        name: "Written",
        base_path: "/",
        routes,
    };
    let app = build(&WRITTEN).unwrap_or_else(|e| panic!("{e}"));
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    for path in ["/a|b", "/v[1]/c~d"] {
        let reply = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(reply.status(), 200, "{path}");
    }
}

/// Browsers send `^` percent-encoded, so a route holding it would never
/// match one of their requests.
#[test]
fn a_caret_in_a_route_path_is_refused() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![route("/c^d")])
    }
    static CARET: ControllerRegistration = ControllerRegistration {
        name: "Caret",
        base_path: "/",
        routes,
    };
    assert!(matches!(
        build(&CARET),
        Err(BuildError::Path {
            source: PathError::BadCharacter { character: '^', .. },
            ..
        })
    ));
}
