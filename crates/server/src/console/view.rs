//! The console's pages: askama templates (HTML-escaped by default) and what they show.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use strongroom_core::admins::AdminSession;

/// What every signed-in page shows around its content.
pub struct Chrome {
    pub username: String,
    pub csrf: String,
    /// The navigation entry to highlight.
    pub section: &'static str,
}

impl Chrome {
    pub fn new(admin: &AdminSession, section: &'static str) -> Self {
        Self {
            username: admin.username.clone(),
            csrf: admin.csrf_token.clone(),
            section,
        }
    }
}

pub fn render(page: &impl Template) -> Response {
    render_status(StatusCode::OK, page)
}

pub fn render_status(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a console page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page cannot be shown.",
            )
                .into_response()
        }
    }
}

/// An error from a service, shown in place on the form that caused it.
pub struct Problem {
    pub code: String,
    pub message: String,
}

impl From<crate::ApiError> for Problem {
    fn from(e: crate::ApiError) -> Self {
        Self {
            code: e.code.to_owned(),
            message: e.message,
        }
    }
}

#[derive(Template)]
#[template(path = "console/message.html")]
pub struct MessagePage<'a> {
    pub chrome: Option<Chrome>,
    pub title: &'a str,
    pub message: &'a str,
    pub code: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub struct SignInPage {
    pub csrf: String,
    pub username: String,
    pub problem: Option<Problem>,
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub title: String,
    pub message: String,
    pub action: String,
    pub confirm_label: &'static str,
    pub cancel_href: String,
}

/// A connector in the list.
pub struct ConnectorItem {
    pub href: String,
    pub name: String,
    pub kind: String,
    pub detail: String,
    pub storage: &'static str,
}

pub struct FactoryChoice {
    pub id: &'static str,
    pub name: String,
}

#[derive(Template)]
#[template(path = "console/connectors.html")]
pub struct ConnectorsPage {
    pub chrome: Chrome,
    pub social: Vec<ConnectorItem>,
    pub sso: Vec<ConnectorItem>,
    pub factories: Vec<FactoryChoice>,
    pub notice: Option<String>,
}

pub struct Choice {
    pub value: String,
    pub title: String,
    pub selected: bool,
}

/// One input of a connector form.
pub struct Field {
    pub key: String,
    pub label: String,
    /// `text`, `password`, `select`, `multi`, `json` or `switch`.
    pub kind: &'static str,
    pub required: bool,
    pub value: String,
    pub description: String,
    pub choices: Vec<Choice>,
}

/// The "Store tokens for persistent API access" switch.
pub struct StorageSwitch {
    pub supported: bool,
    pub enabled: bool,
    /// Why the switch is unavailable.
    pub reason: String,
}

#[derive(Template)]
#[template(path = "console/connector_form.html")]
pub struct ConnectorForm {
    pub chrome: Chrome,
    pub title: String,
    pub subtitle: String,
    pub action: String,
    pub fields: Vec<Field>,
    pub storage: StorageSwitch,
    pub problem: Option<Problem>,
    pub notice: Option<String>,
    pub delete_href: Option<String>,
}

pub struct UserItem {
    pub href: String,
    pub name: String,
    pub username: String,
    pub email: String,
    pub created: String,
}

pub struct Paging {
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "console/users.html")]
pub struct UsersPage {
    pub chrome: Chrome,
    pub search: String,
    pub rows: Vec<UserItem>,
    pub paging: Paging,
}

pub struct UserView {
    pub id: String,
    pub name: String,
    pub username: String,
    pub email: String,
    pub phone: String,
    pub created: String,
    pub last_sign_in: String,
}

/// A connection in a user's Connections section.
pub struct ConnectionItem {
    pub href: String,
    pub connector_name: String,
    pub kind: String,
    pub identity_id: String,
    pub linked: String,
    pub status: &'static str,
    /// CSS class of the status label.
    pub status_class: &'static str,
}

#[derive(Template)]
#[template(path = "console/user.html")]
pub struct UserPage {
    pub chrome: Chrome,
    pub user: UserView,
    pub connections: Vec<ConnectionItem>,
    pub audit_href: String,
}

/// A stored token set's metadata. Never a token.
pub struct TokenView {
    pub created: String,
    pub updated: String,
    pub refresh_token: String,
    pub expires: String,
    pub scope: String,
    pub token_type: String,
    pub last_refresh: String,
    pub refresh_error: String,
}

#[derive(Template)]
#[template(path = "console/connection.html")]
pub struct ConnectionPage {
    pub chrome: Chrome,
    pub user_href: String,
    pub user_name: String,
    pub item: ConnectionItem,
    pub token: Option<TokenView>,
    pub status_note: String,
    pub delete_href: Option<String>,
    pub notice: Option<String>,
}

pub struct ApplicationItem {
    pub href: String,
    pub name: String,
    pub app_type: String,
    pub id: String,
    pub redirect_uris: String,
}

#[derive(Template)]
#[template(path = "console/applications.html")]
pub struct ApplicationsPage {
    pub chrome: Chrome,
    pub rows: Vec<ApplicationItem>,
    pub types: Vec<Choice>,
    pub name: String,
    pub redirect_uris: String,
    pub problem: Option<Problem>,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "console/application.html")]
pub struct ApplicationPage {
    pub chrome: Chrome,
    pub id: String,
    pub name: String,
    pub app_type: String,
    pub description: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    /// Token exchange: on, the connections (one `resource` per line), the applications acted
    /// for (one id per line), the break-glass worker grant, and the JWKS (JSON text).
    pub exchange_enabled: bool,
    pub exchange_connectors: String,
    pub exchange_act_for: String,
    pub worker: bool,
    pub jwks: String,
    /// The client secret, right after creation only.
    pub secret_once: Option<String>,
    pub problem: Option<Problem>,
    pub notice: Option<String>,
}

pub struct AuditItem {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub outcome: String,
    pub user_href: Option<String>,
    pub user_id: String,
    pub target: String,
    /// The application that read, and how (`token_exchange`, `worker`, ...).
    pub application: String,
    /// The purpose the reader gave.
    pub purpose: String,
    pub count: i64,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
pub struct AuditPage {
    pub chrome: Chrome,
    pub user: String,
    pub application: String,
    pub actions: Vec<Choice>,
    pub rows: Vec<AuditItem>,
    pub paging: Paging,
}

/// Epoch milliseconds as `2026-12-01 22:07:51 UTC`.
pub fn time(ms: i64) -> String {
    let iso = crate::wire::iso8601(ms);
    format!("{} {} UTC", &iso[..10], &iso[11..19])
}

/// How far `at_ms` is from `now_ms`, in words: `in 5 min`, `3 h ago`.
pub fn relative(at_ms: i64, now_ms: i64) -> String {
    let delta = (at_ms - now_ms) / 1000;
    let size = delta.unsigned_abs();
    let amount = match size {
        0..60 => format!("{size} s"),
        60..7200 => format!("{} min", size / 60),
        7200..172_800 => format!("{} h", size / 3600),
        _ => format!("{} days", size / 86_400),
    };
    if delta >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(time(1_796_166_471_000), "2026-12-01 23:07:51 UTC");
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(90_000, 0), "in 1 min");
        assert_eq!(relative(0, 10_800_000), "3 h ago");
        assert_eq!(relative(5_000, 0), "in 5 s");
    }
}
