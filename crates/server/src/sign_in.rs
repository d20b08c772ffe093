//! The browser side of signing in: `/oidc/auth`, the hosted sign-in page, and the provider
//! callbacks. Everything here works without JavaScript.

use crate::extract::page::{Form, Path, Query};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use strongroom_core::sign_in::{ConsentPage, SESSION_TTL_SECS, SignInError, SignInPage, Step};
use strongroom_core::store::{ConnectorId, ConnectorRef, SsoConnectorId};

use crate::AppState;
use crate::error::ApiError;
use crate::html::{cookie, error_page, escape, no_store, page, set_cookie};
use crate::wire::sign_in::{AuthRequest, CallbackQuery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The cookie binding interactions to a browser. On an https endpoint it is `__Host-`
/// prefixed, so no other host (a sibling subdomain tossing cookies) can set it.
pub fn browser_cookie(state: &AppState) -> &'static str {
    if state.secure_cookies() {
        "__Host-sr_browser"
    } else {
        "sr_browser"
    }
}

/// The cookie of a signed-in browser session (`__Host-` prefixed on https, as above).
pub fn session_cookie(state: &AppState) -> &'static str {
    if state.secure_cookies() {
        "__Host-sr_session"
    } else {
        "sr_session"
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize_get, authorize_post))
        .routes(routes!(sign_in_page))
        .routes(routes!(choose_social))
        .routes(routes!(choose_sso))
        .routes(routes!(social_callback))
        .routes(routes!(sso_callback))
        .routes(routes!(consent_page, consent_decision))
}

/// An HTML page that no cache keeps.
fn uncached_page(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    no_store(&mut response);
    response
}

/// The HTTP status and stable code of a sign-in failure.
fn status_and_code(e: &SignInError) -> (StatusCode, &'static str) {
    match e {
        SignInError::UnknownClient => (StatusCode::BAD_REQUEST, "oidc.invalid_client"),
        SignInError::RedirectUriMismatch => (StatusCode::BAD_REQUEST, "oidc.invalid_redirect_uri"),
        SignInError::InteractionNotFound => (StatusCode::BAD_REQUEST, "session.not_found"),
        SignInError::StateMismatch => (StatusCode::BAD_REQUEST, "session.state_mismatch"),
        SignInError::UnknownConnector => (StatusCode::NOT_FOUND, "session.invalid_connector_id"),
        SignInError::NoSsoForEmail(_) => {
            (StatusCode::NOT_FOUND, "single_sign_on.connector_not_found")
        }
        SignInError::Provider(p) => crate::error::provider_status(p, true),
        SignInError::Core(_) => (StatusCode::INTERNAL_SERVER_ERROR, "unexpected_error"),
    }
}

fn failure(e: SignInError) -> Response {
    if let SignInError::Core(core) = e {
        let api = ApiError::from(core);
        return error_page(api.status, api.code, &api.message);
    }
    let (status, code) = status_and_code(&e);
    tracing::info!(code, error = %e, "sign-in step failed");
    let message = match &e {
        SignInError::Provider(p) => p.public_message().to_owned(),
        other => other.to_string(),
    };
    error_page(status, code, &message)
}

/// A 303 to the step's location, setting its cookies.
fn respond(state: &AppState, step: Step) -> Response {
    let secure = state.secure_cookies();
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, step.location)]).into_response();
    if let Some(browser) = step.set_browser {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(browser_cookie(state), &browser, None, secure),
        );
    }
    if let Some(session) = step.set_session {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(
                session_cookie(state),
                &session,
                Some(SESSION_TTL_SECS),
                secure,
            ),
        );
    }
    no_store(&mut response);
    response
}

fn outcome(state: &AppState, result: Result<Step, SignInError>) -> Response {
    match result {
        Ok(step) => respond(state, step),
        Err(e) => failure(e),
    }
}

