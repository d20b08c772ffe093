//! `GET /api/swagger.json`: an OpenAPI 3.1 document, and one that covers the router exactly.
//!
//! Coverage is checked against the router itself, not against a list kept by hand: the paths
//! come from the real `axum::Router` that `strongroom_server::router` builds (its `Debug`
//! output names every registered path), and the methods of each path from the running server
//! (a request with a method no route takes is answered 405 with the path's `Allow` header). A
//! route added without documentation — a new path, or a new method on a documented path — fails
//! here, and so does documentation of a route the server does not serve. The console's HTML
//! pages under `/console` are a user interface, not API, and are left out of the document.

#[allow(unused_imports)]
use crate::support;

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::Value;
use support::TestApp;

const OPERATION_KEYS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn fetch_document(app: &TestApp) -> Value {
    // No Authorization header: the document is public, as Logto's is.
    let response = app
        .http
        .get(app.url("/api/swagger.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
    response.json().await.expect("the document is JSON")
}

/// `#/components/schemas/X` → the value it points at.
fn resolve<'d>(doc: &'d Value, reference: &str) -> Option<&'d Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

fn check_refs(doc: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref")
                && resolve(doc, reference).is_none()
            {
                problems.push(format!("{at}: unresolved $ref {reference}"));
            }
            for (k, v) in map {
                check_refs(doc, v, &format!("{at}/{k}"), problems);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_refs(doc, v, &format!("{at}/{i}"), problems);
            }
        }
        _ => {}
    }
}

/// `{name}` segments of a path template.
fn template_params(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|s| s.trim_start_matches('*').to_owned())
        .collect()
}

/// The structure OpenAPI 3.1 requires (and a little this project requires), with every problem
/// reported at once.
fn structural_problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let version = doc["openapi"].as_str().unwrap_or_default();
    if !version.starts_with("3.1.") {
        problems.push(format!("openapi is `{version}`, not 3.1.x"));
    }
    for field in ["title", "version"] {
        if doc["info"][field].as_str().is_none_or(str::is_empty) {
            problems.push(format!("info.{field} is missing"));
        }
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for scheme in ["management", "user"] {
        let s = &schemes.get(scheme).cloned().unwrap_or(Value::Null);
        if s["type"] != "http" || s["scheme"] != "bearer" {
            problems.push(format!(
                "security scheme `{scheme}` is not an HTTP bearer scheme: {s}"
            ));
        }
    }
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let Some(paths) = doc["paths"].as_object().filter(|p| !p.is_empty()) else {
        problems.push("no paths".into());
        return problems;
    };
    let mut operation_ids = BTreeSet::new();
    for (path, item) in paths {
        if !path.starts_with('/') {
            problems.push(format!("path `{path}` does not start with /"));
        }
        let Some(item) = item.as_object() else {
            problems.push(format!("{path}: the path item is not an object"));
            continue;
        };
        for key in item.keys() {
            if !OPERATION_KEYS.contains(&key.as_str())
                && !["summary", "description", "parameters", "servers"].contains(&key.as_str())
            {
                problems.push(format!("{path}: unexpected path item field `{key}`"));
            }
        }
        for (method, op) in item
            .iter()
            .filter(|(k, _)| OPERATION_KEYS.contains(&k.as_str()))
        {
            let at = format!("{} {path}", method.to_uppercase());
            match op["operationId"].as_str() {
                Some(id) if !operation_ids.insert(id.to_owned()) => {
                    problems.push(format!("{at}: duplicate operationId `{id}`"))
                }
                Some(_) => {}
                None => problems.push(format!("{at}: no operationId")),
            }
            if op["summary"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{at}: no summary"));
            }
            let op_tags: Vec<&str> = op["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if op_tags.is_empty() || op_tags.iter().any(|t| !tags.contains(t)) {
                problems.push(format!(
                    "{at}: tags {op_tags:?} are missing or not declared"
                ));
            }
            // Every `{param}` of the path is a required path parameter, and no other is.
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    if p["required"] != true {
                        problems.push(format!(
                            "{at}: path parameter {} is not required",
                            p["name"]
                        ));
                    }
                    p["name"].as_str().unwrap_or_default().to_owned()
                })
                .collect();
            if declared != template_params(path) {
                problems.push(format!(
                    "{at}: path parameters {declared:?}, template has {:?}",
                    template_params(path)
                ));
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if !["path", "query", "header", "cookie"]
                    .contains(&p["in"].as_str().unwrap_or_default())
                    || p["schema"].is_null()
                {
                    problems.push(format!("{at}: malformed parameter {p}"));
                }
            }
            // Responses: a success (or redirect), and every error described.
            let Some(responses) = op["responses"].as_object().filter(|r| !r.is_empty()) else {
                problems.push(format!("{at}: no responses"));
                continue;
            };
            for (status, response) in responses {
                let valid = status == "default"
                    || (status.len() == 3 && status.chars().all(|c| c.is_ascii_digit()));
                if !valid {
                    problems.push(format!(
                        "{at}: response key `{status}` is not a status code"
                    ));
                }
                if response["description"].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("{at}: response {status} has no description"));
                }
            }
            if !responses
                .keys()
                .any(|s| s.starts_with('2') || s.starts_with('3'))
            {
                problems.push(format!("{at}: no 2xx or 3xx response"));
            }
            // Secured operations name a declared scheme and document its 401.
            let security: Vec<&String> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|r| r.keys())
                .collect();
            for name in &security {
                if !schemes.contains_key(name.as_str()) {
                    problems.push(format!("{at}: security scheme `{name}` is not declared"));
                }
            }
            if security.iter().any(|s| *s == "management" || *s == "user")
                && !responses.contains_key("401")
            {
                problems.push(format!("{at}: secured, but no 401 response"));
            }
            if security.iter().any(|s| *s == "management") && !responses.contains_key("403") {
                problems.push(format!("{at}: a Management API route, but no 403 response"));
            }
            // Logto-style errors name their codes (`code.like.this`) in the description.
            for (status, response) in responses
                .iter()
                .filter(|(s, _)| s.starts_with('4') || s.starts_with('5'))
            {
                let json_error = response["content"]["application/json"]["schema"]["$ref"]
                    == "#/components/schemas/ErrorBody";
                let names_a_code = response["description"]
                    .as_str()
                    .is_some_and(|d| d.contains('`'));
                if json_error && !names_a_code {
                    problems.push(format!("{at}: error response {status} names no error code"));
                }
            }
        }
    }
    check_refs(doc, doc, "#", &mut problems);
    problems
}

