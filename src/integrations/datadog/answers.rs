//! How Datadog's error answers read: the message in an error body, "not found", and what a
//! refusal asks the person reading the stack's events to check (for 403, the application-key
//! scope the call needs).

use reqwest::Method;
use serde_json::Value;

use super::site::Site;
use crate::http::{Answer, error_body_message};

/// The application-key scope (Datadog permission) a call of the AWS-integration API needs.
///
/// Datadog's permissions list (<https://docs.datadoghq.com/account_management/rbac/permissions/>):
/// `aws_configuration_read` "View but not add, remove, or edit AWS integration configurations",
/// `aws_configurations_manage` "Add or remove but not edit", `aws_configuration_edit` "Edit but
/// not add or remove". The OpenAPI spec assigns them per operation in the same way (GET: read;
/// POST and DELETE: manage; PUT/PATCH: edit), e.g. `/api/v1/integration/aws` in
/// DataDog/datadog-api-client-python `.generator/schemas/v1/openapi.yaml`.
pub(crate) fn scope_for(method: &Method) -> &'static str {
    match *method {
        Method::GET | Method::HEAD => "aws_configuration_read",
        Method::PATCH | Method::PUT => "aws_configuration_edit",
        _ => "aws_configurations_manage",
    }
}

/// Every scope Registrar's Datadog calls need, in the order the docs list them.
pub(crate) const SCOPES: [&str; 3] = [
    "aws_configuration_read",
    "aws_configurations_manage",
    "aws_configuration_edit",
];

/// What to check after Datadog refused `method` with `status`.
pub(crate) fn refusal_hint(method: &Method, status: u16, site: Site) -> String {
    match status {
        401 => format!(
            " Check that the api_key and app_key in the secret belong to the Datadog organisation on {} and are not revoked.",
            site.as_str()
        ),
        403 => format!(
            " This call needs the application key's {} scope (Registrar needs {}). Check the application key's scopes and its user's role, and that the api_key and app_key in the secret belong to the Datadog organisation on {} and are not revoked.",
            scope_for(method),
            SCOPES.join(", "),
            site.as_str()
        ),
        400 | 422 => {
            " Check the resource's properties (RoleName, AccountTags and the collection settings)."
                .to_owned()
        }
        _ => String::new(),
    }
}

/// "Not found" is 404 with `{"errors":[{"status":"404","title":"Account not found",...}]}` in
/// every recorded v2 answer (GET, PATCH and DELETE of an unknown id: the
/// `..._returns_not_found_response` cassettes). A 400 whose error says "does not exist" is
/// tolerated too: Datadog's CloudFormation resource provider (DataDog/datadog-cloudformation-resources,
/// `datadog_integrations_awsaccount/handlers.py`) reads it so for the v1 API; no v2 recording shows it.
pub(crate) fn is_not_found(answer: &Answer) -> bool {
    answer.status == 404
        || (answer.status == 400
            && error_message(&answer.body)
                .to_ascii_lowercase()
                .contains("does not exist"))
}

/// Whether Datadog refused a PATCH because it switches a registration between a role and access
/// keys: 400 "cannot switch between role and key based auth" (cassette
/// `test_aws_integration_patch_account_config_returns_bad_request_response`).
pub(crate) fn is_auth_switch(answer: &Answer) -> bool {
    answer.status == 400
        && error_message(&answer.body)
            .to_ascii_lowercase()
            .contains("cannot switch between role and key based auth")
}