async fn authorize(state: AppState, headers: HeaderMap, req: AuthRequest) -> Response {
    let result = state
        .sign_in
        .authorize(
            req.into(),
            cookie(&headers, browser_cookie(&state)),
            cookie(&headers, session_cookie(&state)),
        )
        .await;
    outcome(&state, result)
}

#[utoipa::path(
    get,
    path = "/oidc/auth",
    tag = "OIDC",
    summary = "Authorization endpoint",
    description = "OpenID Connect authentication request (authorization code flow). Errors about the client or \
                   the redirect URI are shown as an HTML page; the others go back to the redirect URI as \
                   `error` (`invalid_request`, `unsupported_response_type`, `unauthorized_client`, `invalid_target`, \
                   `invalid_scope`, `request_not_supported`, `login_required`) with `state` and `iss`.",
    params(AuthRequest),
    responses(
        (status = 303, description = "To the hosted sign-in page, to the provider (`direct_sign_in`), or back to the \
            redirect URI with a code (a live session) or an OAuth error. Sets the browser-binding cookie.",
            headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 400, description = "An HTML error page: `oidc.invalid_client` (unknown `client_id`), \
            `oidc.invalid_redirect_uri` (missing or not registered), `session.not_found`, `connector.invalid_config`, \
            `connector.authorization_failed`, `guard.invalid_input`. A malformed query string is answered in plain \
            text.", body = String, content_type = "text/html"),
        (status = 404, description = "An HTML error page: `session.invalid_connector_id`.", body = String, content_type = "text/html"),
        (status = 502, description = "An HTML error page: `connector.provider_unavailable`, `connector.invalid_response` \
            (the provider's discovery, with `direct_sign_in`).", body = String, content_type = "text/html"),
        (status = 500, description = "An HTML error page: `unexpected_error`.", body = String, content_type = "text/html"),
    )
)]
async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(req): Query<AuthRequest>,
) -> Response {
    authorize(state, headers, req).await
}

#[utoipa::path(
    post,
    path = "/oidc/auth",
    tag = "OIDC",
    summary = "Authorization endpoint (form post)",
    description = "The authentication request as a form (OpenID Connect Core 3.1.2.1); answers as the `GET`.",
    request_body(content = AuthRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the hosted sign-in page, to the provider (`direct_sign_in`), or back to the \
            redirect URI with a code (a live session) or an OAuth error. Sets the browser-binding cookie.",
            headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 400, description = "An HTML error page: `oidc.invalid_client`, `oidc.invalid_redirect_uri`, \
            `session.not_found`, `connector.invalid_config`, `connector.authorization_failed`, `guard.invalid_input`.",
            body = String, content_type = "text/html"),
        (status = 404, description = "An HTML error page: `session.invalid_connector_id`.", body = String, content_type = "text/html"),
        (status = 415, description = "An HTML error page: the body is not `application/x-www-form-urlencoded`.",
            body = String, content_type = "text/html"),
        (status = 502, description = "An HTML error page: `connector.provider_unavailable`, `connector.invalid_response`.",
            body = String, content_type = "text/html"),
        (status = 500, description = "An HTML error page: `unexpected_error`.", body = String, content_type = "text/html"),
    )
)]
async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(req): Form<AuthRequest>,
) -> Response {
    authorize(state, headers, req).await
}

