//! Input limits, written once: the longest value each kind of field accepts (Logto's column
//! sizes where it has them), paging bounds, and the URL rules for values that end up in a
//! browser's address bar or an ID token.

use crate::CoreError;

/// A person's or a connector's display name (Logto: `varchar(128)`).
pub const NAME: usize = 128;
/// An application's name (Logto: `varchar(256)`).
pub const APP_NAME: usize = 256;
/// Free text: descriptions.
pub const DESCRIPTION: usize = 2048;
/// URLs: redirect URIs, avatars, logos.
pub const URL: usize = 2048;
/// An e-mail address (RFC 5321's path limit).
pub const EMAIL: usize = 254;
/// `state`, `nonce` and `login_hint` of an authorization request, and the state of a social
/// verification.
pub const STATE: usize = 512;
/// A space-separated scope list.
pub const SCOPE: usize = 1024;
/// A search string of a list endpoint.
pub const SEARCH: usize = 256;
/// Redirect URIs per application.
pub const REDIRECT_URIS: usize = 64;
/// The largest page size of a list endpoint (Logto's).
pub const PAGE_SIZE: i64 = 100;
/// The highest page number a list endpoint accepts: far beyond any real data, and small
/// enough that `(page - 1) * page_size` never overflows.
pub const PAGE: i64 = 1_000_000;

/// `Err` naming `field` when `value` is longer than `max` characters.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), CoreError> {
    if value.chars().count() > max {
        Err(CoreError::Validation(format!(
            "{field} must be at most {max} characters long"
        )))
    } else {
        Ok(())
    }
}

/// [`check_len`] for an optional value.
pub fn check_opt_len(field: &str, value: Option<&str>, max: usize) -> Result<(), CoreError> {
    value.map_or(Ok(()), |v| check_len(field, v, max))
}

/// An absolute `http` or `https` URL of at most `max` characters (avatars and logos from a
/// provider: anything else, `javascript:` above all, is dropped).
pub fn is_web_url(value: &str, max: usize) -> bool {
    value.len() <= max
        && url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// Schemes a redirect URI may never have: a browser would run or render the URI itself.
const SCRIPT_SCHEMES: [&str; 4] = ["javascript", "data", "vbscript", "file"];

/// Whether `uri` may be registered as a redirect URI: an absolute URL of at most [`URL`]
/// characters, without a fragment, whose scheme is not one a browser executes (custom schemes
/// stay allowed for native applications).
pub fn is_redirect_uri(uri: &str) -> bool {
    uri.len() <= URL
        && url::Url::parse(uri)
            .is_ok_and(|u| !SCRIPT_SCHEMES.contains(&u.scheme()) && u.fragment().is_none())
}

/// A bounded page of a list: `page` 1-based, at most [`PAGE`]; `page_size` 1 to [`PAGE_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: i64,
    pub page_size: i64,
}

impl Page {
    /// Checks the bounds; the message names the parameter.
    pub fn new(page: i64, page_size: i64) -> Result<Self, CoreError> {
        if !(1..=PAGE).contains(&page) {
            return Err(CoreError::Validation(format!(
                "page must be between 1 and {PAGE}"
            )));
        }
        if !(1..=PAGE_SIZE).contains(&page_size) {
            return Err(CoreError::Validation(format!(
                "page_size must be between 1 and {PAGE_SIZE}"
            )));
        }
        Ok(Self { page, page_size })
    }

    /// Rows to skip. Cannot overflow within the bounds of [`Page::new`].
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.page_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_that_a_browser_would_execute_are_refused() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript://%0aalert(1)",
            "data:text/html,<script>x</script>",
            "vbscript:msgbox",
            "file:///etc/passwd",
            "https://app.example/cb#frag",
            "relative/path",
            "",
        ] {
            assert!(!is_redirect_uri(bad), "{bad} was accepted");
        }
        for good in [
            "https://app.example/cb",
            "http://127.0.0.1:9/cb?x=1",
            "io.example.app:/oauth2redirect",
        ] {
            assert!(is_redirect_uri(good), "{good} was refused");
        }
        assert!(!is_redirect_uri(&format!(
            "https://a.example/{}",
            "x".repeat(URL)
        )));
    }

    #[test]
    fn avatars_must_be_web_urls() {
        assert!(is_web_url("https://cdn.example/a.png", URL));
        assert!(!is_web_url("javascript:alert(1)", URL));
        assert!(!is_web_url("data:image/png;base64,AAAA", URL));
        assert!(!is_web_url(
            &format!("https://a.example/{}", "x".repeat(URL)),
            URL
        ));
    }

    #[test]
    fn pages_are_bounded_and_never_overflow() {
        assert!(Page::new(0, 10).is_err());
        assert!(Page::new(1, 0).is_err());
        assert!(Page::new(1, PAGE_SIZE + 1).is_err());
        assert!(Page::new(i64::MAX, 100).is_err());
        assert!(Page::new(4_611_686_018_427_387_905, 2).is_err());
        let last = Page::new(PAGE, PAGE_SIZE).expect("in bounds");
        assert_eq!(last.offset(), (PAGE - 1) * PAGE_SIZE);
        assert_eq!(Page::new(3, 20).expect("ok").offset(), 40);
    }

    #[test]
    fn lengths_count_characters() {
        assert!(check_len("name", &"é".repeat(NAME), NAME).is_ok());
        let e = check_len("name", &"é".repeat(NAME + 1), NAME).expect_err("too long");
        assert!(e.to_string().contains("name must be at most 128"));
    }
}
