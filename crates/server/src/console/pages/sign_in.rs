//! The console's sign-in pages.

use super::*;

pub async fn home(_: Admin) -> Response {
    see_other("/console/users")
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../console.css"),
    )
        .into_response()
}

fn sign_in_form(
    status: StatusCode,
    csrf: String,
    username: String,
    problem: Option<Problem>,
) -> Response {
    view::render_status(
        status,
        &SignInPage {
            csrf,
            username,
            problem,
        },
    )
}

pub async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap) -> Page {
    if super::super::session_of(&headers, &state).await?.is_some() {
        return Ok(see_other("/console/users"));
    }
    let token = random_token().map_err(|e| internal(&e))?;
    let mut response = sign_in_form(StatusCode::OK, token.clone(), String::new(), None);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            LOGIN_COOKIE,
            &token,
            "/console/sign-in",
            Some(3600),
            secure(&state),
        ),
    );
    Ok(response)
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    req: axum::extract::Request,
) -> Page {
    check_origin(req.headers(), &state.endpoint)?;
    let expected = cookie(req.headers(), LOGIN_COOKIE).map(str::to_owned);
    let fields = read_fields(req, &state).await?;
    let csrf = fields.get("csrf").unwrap_or_default().to_owned();
    if !expected.is_some_and(|e| constant_time_eq(&e, &csrf)) {
        return Err(csrf_refusal());
    }
    let username = fields.get("username").unwrap_or_default().to_owned();
    let password = SecretString::from(fields.raw("password").unwrap_or_default().to_owned());
    let refused = |status, code: &str, message: String| {
        sign_in_form(
            status,
            csrf.clone(),
            username.clone(),
            Some(Problem {
                code: code.into(),
                message,
            }),
        )
    };
    match state
        .console_auth
        .sign_in(&username, &password, client)
        .await
    {
        Ok(Ok(token)) => {
            let mut response = see_other("/console/users");
            let headers = response.headers_mut();
            let max_age = strongroom_core::admins::SESSION_MS / 1000;
            headers.append(
                header::SET_COOKIE,
                cookie_header(
                    SESSION_COOKIE,
                    token.expose_secret(),
                    "/console",
                    Some(max_age),
                    secure(&state),
                ),
            );
            headers.append(
                header::SET_COOKIE,
                cookie_header(
                    LOGIN_COOKIE,
                    "",
                    "/console/sign-in",
                    Some(0),
                    secure(&state),
                ),
            );
            Ok(response)
        }
        Ok(Err(SignInRefusal::InvalidCredentials)) => Ok(refused(
            StatusCode::UNAUTHORIZED,
            "console.invalid_credentials",
            "Wrong username or password.".into(),
        )),
        Ok(Err(SignInRefusal::Locked { until_ms })) => Ok(refused(
            StatusCode::TOO_MANY_REQUESTS,
            "console.too_many_attempts",
            format!(
                "Too many failed sign-ins: this account is locked for your address until {}. \
                 `strongroom admin reset-password` unlocks it.",
                view::time(until_ms)
            ),
        )),
        Ok(Err(SignInRefusal::TooManyRequests)) => Ok(refused(
            StatusCode::TOO_MANY_REQUESTS,
            "console.too_many_requests",
            "Too many sign-in attempts right now. Wait a moment and try again.".into(),
        )),
        Err(e) => Err(internal(&e)),
    }
}

pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap, _: Posted) -> Page {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state
            .console_auth
            .sign_out(token)
            .await
            .map_err(|e| internal(&e))?;
    }
    let mut response = see_other("/console/sign-in");
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, "", "/console", Some(0), secure(&state)),
    );
    Ok(response)
}
