//! HTTP: the process's one client, the one retry policy for vendor calls ([`VendorHttp`]),
//! and what every vendor API shares ([`Api`]).
//!
//! One reqwest client serves every call an event makes: the vendor's API, the answer to the
//! `ResponseURL`, and, through the AWS SDK's pluggable HTTP client ([`crate::aws`]), Secrets
//! Manager, STS and IAM. It is built on the first event, with one TLS configuration whose trust
//! roots are loaded once ([`tls`]); warm invocations reuse it and its connections.

mod api;
mod retry;
mod tls;

use std::time::Duration;

pub use api::VendorError;
pub(crate) use api::{Api, Dialect, error_body_message};
pub(crate) use retry::Answer;
pub use retry::{GaveUp, VendorHttp};

/// How long a connection may take to open, for every call (the AWS SDK is configured with the
/// same).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The process's HTTP client: HTTP/1.1 over one rustls configuration.
pub(crate) fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls::client_config())
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(20))
        .user_agent(concat!("registrar/", env!("CARGO_PKG_VERSION")))
        .build()
}
