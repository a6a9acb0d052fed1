//! The IAM permission lists Datadog publishes for the integration role, and the copy bundled
//! with this release for when Datadog cannot be reached.
//!
//! `GET https://api.<site>/api/v2/integration/aws/iam_permissions/standard` and
//! `.../iam_permissions/resource_collection?chunked=true` answer `data.attributes.permissions`:
//! a list of actions, or with `chunked=true` a list of lists sized for IAM managed policies
//! (the recorded answers are the cassettes
//! `test_get_aws_integration_standard_iam_permissions_returns_aws_iam_permissions_object_response`
//! and `test_get_resource_collection_iam_permissions_returns_aws_iam_permissions_object_response`
//! of DataDog/datadog-api-client-python; the chunked form is how Datadog's organisation template
//! reads them, DataDog/cloudformation-template `aws_organizations/attach_integration_permissions.py`).
//! That template calls both without API or application keys, so the step reads no secret:
//! fewer ways to fail, and the keys go to Datadog only for registrations.
//!
//! Datadog gets a short budget ([`FETCH_BUDGET`]) under the normal retry policy; when it does not
//! answer usably, the bundled lists are used and a WARN line says so.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::ACCEPT;
use serde_json::Value;

use crate::http::VendorHttp;
use crate::permissions::{Lists, Source};
use crate::vendor::VendorKind;

/// How long the step tries Datadog before it falls back to the bundled lists.
pub const FETCH_BUDGET: Duration = Duration::from_secs(25);

const STANDARD_PATH: &str = "/api/v2/integration/aws/iam_permissions/standard";
const RESOURCE_COLLECTION_PATH: &str =
    "/api/v2/integration/aws/iam_permissions/resource_collection?chunked=true";

/// Datadog's recorded answers, with the date they were taken and their source.
const BUNDLED_STANDARD: &str = include_str!("bundled/iam_permissions_standard.json");
const BUNDLED_RESOURCE_COLLECTION: &str =
    include_str!("bundled/iam_permissions_resource_collection.json");

/// The bundled lists: (date taken, standard, resource-collection chunks).
pub fn bundled() -> (String, Vec<String>, Vec<Vec<String>>) {
    let read = |text: &str| {
        let file: Value = serde_json::from_str(text).expect("the bundled list is JSON");
        let taken = file["taken"]
            .as_str()
            .expect("the bundled list has a date")
            .to_owned();
        let chunks = parse(&serde_json::to_vec(&file["answer"]).expect("JSON serializes"))
            .expect("the bundled list reads as Datadog's answer");
        (taken, chunks)
    };
    let (taken, standard) = read(BUNDLED_STANDARD);
    let (_, resource_collection) = read(BUNDLED_RESOURCE_COLLECTION);
    (taken, standard.concat(), resource_collection)
}

/// The lists for a role, from Datadog at `base` (the site's API host, or the vendor endpoint
/// override) or else bundled. `http`'s deadline is the fetch budget.
pub async fn fetch(base: &str, http: &VendorHttp, resource_collection: bool) -> Lists {
    let (taken, bundled_standard, bundled_resource_collection) = bundled();
    let mut source = Source::Vendor(VendorKind::Datadog);
    let mut fall_back = |list: &str, why: String| {
        tracing::warn!(list, why = %why, bundled_taken = %taken, "Datadog's permission list could not be fetched; using the copy bundled with Registrar");
        source = Source::Bundled {
            taken: taken.clone(),
        };
    };
    let standard = match get(base, STANDARD_PATH, http).await {
        Ok(chunks) => chunks.concat(),
        Err(why) => {
            fall_back("standard", why);
            bundled_standard
        }
    };
    let resource_collection = if resource_collection {
        match get(base, RESOURCE_COLLECTION_PATH, http).await {
            Ok(chunks) => chunks,
            Err(why) => {
                fall_back("resource_collection", why);
                bundled_resource_collection
            }
        }
    } else {
        Vec::new()
    };
    Lists {
        standard,
        resource_collection,
        source,
    }
}

