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
use serde::Deserialize;

use super::answers;
use super::site::Site;
use crate::http::{Api, Dialect, VendorHttp};
use crate::integrations::{Kind, ListSource, PermissionLists};

/// How long the step tries Datadog before it falls back to the bundled lists.
pub(crate) const FETCH_BUDGET: Duration = Duration::from_secs(25);

const STANDARD_PATH: &str = "/api/v2/integration/aws/iam_permissions/standard";
const RESOURCE_COLLECTION_PATH: &str =
    "/api/v2/integration/aws/iam_permissions/resource_collection?chunked=true";

/// Datadog's recorded answers, with the date they were taken and their source.
const BUNDLED_STANDARD: &str = include_str!("bundled/iam_permissions_standard.json");
const BUNDLED_RESOURCE_COLLECTION: &str =
    include_str!("bundled/iam_permissions_resource_collection.json");

/// A bundled list: Datadog's answer and the day it was taken.
#[derive(Deserialize)]
struct Bundled {
    taken: String,
    answer: serde_json::Value,
}

/// The bundled lists: (date taken, standard, resource-collection chunks).
pub(crate) fn bundled() -> (String, Vec<String>, Vec<Vec<String>>) {
    let read = |text: &str| {
        let file: Bundled = serde_json::from_str(text).expect("the bundled list is dated JSON");
        let chunks = parse(&serde_json::to_vec(&file.answer).expect("JSON serializes"))
            .expect("the bundled list reads as Datadog's answer");
        (file.taken, chunks)
    };
    let (taken, standard) = read(BUNDLED_STANDARD);
    let (_, resource_collection) = read(BUNDLED_RESOURCE_COLLECTION);
    (taken, standard.concat(), resource_collection)
}

/// The lists for a role: Datadog's, asked of the site's API host (or the endpoint that
/// replaces it) within [`FETCH_BUDGET`], or else the bundled ones.
pub async fn fetch(site: Site, resource_collection: bool, http: VendorHttp) -> PermissionLists {
    let api = http.within(FETCH_BUDGET).api(
        &site.api_base_url(),
        Dialect {
            // Datadog's organisation template asks without keys (see the module's doc).
            authorization: Vec::new(),
            body_type: "application/json",
            error_message: answers::error_message,
        },
    );
    let (taken, bundled_standard, bundled_resource_collection) = bundled();
    let mut source = ListSource::Vendor(Kind::Datadog);
    let mut fall_back = |list: &str, why: String| {
        tracing::warn!(list, why = %why, bundled_taken = %taken, "Datadog's permission list could not be fetched; using the copy bundled with Registrar");
        source = ListSource::Bundled {
            taken: taken.clone(),
        };
    };
    let standard = match get(&api, STANDARD_PATH).await {
        Ok(chunks) => chunks.concat(),
        Err(why) => {
            fall_back("standard", why);
            bundled_standard
        }
    };
    let resource_collection = if resource_collection {
        match get(&api, RESOURCE_COLLECTION_PATH).await {
            Ok(chunks) => chunks,
            Err(why) => {
                fall_back("resource_collection", why);
                bundled_resource_collection
            }
        }
    } else {
        Vec::new()
    };
    PermissionLists {
        standard,
        resource_collection,
        source,
    }
}

async fn get(api: &Api, path: &str) -> Result<Vec<Vec<String>>, String> {
    let answer = api
        .send(Method::GET, api.url(path), None::<&()>)
        .await
        .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!(
            "HTTP {}: {}",
            answer.status,
            answers::error_message(&answer.body)
        ));
    }
    parse(&answer.body).map_err(str::to_owned)
}

/// An answer of the `iam_permissions` endpoints (`AWSIntegrationIamPermissionsResponse`).
#[derive(Deserialize)]
struct Answer {
    data: AnswerData,
}

#[derive(Deserialize)]
struct AnswerData {
    attributes: AnswerAttributes,
}

#[derive(Deserialize)]
struct AnswerAttributes {
    permissions: Permissions,
}

/// `permissions`: a list of actions, or with `chunked=true` a list of lists.
#[derive(Deserialize)]
#[serde(untagged)]
enum Permissions {
    Chunked(Vec<Vec<String>>),
    Flat(Vec<String>),
}

/// `data.attributes.permissions` of an answer, as chunks: a flat list is one chunk. Every
/// entry must look like an IAM action (`service:Action`, wildcards allowed), and there must be
/// at least one.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<Vec<String>>, &'static str> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            "the answer has no data.attributes.permissions list of strings or of lists"
        } else {
            "the answer is not JSON"
        }
    })?;
    let chunks = match answer.data.attributes.permissions {
        Permissions::Chunked(chunks) => chunks,
        Permissions::Flat(actions) => vec![actions],
    };
    if chunks.iter().flatten().any(|action| !is_action(action)) {
        return Err("an entry is not an IAM action");
    }
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