fn render_page(p: &SignInPage, email_error: Option<&str>) -> String {
    let mut body = format!(
        "<h1>Sign in</h1><p class=\"sub\">to continue to {}</p>",
        escape(&p.application_name)
    );
    if p.connectors.is_empty() && !p.sso_available {
        body.push_str("<p class=\"error\" role=\"alert\">No sign-in method is configured yet. An administrator can add connectors in the console.</p>");
    }
    for c in &p.connectors {
        let logo = if c.logo.is_empty() {
            String::new()
        } else {
            format!("<img src=\"{}\" alt=\"\">", escape(&c.logo))
        };
        body.push_str(&format!(
            "<form method=\"post\" action=\"/sign-in/{id}/social/{cid}\"><button type=\"submit\">{logo}Continue with {name}</button></form>",
            id = escape(&p.interaction_id),
            cid = escape(c.id.as_str()),
            name = escape(&c.name),
        ));
    }
    if p.sso_available {
        if !p.connectors.is_empty() {
            body.push_str("<p class=\"divider\">or, with your work account</p>");
        }
        let error = email_error
            .map(|e| {
                format!(
                    "<p class=\"error\" id=\"email-error\" role=\"alert\">{}</p>",
                    escape(e)
                )
            })
            .unwrap_or_default();
        let described = if email_error.is_some() {
            " aria-describedby=\"email-error\" aria-invalid=\"true\""
        } else {
            ""
        };
        body.push_str(&format!(
            "<form method=\"post\" action=\"/sign-in/{id}/sso\"><label for=\"email\">Work e-mail</label>{error}\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required value=\"{hint}\"{described}>\
             <button class=\"primary\" type=\"submit\">Continue with single sign-on</button></form>",
            id = escape(&p.interaction_id),
            hint = escape(p.login_hint.as_deref().filter(|h| h.contains('@')).unwrap_or("")),
        ));
    }
    page("Sign in", &body)
}

#[utoipa::path(
    get,
    path = "/sign-in/{id}",
    tag = "Sign-in",
    summary = "The hosted sign-in page",
    description = "One button per usable social connector, and an e-mail field when an SSO connector exists. \
                   Only the browser that started the sign-in (its cookie) sees it.",
    params(("id" = String, Path, description = "The interaction id.")),
    responses(
        (status = 200, description = "The sign-in page.", body = String, content_type = "text/html"),
        (status = 400, description = "An HTML error page: `session.not_found` (unknown, expired or used, or another \
            browser's), `oidc.invalid_client` (the application was deleted).", body = String, content_type = "text/html"),
        (status = 500, description = "An HTML error page: `unexpected_error`.", body = String, content_type = "text/html"),
    )
)]
async fn sign_in_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match state
        .sign_in
        .page(&id, cookie(&headers, browser_cookie(&state)))
        .await
    {
        Ok(p) => uncached_page(StatusCode::OK, render_page(&p, None)),
        Err(e) => failure(e),
    }
}

#[utoipa::path(
    post,
    path = "/sign-in/{id}/social/{connector}",
    tag = "Sign-in",
    summary = "Continue with a social connector",
    params(
        ("id" = String, Path, description = "The interaction id."),
        ("connector" = String, Path, description = "The social connector id."),
    ),
    responses(
        (status = 303, description = "To the provider's authorization URL.", headers(("Location" = String))),
        (status = 400, description = "An HTML error page: `session.not_found`, `connector.invalid_config`, \
            `connector.authorization_failed`.", body = String, content_type = "text/html"),
        (status = 404, description = "An HTML error page: `session.invalid_connector_id`.", body = String, content_type = "text/html"),
        (status = 502, description = "An HTML error page: `connector.provider_unavailable`, `connector.invalid_response`.",
            body = String, content_type = "text/html"),
        (status = 500, description = "An HTML error page: `unexpected_error`.", body = String, content_type = "text/html"),
    )
)]
async fn choose_social(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, connector)): Path<(String, String)>,
) -> Response {
    let result = state
        .sign_in
        .choose_social(
            &id,
            cookie(&headers, browser_cookie(&state)),
            &ConnectorId::from(connector),
        )
        .await;
    outcome(&state, result.map(step_to))
}