async fn get(base: &str, path: &str, http: &VendorHttp) -> Result<Vec<Vec<String>>, String> {
    let url = reqwest::Url::parse(&format!("{}{path}", base.trim_end_matches('/')))
        .map_err(|e| format!("bad URL: {e}"))?;
    let answer = http
        .send(Method::GET, url, |request| {
            request.header(ACCEPT, "application/json")
        })
        .await
        .map_err(|gave_up| gave_up.to_string())?;
    if answer.status != 200 {
        return Err(format!(
            "HTTP {}: {}",
            answer.status,
            super::answers::error_message(&answer.body)
        ));
    }
    parse(&answer.body).map_err(str::to_owned)
}

/// `data.attributes.permissions` of an answer, as chunks: a flat list is one chunk. Every
/// entry must look like an IAM action (`service:Action`, wildcards allowed), and there must be
/// at least one.
pub fn parse(body: &[u8]) -> Result<Vec<Vec<String>>, &'static str> {
    let json: Value = serde_json::from_slice(body).map_err(|_| "the answer is not JSON")?;
    let listed = json
        .pointer("/data/attributes/permissions")
        .and_then(Value::as_array)
        .ok_or("the answer has no data.attributes.permissions list")?;
    let action = |value: &Value| {
        value
            .as_str()
            .filter(|a| is_action(a))
            .map(str::to_owned)
            .ok_or("an entry is not an IAM action")
    };
    let chunks = if listed.iter().all(Value::is_array) {
        listed
            .iter()
            .map(|chunk| {
                chunk
                    .as_array()
                    .expect("checked above")
                    .iter()
                    .map(action)
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![listed.iter().map(action).collect::<Result<Vec<_>, _>>()?]
    };
    let chunks: Vec<Vec<String>> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
    if chunks.is_empty() {
        return Err("the list is empty");
    }
    Ok(chunks)
}

fn is_action(text: &str) -> bool {
    match text.split_once(':') {
        Some((service, action)) => {
            !service.is_empty()
                && !action.is_empty()
                && service
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
                && action
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::deny;

    #[test]
    fn the_bundled_lists_are_dated_well_formed_and_read_no_data() {
        let (taken, standard, resource_collection) = bundled();
        assert_eq!(taken, "2025-09-17");
        assert_eq!(standard.len(), 104);
        assert_eq!(resource_collection.concat().len(), 652);
        for action in standard.iter().chain(resource_collection.concat().iter()) {
            assert_eq!(deny::reads_data(action), None, "{action}");
        }
        // The actions the hand-copied list of the previous template lacked.
        for missing in [
            "appsync:ListGraphqlApis",
            "network-firewall:ListFirewalls",
            "route53resolver:ListResolverQueryLogConfigs",
        ] {
            assert!(standard.iter().any(|a| a == missing), "{missing}");
        }
        assert!(!standard.iter().any(|a| a == "s3:Get*"));
    }

    #[test]
    fn flat_and_chunked_answers_are_read() {
        let flat = br#"{"data":{"id":"permissions","type":"permissions","attributes":{"permissions":["a:B","c:D*"]}}}"#;
        assert_eq!(
            parse(flat).unwrap(),
            vec![vec!["a:B".to_owned(), "c:D*".to_owned()]]
        );
        let chunked = br#"{"data":{"attributes":{"permissions":[["a:B"],["c:D","e-f:G"]]}}}"#;
        assert_eq!(parse(chunked).unwrap().len(), 2);
        for broken in [
            &br#"{"data":{"attributes":{"permissions":[]}}}"#[..],
            br#"{"data":{"attributes":{"permissions":["a:B", 3]}}}"#,
            br#"{"data":{"attributes":{"permissions":["not an action"]}}}"#,
            br#"{"data":{"attributes":{"permissions":[["a:B"], "c:D"]}}}"#,
            br#"{"errors":["Forbidden"]}"#,
            b"<html>",
        ] {
            assert!(
                parse(broken).is_err(),
                "{}",
                String::from_utf8_lossy(broken)
            );
        }
    }
}