/// Every path registered in the router, read from its `Debug` output: the `RouteId(n): "/path"`
/// entries of its path router (`Router { path_router: .., fallback_router: .., .. }`; the
/// fallback router holds only axum's own catch-all).
fn router_paths(router: &axum::Router) -> BTreeSet<String> {
    let text = format!("{router:?}");
    let start = text
        .find("path_router:")
        .expect("axum's Router Debug output names its path_router");
    let end = text
        .find("fallback_router:")
        .expect("axum's Router Debug output names its fallback_router");
    let mut paths = BTreeSet::new();
    let mut rest = &text[start..end];
    while let Some(i) = rest.find("RouteId(") {
        rest = &rest[i + "RouteId(".len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if let Some(after) = rest[digits..].strip_prefix("): \"")
            && let Some(end) = after.find('"')
        {
            let path = &after[..end];
            if !path.contains("__private__axum") && !path.starts_with("/console") {
                paths.insert(path.to_owned());
            }
        }
    }
    paths
}

/// The template with a value for every parameter (none equals a literal segment).
fn instantiate(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                "openapi-probe"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The methods the running server serves at `path`: a method no route takes is answered 405
/// with the path's `Allow` header, before any handler (or authorization) runs. `HEAD` comes
/// with `GET` and is left out then.
async fn served_methods(app: &TestApp, path: &str) -> Result<BTreeSet<String>, String> {
    let probe = Method::from_bytes(b"OPENAPIPROBE").expect("method");
    let response = app
        .http
        .request(probe, app.url(&instantiate(path)))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != 405 {
        return Err(format!(
            "a method no route takes was answered {}, not 405",
            response.status()
        ));
    }
    let allow = response
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .ok_or("405 without an Allow header")?;
    let mut methods: BTreeSet<String> = allow
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .collect();
    if methods.contains("GET") {
        methods.remove("HEAD");
    }
    Ok(methods)
}

fn documented_routes(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| OPERATION_KEYS.contains(&k.as_str()))
                .map(|(k, _)| k.to_ascii_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[tokio::test]
async fn swagger_json_is_a_valid_openapi_3_1_document() {
    let app = TestApp::spawn().await;
    let doc = fetch_document(&app).await;
    let problems = structural_problems(&doc);
    assert!(
        problems.is_empty(),
        "the OpenAPI document has problems:\n  {}",
        problems.join("\n  ")
    );
    // Served as generated.
    assert_eq!(
        doc,
        serde_json::to_value(strongroom_server::openapi()).expect("json")
    );
}

#[tokio::test]
async fn the_document_covers_exactly_the_routes_the_router_serves() {
    let app = TestApp::spawn().await;
    let doc = fetch_document(&app).await;
    let documented = documented_routes(&doc);

    let served_paths = router_paths(&strongroom_server::router(app.state.clone()));
    // The Debug output still names paths (should axum change its format, fail loudly here).
    for known in [
        "/api/status",
        "/api/swagger.json",
        "/oidc/token",
        "/api/users/{user_id}",
        "/my-account/identities/{target}/access-token",
    ] {
        assert!(
            served_paths.contains(known),
            "no `{known}` among the router's paths {served_paths:?}: did axum's Debug format change?"
        );
    }
    // The probe tells a served path from an unserved one.
    let missing = app
        .http
        .request(
            Method::from_bytes(b"OPENAPIPROBE").expect("method"),
            app.url("/no/such/route"),
        )
        .send()
        .await
        .expect("probe");
    assert_eq!(missing.status(), 404);

    let mut problems = Vec::new();
    for path in &served_paths {
        let Some(documented_methods) = documented.get(path) else {
            problems.push(format!("{path}: served, but not in /api/swagger.json"));
            continue;
        };
        match served_methods(&app, path).await {
            Ok(methods) => {
                for m in methods.difference(documented_methods) {
                    problems.push(format!("{m} {path}: served, but not in /api/swagger.json"));
                }
                for m in documented_methods.difference(&methods) {
                    problems.push(format!("{m} {path}: in /api/swagger.json, but not served"));
                }
            }
            Err(e) => problems.push(format!("{path}: {e}")),
        }
    }
    for path in documented.keys().filter(|p| !served_paths.contains(*p)) {
        problems.push(format!("{path}: in /api/swagger.json, but not served"));
    }
    assert!(
        problems.is_empty(),
        "the OpenAPI document and the router disagree:\n  {}",
        problems.join("\n  ")
    );

    let operations: usize = documented.values().map(BTreeSet::len).sum();
    assert!(operations >= 50, "only {operations} operations documented");
}
