//! A vendor's REST API, as every integration calls it: where it is, how a call is authorised,
//! JSON in and out, and what a failed call means ([`VendorError`]).
//!
//! The vendor-specific parts are arguments: the default base URL (replaced by
//! `REGISTRAR_VENDOR_ENDPOINT` when the function's environment sets it, see
//! [`VendorHttp::api`]), the authorisation headers (kept as secrets, made into sensitive header
//! values per attempt), the body's content type, and how the vendor's error bodies read.

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::retry::{Answer, GaveUp, VendorHttp};

/// A vendor call that did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VendorError {
    /// Transient failures (429, 5xx, timeouts) lasted until the deadline.
    #[error("{0}. Retrying the stack operation is safe.")]
    GaveUp(#[from] GaveUp),
    /// The vendor refused the call; retrying will not help until something is fixed.
    #[error("{vendor} refused {call} with HTTP {status}: {message}.{hint}")]
    Refused {
        vendor: &'static str,
        call: String,
        status: u16,
        message: String,
        hint: String,
    },
    /// The vendor answered with something that cannot be read.
    #[error(
        "{vendor} answered {call} with a body Registrar cannot read ({detail}). Retrying the stack operation is safe."
    )]
    Unreadable {
        vendor: &'static str,
        call: String,
        detail: String,
    },
    /// A create found the account registered meanwhile (a race with another writer).
    #[error("{vendor} says the account is already registered")]
    AlreadyExists { vendor: &'static str },
    /// The vendor cannot serve this combination (e.g. a site in a partition it does not reach).
    #[error("{0}")]
    Unsupported(String),
}

impl VendorError {
    /// Whether the failure was transient (retrying later may succeed).
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            VendorError::GaveUp(_) | VendorError::Unreadable { .. }
        )
    }

    /// A refusal with `hint` in place of the one it had (what to do in the caller's situation).
    pub(crate) fn with_hint(self, hint: String) -> VendorError {
        match self {
            VendorError::Refused {
                vendor,
                call,
                status,
                message,
                ..
            } => VendorError::Refused {
                vendor,
                call,
                status,
                message,
                hint,
            },
            other => other,
        }
    }
}

/// The message of a vendor's error body: the messages `read` finds in its JSON (none empty),
/// joined with "; "; its text (shortened) when it is not JSON; "no error details" when
/// neither has any.
pub(crate) fn error_body_message(body: &[u8], read: impl FnOnce(Value) -> Vec<String>) -> String {
    let messages = match serde_json::from_slice::<Value>(body) {
        Ok(json) => read(json),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                vec![]
            } else {
                vec![text.chars().take(300).collect()]
            }
        }
    };
    if messages.is_empty() {
        "no error details".to_owned()
    } else {
        messages.join("; ")
    }
}

/// How a vendor's API is called, besides its base URL.
pub(crate) struct Dialect {
    /// The authorisation headers, with their secret values.
    pub(crate) authorization: Vec<(HeaderName, SecretString)>,
    /// The `Content-Type` of request bodies.
    pub(crate) body_type: &'static str,
    /// The message of an error body, for refusals.
    pub(crate) error_message: fn(&[u8]) -> String,
}

/// One vendor's API for one event.
pub(crate) struct Api {
    http: VendorHttp,
    base: String,
    dialect: Dialect,
}

