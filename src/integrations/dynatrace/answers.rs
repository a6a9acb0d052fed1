//! How Dynatrace's answers read: its error bodies, and the shapes shared by its answers.
//!
//! An error is an `ErrorEnvelope`: `{"error": {"code", "message", "constraintViolations":
//! [{"path", "message"}]}}` from the Settings API, and `{"error": {"code", "message", "details":
//! {"constraintViolations": […]}}}` from the platform APIs (Extensions), which put everything
//! beyond code and message under `details`; a settings POST answers a list with one result per
//! object, each carrying such an `error` when it failed (docs/dynatrace-api.md, "Errors").

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::http::error_body_message;

/// A value that is `T`, or anything else: one odd item must not hide the others.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Lenient<T> {
    Read(T),
    Other(IgnoredAny),
}

impl<T> Lenient<T> {
    pub(super) fn ok(self) -> Option<T> {
        match self {
            Lenient::Read(value) => Some(value),
            Lenient::Other(_) => None,
        }
    }
}

/// The `error` of an `ErrorEnvelope` or of one result of a settings POST.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct Error {
    #[serde(default)]
    message: Option<Lenient<String>>,
    #[serde(rename = "constraintViolations", default)]
    constraint_violations: Option<Lenient<Vec<Lenient<Violation>>>>,
    /// The platform APIs' details: violations nest here.
    #[serde(default)]
    details: Option<Lenient<Details>>,
}

/// The `details` of a platform API error.
#[derive(Debug, Clone, Default, Deserialize)]
struct Details {
    #[serde(rename = "constraintViolations", default)]
    constraint_violations: Option<Lenient<Vec<Lenient<Violation>>>>,
}

/// One violated constraint: where (`path`) and what.
#[derive(Debug, Clone, Deserialize)]
struct Violation {
    #[serde(default)]
    path: Option<Lenient<String>>,
    message: String,
}

impl Error {
    /// `message (path: violation; …)`, or what of it there is.
    pub(super) fn describe(&self) -> String {
        let message = self
            .message
            .clone()
            .and_then(Lenient::ok)
            .unwrap_or_default();
        let details = self
            .details
            .clone()
            .and_then(Lenient::ok)
            .unwrap_or_default();
        let listed = |list: Option<Lenient<Vec<Lenient<Violation>>>>| {
            list.and_then(Lenient::ok)
                .unwrap_or_default()
                .into_iter()
                .filter_map(Lenient::ok)
        };
        let violations: Vec<String> = listed(self.constraint_violations.clone())
            .chain(listed(details.constraint_violations))
            .map(|v| match v.path.and_then(Lenient::ok) {
                Some(path) if !path.is_empty() => format!("{path}: {}", v.message),
                _ => v.message,
            })
            .collect();

        match (message.is_empty(), violations.is_empty()) {
            (_, true) => message,
            (true, false) => violations.join("; "),
            (false, false) => format!("{message} ({})", violations.join("; ")),
        }
    }
}

/// Something that may carry an `error`: an `ErrorEnvelope`, or one result of a list.
#[derive(Debug, Clone, Deserialize)]
struct WithError {
    error: Error,
}

/// The message of a Dynatrace error body: an `ErrorEnvelope`, a settings result list whose
/// items carry such an `error`, or anything else (shortened).
pub(super) fn error_message(body: &[u8]) -> String {
    error_body_message(body, |json| {
        let items = match json {
            Value::Array(items) => items,
            other => vec![other],
        };
        let mut messages: Vec<String> = items
            .into_iter()
            .filter_map(|item| serde_json::from_value::<WithError>(item).ok())
            .map(|item| item.error.describe())
            .filter(|m| !m.is_empty())
            .collect();
        // The caller ends the sentence.
        if let Some(last) = messages.last_mut() {
            let ended = last.trim_end_matches('.').len();
            last.truncate(ended);
        }
        messages
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_in_every_shape_are_read() {
        let envelope = br#"{"error":{"code":400,"message":"Validation failed","constraintViolations":[{"path":"awsRoleBasedAuthentication/roleArn","message":"Unable to assume role","parameterLocation":"PAYLOAD_BODY","location":null}]}}"#;
        assert_eq!(
            error_message(envelope),
            "Validation failed (awsRoleBasedAuthentication/roleArn: Unable to assume role)"
        );
        let list = br#"[{"code":400,"error":{"code":400,"message":"Constraints violated.","constraintViolations":[{"path":"name","message":"There is another connection defined under this name"}]},"invalidValue":{}}]"#;
        assert_eq!(
            error_message(list),
            "Constraints violated. (name: There is another connection defined under this name)"
        );
        let platform = br#"{"error":{"code":400,"message":"Invalid monitoring configuration","details":{"constraintViolations":[{"path":"value/aws/credentials/0/connectionId","message":"Connection not found","parameterLocation":"PAYLOAD_BODY"}]}}}"#;
        assert_eq!(
            error_message(platform),
            "Invalid monitoring configuration (value/aws/credentials/0/connectionId: Connection not found)"
        );
        assert_eq!(
            error_message(b"<html>Bad gateway</html>"),
            "<html>Bad gateway</html>"
        );
        assert_eq!(error_message(b""), "no error details");
        assert_eq!(error_message(b"{}"), "no error details");
    }
}

#[cfg(test)]
pub(super) mod fuzz {
    //! Any answer body: reading never panics. The JSON generator is shared with the parts'
    //! fuzz tests.

    use super::*;
    use proptest::prelude::*;

    /// Arbitrary JSON biased towards the keys Dynatrace's answers carry.
    pub(crate) fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("A"),
                Just("111111111111"),
                Just(""),
                Just("x"),
                Just("user")
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("aws".to_owned()),
                        Just("credentials".to_owned()),
                        Just("connectionId".to_owned()),
                        Just("enabled".to_owned()),
                        Just("accountId".to_owned()),
                        Just("owner".to_owned()),
                        Just("type".to_owned()),
                        Just("id".to_owned()),
                        Just("value".to_owned()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_error_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
            prop_assert!(!error_message(&body).is_empty());
        }

        #[test]
        fn arbitrary_json_error_bodies_never_panic(object in json()) {
            prop_assert!(!error_message(object.to_string().as_bytes()).is_empty());
        }
    }
}
