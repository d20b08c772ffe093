//! The server's integration tests, one binary: each module is one suite (the Management,
//! Account and Verification APIs, sign-in against fakes and against the real upstream
//! `oidc-provider`, Logto's own libraries, the console, the security review's regressions, the
//! OpenAPI document and schemathesis). `support` is the harness they share.

mod support;

mod account_api;
mod connectors_api;
mod console;
mod console_browser;
mod logto_libraries;
mod oidc_provider;
mod openapi;
mod schemathesis;
mod security_review;
mod sign_in_e2e;
mod sign_in_fakes;
mod status;
mod token_exchange;
mod token_refresh;
mod users_api;
mod verification_api;
