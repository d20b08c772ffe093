//! The black-box tests of `strongroom-providers`, one binary: a module per provider (and the
//! egress policy) against `wiremock` fakes shaped like the real APIs, with one shared harness.
//! `tests/logging.rs` stays apart: it owns the process's log subscriber.

mod support;

mod egress;
mod facebook;
mod github;
mod google;
mod oauth2;
mod oidc;