/// The errors of a Datadog error body. The spec says `{"errors": ["…"]}`; recorded v2 answers
/// are JSON:API objects `{"errors": [{"status", "title", "detail"}]}` (some without `status`,
/// e.g. 400 "Generic Error", cassette
/// `test_aws_integration_create_account_config_returns_bad_request_response`, 2024-10). Since
/// 2025-08 a 400 names the field in `meta`: `{"status": "400", "title": "Bad Request",
/// "detail": "invalid value", "meta": {"aws_partition": "invalid partition: aws-invalid"}}`
/// (cassette `test_create_an_aws_integration_returns_bad_request_response`), read as
/// "Bad Request: invalid value (aws_partition: invalid partition: aws-invalid)". All are read.
pub(crate) fn error_message(body: &[u8]) -> String {
    error_body_message(body, |json| {
        let errors = json
            .get("errors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        errors
            .iter()
            .map(|error| match error {
                Value::String(text) => text.clone(),
                Value::Object(fields) => {
                    let title = fields
                        .get("title")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let detail = fields
                        .get("detail")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let message = match (title.is_empty(), detail.is_empty()) {
                        (false, false) => format!("{title}: {detail}"),
                        (false, true) => title.to_owned(),
                        _ => detail.to_owned(),
                    };
                    match fields.get("meta").map(field_reasons) {
                        Some(reasons) if !reasons.is_empty() => format!("{message} ({reasons})"),
                        _ => message,
                    }
                }
                other => other.to_string(),
            })
            .filter(|m| !m.is_empty())
            .collect()
    })
}

/// `meta`'s field reasons, `field: reason` joined by `; ` (a reason that is not text is shown
/// as JSON; a `meta` that is not an object gives none).
fn field_reasons(meta: &Value) -> String {
    let Some(fields) = meta.as_object() else {
        return String::new();
    };
    fields
        .iter()
        .map(|(field, reason)| match reason.as_str() {
            Some(text) => format!("{field}: {text}"),
            None => format!("{field}: {reason}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn error_bodies_in_both_shapes_are_read() {
        let recorded = br#"{"errors":[{"status":"409","title":"Account already exists","detail":"AWS account with provided id already exists"}]}"#;
        assert_eq!(
            error_message(recorded),
            "Account already exists: AWS account with provided id already exists"
        );
        assert_eq!(error_message(br#"{"errors":["Forbidden"]}"#), "Forbidden");
        // The 2025-08 shape names the field.
        let with_meta = br#"{"errors":[{"status":"400","title":"Bad Request","detail":"invalid value","meta":{"aws_partition":"invalid partition: aws-invalid"}}]}"#;
        assert_eq!(
            error_message(with_meta),
            "Bad Request: invalid value (aws_partition: invalid partition: aws-invalid)"
        );
        let odd_meta =
            br#"{"errors":[{"title":"Bad Request","meta":"x"},{"detail":"d","meta":{"a":1}}]}"#;
        assert_eq!(error_message(odd_meta), "Bad Request; d (a: 1)");
        assert_eq!(
            error_message(b"<html>Bad gateway</html>"),
            "<html>Bad gateway</html>"
        );
        assert_eq!(error_message(b""), "no error details");
    }

    #[test]
    fn not_found_is_404_or_a_400_that_says_so() {
        assert!(is_not_found(&answer(404, "")));
        assert!(is_not_found(&answer(
            400,
            r#"{"errors":[{"status":"400","title":"Bad Request","detail":"Account 1234 does not exist"}]}"#
        )));
        assert!(!is_not_found(&answer(
            400,
            r#"{"errors":[{"title":"Generic Error","detail":"cannot switch between role and key based auth"}]}"#
        )));
    }

    #[test]
    fn a_403_names_the_scope_the_call_needs() {
        for (method, scope) in [
            (Method::GET, "aws_configuration_read"),
            (Method::POST, "aws_configurations_manage"),
            (Method::DELETE, "aws_configurations_manage"),
            (Method::PATCH, "aws_configuration_edit"),
        ] {
            let hint = refusal_hint(&method, 403, Site::Eu1);
            assert!(
                hint.contains(&format!("needs the application key's {scope} scope")),
                "{hint}"
            );
            assert!(hint.contains("datadoghq.eu"), "{hint}");
        }
        assert!(!refusal_hint(&Method::PATCH, 401, Site::Us1).contains("scope"));
    }
}
