//! A browser without JavaScript: a cookie jar, redirects followed one by one.

use reqwest::header::LOCATION;
use url::Url;

#[derive(Debug)]
pub struct Browser {
    pub http: reqwest::Client,
}

/// Where a chain of redirects ended.
#[derive(Debug)]
pub enum Landing {
    /// A Location at the application's redirect URI (not fetched).
    App(Url),
    /// A page that was not a redirect: status and body.
    Page(u16, String),
}

impl Landing {
    pub fn app(self) -> Url {
        match self {
            Self::App(url) => url,
            Self::Page(status, body) => {
                panic!("expected a redirect to the application, got HTTP {status}: {body}")
            }
        }
    }

    pub fn page(self) -> (u16, String) {
        match self {
            Self::Page(status, body) => (status, body),
            Self::App(url) => panic!("expected a page, got a redirect to {url}"),
        }
    }
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        let http = crate::http_no_redirects()
            .cookie_store(true)
            .build()
            .expect("client");
        Self { http }
    }

    /// GETs `url` and follows redirects until one points at `app_prefix` or a page answers.
    pub async fn follow(&self, url: &str, app_prefix: &str) -> Landing {
        let response = self.http.get(url).send().await.expect("GET");
        self.follow_response(response, app_prefix).await
    }

    /// POSTs a form, then follows as [`Browser::follow`].
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)], app_prefix: &str) -> Landing {
        let response = self.http.post(url).form(form).send().await.expect("POST");
        self.follow_response(response, app_prefix).await
    }

    pub async fn follow_response(
        &self,
        mut response: reqwest::Response,
        app_prefix: &str,
    ) -> Landing {
        for _ in 0..20 {
            if !response.status().is_redirection() {
                let status = response.status().as_u16();
                return Landing::Page(status, response.text().await.unwrap_or_default());
            }
            let base = response.url().clone();
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .expect("Location")
                .to_owned();
            let next = base.join(&location).expect("Location URL");
            if next.as_str().starts_with(app_prefix) {
                return Landing::App(next);
            }
            response = self.http.get(next).send().await.expect("GET");
        }
        panic!("more than 20 redirects");
    }

    /// GETs `url` without following: the response's Location.
    pub async fn location(&self, url: &str) -> (u16, Option<Url>) {
        let response = self.http.get(url).send().await.expect("GET");
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| response.url().join(l).expect("Location URL"));
        (status, location)
    }
}

/// A query parameter of a URL.
pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The headless Chromium the browser tests drive: `STRONGROOM_CHROMIUM`, else Debian's
/// `/usr/bin/chromium` (which ./scripts/test installs).
pub fn chromium() -> String {
    let path = std::env::var("STRONGROOM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "no Chromium at {path}: install Debian's `chromium` (./scripts/test does) or set STRONGROOM_CHROMIUM"
    );
    path
}