fn step_to(location: String) -> Step {
    Step {
        location,
        set_browser: None,
        set_session: None,
    }
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
struct EmailForm {
    email: String,
}

#[utoipa::path(
    post,
    path = "/sign-in/{id}/sso",
    tag = "Sign-in",
    summary = "Continue with single sign-on",
    description = "Routes the work e-mail address by its domain to an SSO connector.",
    params(("id" = String, Path, description = "The interaction id.")),
    request_body(content = EmailForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the SSO provider's authorization URL.", headers(("Location" = String))),
        (status = 400, description = "An HTML error page: `session.not_found`, `connector.invalid_config`, \
            `connector.authorization_failed`.", body = String, content_type = "text/html"),
        (status = 404, description = "`single_sign_on.connector_not_found`: the sign-in page again, with the error at \
            the e-mail field. Or an HTML error page: `session.invalid_connector_id`.", body = String, content_type = "text/html"),
        (status = 415, description = "An HTML error page: the body is not `application/x-www-form-urlencoded`.",
            body = String, content_type = "text/html"),
        (status = 502, description = "An HTML error page: `connector.provider_unavailable`, `connector.invalid_response`.",
            body = String, content_type = "text/html"),
        (status = 500, description = "An HTML error page: `unexpected_error`.", body = String, content_type = "text/html"),
    )
)]
async fn choose_sso(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<EmailForm>,
) -> Response {
    let browser = cookie(&headers, browser_cookie(&state));
    match state
        .sign_in
        .choose_sso_by_email(&id, browser, &form.email)
        .await
    {
        Ok(location) => respond(&state, step_to(location)),
        // Shown in place, on the sign-in page.
        Err(e @ SignInError::NoSsoForEmail(_)) => match state.sign_in.page(&id, browser).await {
            Ok(p) => uncached_page(StatusCode::NOT_FOUND, render_page(&p, Some(&e.to_string()))),
            Err(e) => failure(e),
        },
        Err(e) => failure(e),
    }
}

#[utoipa::path(
    get,
    path = "/callback/{connector}",
    tag = "Sign-in",
    summary = "Social provider callback",
    description = "Checks the `state` against this browser's sign-in (once), exchanges the code, finds or creates \
                   the user, stores the token set when the connector has token storage on, and sends the browser \
                   back to the application.",
    params(("connector" = String, Path, description = "The social connector id."), CallbackQuery),
    responses(
        (status = 303, description = "Back to the application's redirect URI with a code (setting the session \
            cookie), or with `error=access_denied` when the provider refused.", headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 400, description = "An HTML error page: `session.state_mismatch` (unknown, used or foreign state), \
            `session.not_found`, `connector.authorization_failed`, `connector.invalid_id_token`, \
            `connector.invalid_config`, `guard.invalid_input`. A malformed query string is `guard.invalid_input`.",
            body = String, content_type = "text/html"),
        (status = 404, description = "An HTML error page: `session.invalid_connector_id`.", body = String, content_type = "text/html"),
        (status = 502, description = "An HTML error page: `connector.provider_unavailable`, `connector.invalid_response` \
            (including a callback without a code).", body = String, content_type = "text/html"),
        (status = 500, description = "An HTML error page: `unexpected_error`.", body = String, content_type = "text/html"),
    )
)]
async fn social_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(connector): Path<String>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let result = state
        .sign_in
        .callback(
            ConnectorRef::Social(ConnectorId::from(connector)),
            query.into(),
            cookie(&headers, browser_cookie(&state)),
        )
        .await;
    outcome(&state, result)
}

#[utoipa::path(
    get,
    path = "/callback/sso/{connector}",
    tag = "Sign-in",
    summary = "Enterprise SSO provider callback",
    description = "As the social callback, for an SSO connector; a verified e-mail of the connector's domains \
                   finds an existing user.",
    params(("connector" = String, Path, description = "The SSO connector id."), CallbackQuery),
    responses(
        (status = 303, description = "Back to the application's redirect URI with a code (setting the session \
            cookie), or with `error=access_denied` when the provider refused.", headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 400, description = "An HTML error page: `session.state_mismatch`, `session.not_found`, \
            `connector.authorization_failed`, `connector.invalid_id_token`, `connector.invalid_config`, \
            `guard.invalid_input`. A malformed query string is `guard.invalid_input`.", body = String, content_type = "text/html"),
        (status = 404, description = "An HTML error page: `session.invalid_connector_id`.", body = String, content_type = "text/html"),
        (status = 502, description = "An HTML error page: `connector.provider_unavailable`, `connector.invalid_response`.",
            body = String, content_type = "text/html"),
        (status = 500, description = "An HTML error page: `unexpected_error`.", body = String, content_type = "text/html"),
    )
)]
async fn sso_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(connector): Path<String>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let result = state
        .sign_in
        .callback(
            ConnectorRef::Sso(SsoConnectorId::from(connector)),
            query.into(),
            cookie(&headers, browser_cookie(&state)),
        )
        .await;
    outcome(&state, result)
}

