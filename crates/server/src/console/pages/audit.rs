//! The console's audit trail pages.

use super::*;

const AUDIT_ACTIONS: &[&str] = &[
    "token.read",
    "token.refresh",
    "token.store",
    "token.replace",
    "token.delete",
    "token.revoke",
];

pub async fn audit(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Page {
    let page = q.page.unwrap_or(1).clamp(1, limits::PAGE);
    let user = q.user.unwrap_or_default().trim().to_owned();
    let action = q.action.unwrap_or_default().trim().to_owned();
    let application = q.application.unwrap_or_default().trim().to_owned();
    let filter = AuditFilter {
        user_id: Some(user.clone()).filter(|u| !u.is_empty()),
        action: Some(action.clone()).filter(|a| !a.is_empty()),
        application_id: Some(application.clone()).filter(|a| !a.is_empty()),
        ..Default::default()
    };
    let (events, total) = state
        .audit
        .list(
            &filter,
            limits::Page::new(page, AUDIT_PAGE_SIZE).map_err(|e| internal(&e))?,
        )
        .await
        .map_err(|e| internal(&e))?;
    let rows = events
        .into_iter()
        .map(|e| AuditItem {
            at: view::time(e.occurred_at),
            actor: match &e.actor_id {
                Some(id) => format!("{} {id}", e.actor_type),
                None => e.actor_type.clone(),
            },
            count: e.detail.get("count").and_then(Value::as_i64).unwrap_or(1),
            user_href: e
                .user_id
                .as_deref()
                .map(|u| format!("/console/users/{}", segment(u))),
            user_id: or_dash(e.user_id.as_deref()),
            target: or_dash(e.target.as_deref()),
            application: match (
                &e.application_id,
                e.detail.get("via").and_then(Value::as_str),
            ) {
                (Some(id), Some("worker")) => format!("{id} (break-glass worker)"),
                (Some(id), Some("token_exchange")) => format!("{id} (token exchange)"),
                (Some(id), _) => id.clone(),
                (None, _) => "—".into(),
            },
            purpose: or_dash(e.detail.get("purpose").and_then(Value::as_str)),
            action: e.action,
            outcome: e.outcome,
        })
        .collect();
    let mut actions: Vec<Choice> = vec![Choice {
        value: String::new(),
        title: "All actions".into(),
        selected: action.is_empty(),
    }];
    actions.extend(AUDIT_ACTIONS.iter().map(|a| Choice {
        value: (*a).to_owned(),
        title: (*a).to_owned(),
        selected: *a == action,
    }));
    Ok(view::render(&AuditPage {
        chrome: Chrome::new(&admin, "audit"),
        paging: paging(
            "/console/audit",
            &[
                ("user", user.as_str()),
                ("action", action.as_str()),
                ("application", application.as_str()),
            ],
            page,
            AUDIT_PAGE_SIZE,
            total,
        ),
        user,
        application,
        actions,
        rows,
    }))
}
