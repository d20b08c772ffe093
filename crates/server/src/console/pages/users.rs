//! The console's users pages.

use super::*;

pub async fn users(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Page {
    let page = q.page.unwrap_or(1).clamp(1, limits::PAGE);
    let search: String = q
        .search
        .unwrap_or_default()
        .chars()
        .take(limits::SEARCH)
        .collect();
    let (rows, total) = state
        .users
        .list_rows(
            Some(search.as_str()),
            limits::Page::new(page, PAGE_SIZE).map_err(|e| internal(&e))?,
        )
        .await
        .map_err(|e| internal(&e))?;
    let rows = rows
        .into_iter()
        .map(|u| UserItem {
            href: format!("/console/users/{}", segment(u.id.as_str())),
            name: u
                .name
                .clone()
                .or_else(|| u.username.clone())
                .or_else(|| u.primary_email.clone())
                .unwrap_or_else(|| u.id.as_str().to_owned()),
            username: or_dash(u.username.as_deref()),
            email: or_dash(u.primary_email.as_deref()),
            created: view::time(u.created_at),
        })
        .collect();
    Ok(view::render(&UsersPage {
        chrome: Chrome::new(&admin, "users"),
        paging: paging(
            "/console/users",
            &[("search", search.as_str())],
            page,
            PAGE_SIZE,
            total,
        ),
        search,
        rows,
    }))
}

fn status_class(status: TokenStatus) -> &'static str {
    match status {
        TokenStatus::Active => "active",
        TokenStatus::Expired => "expired",
        TokenStatus::Inactive => "inactive",
        TokenStatus::NotApplicable => "na",
    }
}

fn connection_path(user: &UserId, key: &IdentityKey) -> String {
    let (kind, key) = match key {
        IdentityKey::Social(target) => ("social", target.as_str()),
        IdentityKey::Sso(id) => ("sso", id.as_str()),
    };
    format!(
        "/console/users/{}/connections/{kind}/{}",
        segment(user.as_str()),
        segment(key)
    )
}

fn connection_item(user: &UserId, c: &Connection) -> ConnectionItem {
    ConnectionItem {
        href: connection_path(user, &c.key),
        connector_name: c.connector_name.clone(),
        kind: match &c.key {
            IdentityKey::Social(target) => format!("Social · {target}"),
            IdentityKey::Sso(_) => "Enterprise SSO".into(),
        },
        identity_id: c.identity_id.clone(),
        linked: view::time(c.linked_at),
        status: c.status.label(),
        status_class: status_class(c.status),
    }
}