fn render_consent(p: &ConsentPage) -> String {
    let mut body = format!(
        "<h1>Allow access?</h1><p class=\"sub\"><strong>{}</strong> is a third-party application. \
         It asks for:</p><ul>",
        escape(&p.application_name)
    );
    for (scope, description) in &p.scopes {
        body.push_str(&format!(
            "<li><code>{}</code> {}</li>",
            escape(scope),
            escape(description)
        ));
    }
    body.push_str("</ul>");
    if p.provider_tokens {
        body.push_str(
            "<p class=\"error\" role=\"alert\">This includes your connected accounts' access tokens: \
             the application will be able to call GitHub, Google and your other providers as you, \
             while you are away.</p>",
        );
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/consent/{id}\"><input type=\"hidden\" name=\"decision\" value=\"allow\">\
         <button class=\"primary\" type=\"submit\">Allow</button></form>\
         <form method=\"post\" action=\"/consent/{id}\"><input type=\"hidden\" name=\"decision\" value=\"deny\">\
         <button type=\"submit\">Deny</button></form>\
         <p>You can withdraw this consent later in your account settings.</p>",
        id = escape(&p.interaction_id),
    ));
    page("Allow access?", &body)
}

#[utoipa::path(
    get,
    path = "/consent/{id}",
    tag = "Sign-in",
    summary = "The consent page of a third-party application",
    description = "Lists the scopes a third-party application asks for (provider tokens, the `identities` scope, \
                   called out) with Allow and Deny. Only the browser that signed in (its cookie) sees it.",
    params(("id" = String, Path, description = "The interaction id.")),
    responses(
        (status = 200, description = "The consent page.", body = String, content_type = "text/html"),
        (status = 400, description = "An HTML error page: `session.not_found` (unknown, expired or used, or another \
            browser's).", body = String, content_type = "text/html"),
        (status = 500, description = "An HTML error page: `unexpected_error`.", body = String, content_type = "text/html"),
    )
)]
async fn consent_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match state
        .sign_in
        .consent_page(&id, cookie(&headers, browser_cookie(&state)))
        .await
    {
        Ok(p) => uncached_page(StatusCode::OK, render_consent(&p)),
        Err(e) => failure(e),
    }
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
struct ConsentForm {
    /// `allow` or `deny`.
    decision: String,
}

#[utoipa::path(
    post,
    path = "/consent/{id}",
    tag = "Sign-in",
    summary = "Answer the consent page",
    description = "`decision=allow` records the consent (per user, application and scopes) and sends the browser back \
                   to the application with a code; anything else sends it back with `error=access_denied`.",
    params(("id" = String, Path, description = "The interaction id.")),
    request_body(content = ConsentForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Back to the application's redirect URI, with a code or `error=access_denied`.",
            headers(("Location" = String))),
        (status = 400, description = "An HTML error page: `session.not_found`, `guard.invalid_input`.", body = String,
            content_type = "text/html"),
        (status = 500, description = "An HTML error page: `unexpected_error`.", body = String, content_type = "text/html"),
    )
)]
async fn consent_decision(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ConsentForm>,
) -> Response {
    let result = state
        .sign_in
        .decide_consent(
            &id,
            cookie(&headers, browser_cookie(&state)),
            form.decision == "allow",
        )
        .await;
    outcome(&state, result)
}