impl Api {
    pub(super) fn new(http: VendorHttp, base: &str, dialect: Dialect) -> Api {
        Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
            dialect,
        }
    }

    /// The retry layer, for the event's deadline and progress.
    pub(crate) fn http(&self) -> &VendorHttp {
        &self.http
    }

    /// The URL of `path` (which may carry a query) under the base URL.
    pub(crate) fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.base)).expect("the base URL was validated")
    }

    /// The URL of object `id` of `collection`, the id escaped as one path segment.
    pub(crate) fn object_url(&self, collection: &str, id: &str) -> Url {
        let mut url = self.url(collection);
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .push(id);
        url
    }

    /// Sends a call under the retry policy, with the authorisation, `Accept: application/json`
    /// and, if given, the JSON body.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&impl Serialize>,
    ) -> Result<Answer, VendorError> {
        let body = body.map(|b| serde_json::to_vec(b).expect("a request body serializes"));
        Ok(self
            .http
            .send(method, url, |request| {
                self.decorate(request, body.as_deref())
            })
            .await?)
    }

    /// The same call, sent once (see [`VendorHttp::send_once`]): for a POST that must not be
    /// repeated before looking whether the first one took effect.
    pub(crate) async fn send_once(
        &self,
        method: Method,
        url: Url,
        body: Option<&impl Serialize>,
    ) -> Result<Answer, VendorError> {
        let body = body.map(|b| serde_json::to_vec(b).expect("a request body serializes"));
        Ok(self
            .http
            .send_once(method, url, |request| {
                self.decorate(request, body.as_deref())
            })
            .await?)
    }

    fn decorate(
        &self,
        request: reqwest::RequestBuilder,
        body: Option<&[u8]>,
    ) -> reqwest::RequestBuilder {
        let mut request = request.header(ACCEPT, "application/json");
        for (name, secret) in &self.dialect.authorization {
            let mut value = HeaderValue::from_str(secret.expose_secret())
                .unwrap_or_else(|_| HeaderValue::from_static("invalid-key"));
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        match body {
            Some(body) => request
                .header(CONTENT_TYPE, self.dialect.body_type)
                .body(body.to_vec()),
            None => request,
        }
    }

    /// The answer's body as `T`; not JSON, or not the shape `T` describes, is
    /// [`VendorError::Unreadable`].
    pub(crate) fn read<T: DeserializeOwned>(
        &self,
        answer: &Answer,
        call: &str,
    ) -> Result<T, VendorError> {
        serde_json::from_slice(&answer.body).map_err(|e| self.unreadable(call, &shape_error(&e)))
    }

    /// The vendor answered `call` with something Registrar cannot read.
    pub(crate) fn unreadable(&self, call: &str, detail: &str) -> VendorError {
        VendorError::Unreadable {
            vendor: self.http.vendor(),
            call: call.to_owned(),
            detail: detail.to_owned(),
        }
    }

    /// The vendor refused `call` with `answer`; `hint` says what to check.
    pub(crate) fn refused(&self, call: &str, answer: &Answer, hint: String) -> VendorError {
        let message = (self.dialect.error_message)(&answer.body);
        self.refused_with(call, answer.status, message, hint)
    }

    /// A refusal with Registrar's own words for what the vendor's answer means.
    pub(crate) fn refused_with(
        &self,
        call: &str,
        status: u16,
        message: String,
        hint: String,
    ) -> VendorError {
        VendorError::Refused {
            vendor: self.http.vendor(),
            call: call.to_owned(),
            status,
            message,
            hint,
        }
    }
}

/// Why a body could not be read, without echoing any of it: "not JSON", or which field is
/// missing or has the wrong type (serde's message names the field, and for a wrong type also
/// the value, which is left out).
fn shape_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => {
            let message = error.to_string();
            let message = message.split(" at line ").next().unwrap_or_default();
            if let Some(field) = message.strip_prefix("missing field ") {
                format!("no {field}")
            } else {
                "a field of an unexpected type".to_owned()
            }
        }
        Category::Io | Category::Syntax | Category::Eof => "not JSON".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Shape {
        id: String,
        n: Option<u32>,
    }

    #[test]
    fn unreadable_bodies_are_described_without_their_content() {
        let read = |body: &str| serde_json::from_str::<Shape>(body).map_err(|e| shape_error(&e));
        assert_eq!(read("<html>").unwrap_err(), "not JSON");
        assert_eq!(read(r#"{"id": "x""#).unwrap_err(), "not JSON");
        assert_eq!(read(r#"{"n": 1}"#).unwrap_err(), "no `id`");
        let wrong = read(r#"{"id": "SECRET-LOOKING", "n": "SECRET-LOOKING"}"#).unwrap_err();
        assert_eq!(wrong, "a field of an unexpected type");
        assert!(
            read(r#"{"id": "x", "other": [1]}"#).is_ok(),
            "unknown fields are ignored"
        );
    }
}