pub async fn user(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Page {
    let id = UserId::from(id);
    let user = state.users.get(&id).await.map_err(|e| failed(&admin, e))?;
    let connections = state
        .users
        .connections(&id)
        .await
        .map_err(|e| internal(&e))?;
    Ok(view::render(&UserPage {
        chrome: Chrome::new(&admin, "users"),
        audit_href: format!("/console/audit?user={}", segment(id.as_str())),
        connections: connections
            .iter()
            .map(|c| connection_item(&id, c))
            .collect(),
        user: UserView {
            name: user
                .name
                .clone()
                .or_else(|| user.username.clone())
                .unwrap_or_else(|| user.id.as_str().to_owned()),
            id: user.id.as_str().to_owned(),
            username: or_dash(user.username.as_deref()),
            email: or_dash(user.primary_email.as_deref()),
            phone: or_dash(user.primary_phone.as_deref()),
            created: view::time(user.created_at),
            last_sign_in: user.last_sign_in_at.map_or_else(|| "—".into(), view::time),
        },
    }))
}

/// The user's connection named by a console path, with the user's display name.
async fn find_connection(
    state: &AppState,
    admin: &AdminSession,
    id: &UserId,
    kind: &str,
    key: &str,
) -> Result<(String, Connection), Response> {
    let user = state.users.get(id).await.map_err(|e| failed(admin, e))?;
    let wanted = match kind {
        "social" => IdentityKey::Social(key.to_owned()),
        "sso" => IdentityKey::Sso(SsoConnectorId::from(key.to_owned())),
        _ => return Err(not_found(admin, "That connection")),
    };
    let connection = state
        .users
        .connections(id)
        .await
        .map_err(|e| internal(&e))?
        .into_iter()
        .find(|c| c.key == wanted)
        .ok_or_else(|| not_found(admin, "That connection"))?;
    let name = user
        .name
        .or(user.username)
        .unwrap_or_else(|| user.id.as_str().to_owned());
    Ok((name, connection))
}

fn status_note(c: &Connection) -> String {
    let has_refresh = c
        .secret
        .as_ref()
        .is_some_and(|s| s.metadata.has_refresh_token);
    match c.status {
        TokenStatus::Active => "A token set is stored and its access token is valid. The user's applications can retrieve it through the Account API.".into(),
        TokenStatus::Expired if has_refresh => "The access token has expired. A refresh token is stored: Strongroom refreshes the access token the next time it is retrieved.".into(),
        TokenStatus::Expired => "The access token has expired and no refresh token is stored: the user must sign in through this connector again (or re-authorize through the verification API).".into(),
        TokenStatus::Inactive => "Token storage is on for this connector, but no token set is stored: the user has not signed in through it since storage was switched on, or the tokens were deleted.".into(),
        TokenStatus::NotApplicable => "This connector does not store tokens: token storage is switched off for it, it does not support token storage, or it was deleted.".into(),
    }
}

pub async fn connection(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path((id, kind, key)): Path<(String, String, String)>,
    Query(flash): Query<Flash>,
) -> Page {
    let id = UserId::from(id);
    let (user_name, c) = find_connection(&state, &admin, &id, &kind, &key).await?;
    let now = state.clock.now_ms();
    let token = c.secret.as_ref().map(|s| {
        let m = &s.metadata;
        TokenView {
            created: view::time(s.created_at),
            updated: view::time(s.updated_at),
            refresh_token: if m.has_refresh_token {
                "Available".into()
            } else {
                "Not available: the provider issued none".into()
            },
            expires: m.expires_at.map_or_else(
                || "Not given by the provider".into(),
                |at| {
                    format!(
                        "{} ({})",
                        view::time(at.to_ms()),
                        view::relative(at.to_ms(), now)
                    )
                },
            ),
            scope: or_dash(m.scope.as_deref()),
            token_type: or_dash(m.token_type.as_deref()),
            last_refresh: m
                .last_refreshed_at
                .map_or_else(|| "Never".into(), |at| view::time(at.to_ms())),
            refresh_error: m.refresh_error.as_deref().map_or_else(
                || "None".into(),
                |e| format!("{e}: the user must re-authorize"),
            ),
        }
    });
    let item = connection_item(&id, &c);
    Ok(view::render(&ConnectionPage {
        chrome: Chrome::new(&admin, "users"),
        user_href: format!("/console/users/{}", segment(id.as_str())),
        user_name,
        delete_href: c
            .secret
            .as_ref()
            .map(|_| format!("{}/delete-tokens", item.href)),
        status_note: status_note(&c),
        item,
        token,
        notice: flash.notice(
            "",
            "The tokens were deleted and revoked at the provider where it supports revocation.",
        ),
    }))
}

pub async fn confirm_delete_tokens(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path((id, kind, key)): Path<(String, String, String)>,
) -> Page {
    let id = UserId::from(id);
    let (user_name, c) = find_connection(&state, &admin, &id, &kind, &key).await?;
    let href = connection_path(&id, &c.key);
    if c.secret.is_none() {
        return Ok(see_other(&href));
    }
    Ok(confirm(
        &admin,
        "users",
        format!("Delete the {} tokens of {user_name}?", c.connector_name),
        "The stored access and refresh tokens are deleted and revoked at the provider where it supports revocation. The user's applications lose access to the provider's API until the user signs in through this connector again.".into(),
        format!("{href}/delete-tokens"),
        href,
        "Delete tokens",
    ))
}

pub async fn delete_tokens(
    State(state): State<AppState>,
    Path((id, kind, key)): Path<(String, String, String)>,
    Posted { admin, .. }: Posted,
) -> Page {
    let id = UserId::from(id);
    let (_, c) = find_connection(&state, &admin, &id, &kind, &key).await?;
    let href = connection_path(&id, &c.key);
    if let Some(secret) = c.secret {
        state
            .token_access
            .delete_secret(
                &secret.id,
                &Actor::Admin(admin.admin_id.as_str().to_owned()),
            )
            .await
            .map_err(|e| internal(&e))?;
    }
    Ok(see_other(&format!("{href}?deleted=1")))
}
