//! The console's handlers: each reads its input, calls one core service and renders a page.
//! One module per section of the console; the helpers they share are here.

mod applications;
mod audit;
mod connectors;
mod sign_in;
mod sso;
mod users;

pub use {applications::*, audit::*, connectors::*, sign_in::*, sso::*, users::*};

use crate::extract::page::{Path, Query};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use strongroom_core::admins::{AdminSession, SignInRefusal};

use crate::net::ClientAddr;
use strongroom_core::applications::{
    APPLICATION_TYPES, ApplicationPatch, ClientMetadata, NewApplication,
};
use strongroom_core::audit::Actor;
use strongroom_core::connectors::{
    ConnectorPatch, NewConnector, NewSsoConnector, SECRET_CONFIG_KEYS, SSO_PROVIDER_OIDC,
    SsoConnectorPatch, display_name, factory,
};
use strongroom_core::crypto::{constant_time_eq, random_token};
use strongroom_core::limits;
use strongroom_core::providers::{FactoryMetadata, social_factories};
use strongroom_core::store::{
    ApplicationId, AuditFilter, ConnectorId, IdentityKey, SsoConnectorId, TokenExchangeSettings,
    UserId,
};
use strongroom_core::users::{Connection, TokenStatus};
use strongroom_core::{CoreError, ExposeSecret, SecretString};

use super::view::{self, *};
use super::{
    Admin, Fields, LOGIN_COOKIE, Posted, SESSION_COOKIE, check_origin, csrf_refusal, internal,
    read_fields,
};
use crate::html::{cookie, cookie_header};
use crate::{ApiError, AppState};

type Page = Result<Response, Response>;

const PAGE_SIZE: i64 = 20;
const AUDIT_PAGE_SIZE: i64 = 50;

fn not_found(admin: &AdminSession, what: &str) -> Response {
    view::render_status(
        StatusCode::NOT_FOUND,
        &MessagePage {
            chrome: Some(Chrome::new(admin, "")),
            title: "Not found",
            message: &format!("{what} does not exist (any more)."),
            code: None,
        },
    )
}

/// A service's refusal or failure as a page: the API's status, code and message (an
/// unexpected failure logged with an id that the page shows).
fn failed(admin: &AdminSession, e: CoreError) -> Response {
    let e = ApiError::from(e);
    let title = if e.status == StatusCode::NOT_FOUND {
        "Not found"
    } else {
        "Request failed"
    };
    view::render_status(
        e.status,
        &MessagePage {
            chrome: Some(Chrome::new(admin, "")),
            title,
            message: &e.message,
            code: Some(e.code),
        },
    )
}

/// A core error as a status and the API's code and message.
fn problem(e: CoreError) -> (StatusCode, Problem) {
    let e = ApiError::from(e);
    (e.status, e.into())
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A path segment, percent-encoded.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn secure(state: &AppState) -> bool {
    state.secure_cookies()
}

/// `?saved=1` / `?deleted=1` and the like: what the previous POST did.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    saved: Option<String>,
    deleted: Option<String>,
    created: Option<String>,
}

impl Flash {
    /// The notice to show; an empty text means none for that outcome.
    fn notice(&self, saved: &str, deleted: &str) -> Option<String> {
        let text = if self.saved.is_some() || self.created.is_some() {
            saved
        } else if self.deleted.is_some() {
            deleted
        } else {
            ""
        };
        (!text.is_empty()).then(|| text.to_owned())
    }
}

#[derive(Debug, Default, Deserialize)]
/// The query of a paged list page (users, the audit trail).
pub struct ListQuery {
    search: Option<String>,
    page: Option<i64>,
    user: Option<String>,
    action: Option<String>,
    application: Option<String>,
}

/// Paging links that keep the other query parameters.
fn paging(base: &str, query: &[(&str, &str)], page: i64, size: i64, total: i64) -> Paging {
    let pages = ((total + size - 1) / size).max(1);
    let link = |p: i64| {
        let mut href = format!("{base}?page={p}");
        for (k, v) in query.iter().filter(|(_, v)| !v.is_empty()) {
            href.push_str(&format!("&{k}={}", segment(v)));
        }
        href
    };
    Paging {
        page,
        pages,
        total,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    }
}

fn confirm(
    admin: &AdminSession,
    section: &'static str,
    title: String,
    message: String,
    action: String,
    cancel_href: String,
    confirm_label: &'static str,
) -> Response {
    view::render(&ConfirmPage {
        chrome: Chrome::new(admin, section),
        title,
        message,
        action,
        confirm_label,
        cancel_href,
    })
}

fn or_dash(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("—").to_owned()
}
