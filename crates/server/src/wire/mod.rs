//! The wire format: Logto's JSON shapes of what Strongroom reads and answers, one Rust type per
//! body, each deriving its OpenAPI schema. `strongroom-core` takes and returns domain values;
//! converting between the two happens here and nowhere else, so the document served at
//! `GET /api/swagger.json` describes exactly what the handlers (de)serialize.

pub mod account;
pub mod account_center;
pub mod applications;
pub mod audit;
pub mod connectors;
pub mod oidc;
pub mod sign_in;
pub mod users;

use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Logto's error body.
#[derive(serde::Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable dotted code, such as `entity.not_found`.
    pub code: String,
    /// A human-readable message; never a token, a secret, or database or provider text.
    pub message: String,
}

/// An OAuth 2.0 error (RFC 6749 5.2, RFC 6750 3.1), with Logto's `code` and `message`.
#[derive(serde::Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `oidc.` followed by `error`, as Logto names it; for token exchange, Strongroom's stable
    /// code of the case (`token_exchange.*`, `secrets.*`, `connector.*`).
    pub code: String,
    /// The same text as `error_description`.
    pub message: String,
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `invalid_target`, `invalid_token`,
    /// `temporarily_unavailable` or `server_error`.
    pub error: String,
    pub error_description: String,
}

/// Logto's constant tenant id: Strongroom serves one tenant.
pub const TENANT_ID: &str = "default";

/// A stored JSON object column (always an object: core checks it on the way in).
fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// Epoch milliseconds as an ISO 8601 UTC timestamp (`2026-12-01T18:34:17.000Z`).
pub fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_formats_utc() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::iso8601(1_796_150_057_123),
            "2026-12-01T18:34:17.123Z"
        );
        assert_eq!(super::iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
