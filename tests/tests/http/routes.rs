//! Hand-written controller registrations (what the macros check at compile
//! time): mistakes in their routes are build errors, never a panic or a
//! route at a path nobody wrote.

use axum::extract::Path;
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
        let reply = session_tests::http::client()
            .get(server.url(path))
            .send()
            .await
            .unwrap();
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

/// axum's router takes static text before a parameter in its segment
/// (`file-{name}`, `v{*rest}`): such routes build and requests reach them
/// with the rest of the segment as the parameter.
#[tokio::test]
async fn a_parameter_after_static_text_in_its_segment_is_reached() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        let echo = |path| RouteDef {
            handler: get(|Path(value): Path<String>| async move { value }),
            ..route(path)
        };
        Ok(vec![echo("/file-{name}"), echo("/tree/v{*rest}")])
    }
    static PREFIXED: ControllerRegistration = ControllerRegistration {
        name: "Prefixed",
        base_path: "/p",
        routes,
    };
    let app = build(&PREFIXED).unwrap_or_else(|e| panic!("{e}"));
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    for (path, status, body) in [
        ("/p/file-report", 200, "report"),
        ("/p/file-", 404, ""),
        ("/p/tree/v1/a/b", 200, "1/a/b"),
        ("/p/tree/x", 404, ""),
    ] {
        let reply = session_tests::http::client()
            .get(server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), status, "{path}");
        assert_eq!(reply.text().await.unwrap(), body, "{path}");
    }
}

/// Text after a parameter in its segment is refused, as the router would.
#[test]
fn text_after_a_parameter_in_its_segment_is_a_path_error() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![route("/f/{name}.json")])
    }
    static SUFFIX: ControllerRegistration = ControllerRegistration {
        name: "Suffix",
        base_path: "/",
        routes,
    };
    assert!(matches!(
        build(&SUFFIX),
        Err(BuildError::Path {
            source: PathError::BadParameter { .. },
            ..
        })
    ));
}

/// A parameter and a catch-all at the same place, in two controllers:
/// the router refuses them in either order; the build error names both
/// routes and both controllers instead of passing on the router's panic.
#[test]
fn a_catch_all_beside_a_parameter_names_both_routes() {
    fn param(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![route("/{a}")])
    }
    fn param_in_root(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![route("/f/{a}")])
    }
    fn rest(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        let mut post = route("/{*b}");
        post.method = Method::POST;
        Ok(vec![post])
    }
    fn rest_in_root(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![route("/f/{*b}")])
    }
    // Controllers are taken by base path: those under `/` come first.
    static PARAM_FIRST: ControllerRegistration = ControllerRegistration {
        name: "ParamFirst",
        base_path: "/",
        routes: param_in_root,
    };
    static REST_SECOND: ControllerRegistration = ControllerRegistration {
        name: "RestSecond",
        base_path: "/f",
        routes: rest,
    };
    static REST_FIRST: ControllerRegistration = ControllerRegistration {
        name: "RestFirst",
        base_path: "/",
        routes: rest_in_root,
    };
    static PARAM_SECOND: ControllerRegistration = ControllerRegistration {
        name: "ParamSecond",
        base_path: "/f",
        routes: param,
    };
    for (first, second, first_path, second_path) in [
        (&PARAM_FIRST, &REST_SECOND, "/f/{a}", "/f/{*b}"),
        (&REST_FIRST, &PARAM_SECOND, "/f/{*b}", "/f/{a}"),
    ] {
        let built = App::builder()
            .store(MemoryStore::new())
            .secret(crate::app::key(1))
            .use_registry(false)
            .controller(second)
            .controller(first)
            .build();
        match built {
            Err(BuildError::RouteConflict { path, message }) => {
                assert_eq!(path, second_path);
                for part in [first_path, first.name, second.name, "catch-all"] {
                    assert!(message.contains(part), "{part}: {message}");
                }
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("accepted"),
        }
    }
}

/// A route matches the path as it is spelled, percent-encodings included
/// (axum matches the raw path; clients send a URL's encodings as written):
/// `/%7Eme` is not `/~me`, and `/caf%c3%a9` is not `/caf%C3%A9`.
#[tokio::test]
async fn a_route_is_reached_by_the_path_it_spells() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![route("/%7Eme"), route("/caf%c3%a9")])
    }
    static SPELLED: ControllerRegistration = ControllerRegistration {
        name: "Spelled",
        base_path: "/",
        routes,
    };
    let app = build(&SPELLED).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(app.routes(), ["GET /%7Eme", "GET /caf%c3%a9"]);
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    for (path, status) in [
        ("/%7Eme", 200),
        ("/caf%c3%a9", 200),
        ("/~me", 404),
        ("/caf%C3%A9", 404),
    ] {
        let url = server.url(path);
        assert!(
            url.ends_with(path),
            "the client kept {path} as written: {url}"
        );
        let reply = session_tests::http::client().get(url).send().await.unwrap();
        assert_eq!(reply.status(), status, "{path}");
    }
}
