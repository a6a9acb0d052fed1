//! The IAM permission lists Datadog publishes for the integration role, and the copy bundled
//! with this release for when Datadog cannot be reached.
//!
//! `GET https://api.datadoghq.com/api/v2/integration/aws/iam_permissions/standard` and
//! `.../iam_permissions/resource_collection?chunked=true` answer `data.attributes.permissions`:
//! a list of actions, or with `chunked=true` a list of lists sized for IAM managed policies
//! (the recorded answers: DataDog/terraform-provider-datadog cassettes
//! `TestAccDatadogIntegrationAWSIAMPermissionsStandardDatasource` and
//! `TestAccDatadogIntegrationAWSIAMPermissionsResourceCollectionDatasource`, and the official
//! API client's `test_get_*_iam_permissions_returns_aws_iam_permissions_object_response`). Datadog's
//! own templates ask `api.datadoghq.com` for every site, without API or application keys, with
//! `chunked=true` for the resource-collection list (DataDog/cloudformation-template,
//! `aws_organizations/attach_integration_permissions.py`: `STANDARD_PERMISSIONS_API_URL`,
//! `RESOURCE_COLLECTION_PERMISSIONS_API_URL`; the `--gov` release of the same template keeps
//! them), and so does Registrar: the lists are the same for every site, and a site's own
//! API host is not known to serve them. The step reads no secret: fewer ways to fail, and the
//! keys go to Datadog only for registrations.
//!
//! Datadog gets a short budget ([`FETCH_BUDGET`]) under the normal retry policy; when it does not
//! answer usably, the bundled lists are used, a WARN line says so, and `Data.PermissionsSource`
//! is `bundled:<date taken>`. `make refresh-permissions` rebuilds the bundle
//! (`sandbox/datadog_permissions.py`).

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;

use super::answers;
use super::site::Site;
use crate::http::{Api, Dialect, VendorHttp};
use crate::integrations::{Kind, ListSource, PermissionLists};

/// Where Datadog's templates fetch the lists, for every site (see the module's doc).
const LISTS_HOST: &str = "https://api.datadoghq.com";

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

/// One bundled list: the day it was taken and its chunks.
fn read_bundled(text: &str) -> (String, Vec<Vec<String>>) {
    let file: Bundled = serde_json::from_str(text).expect("the bundled list is dated JSON");
    let chunks = parse(&serde_json::to_vec(&file.answer).expect("JSON serializes"))
        .expect("the bundled list reads as Datadog's answer");
    (file.taken, chunks)
}

/// The bundled standard list: (date taken, actions).
pub(crate) fn bundled_standard() -> (String, Vec<String>) {
    let (taken, chunks) = read_bundled(BUNDLED_STANDARD);
    (taken, chunks.concat())
}

/// The bundled resource-collection list: (date taken, chunks).
pub(crate) fn bundled_resource_collection() -> (String, Vec<Vec<String>>) {
    read_bundled(BUNDLED_RESOURCE_COLLECTION)
}

/// The lists for a role: Datadog's, asked of `api.datadoghq.com` whatever the site (or of the
/// endpoint that replaces it) within [`FETCH_BUDGET`], or else the bundled ones.
pub async fn fetch(_site: Site, resource_collection: bool, http: VendorHttp) -> PermissionLists {
    let api = http.within(FETCH_BUDGET).api(
        LISTS_HOST,
        Dialect {
            // Datadog's organisation template asks without keys (see the module's doc).
            authorization: Vec::new(),
            body_type: "application/json",
            error_message: answers::error_message,
        },
    );
    let mut taken: Vec<String> = Vec::new();
    let mut fall_back = |list: &str, why: String, date: &str| {
        tracing::warn!(list, why = %why, bundled_taken = %date, "Datadog's permission list could not be fetched; using the copy bundled with Registrar");
        if !taken.iter().any(|d| d == date) {
            taken.push(date.to_owned());
        }
    };
    let standard = match get(&api, STANDARD_PATH).await {
        Ok(chunks) => chunks.concat(),
        Err(why) => {
            let (date, list) = bundled_standard();
            fall_back("standard", why, &date);
            list
        }
    };
    let resource_collection = if resource_collection {
        match get(&api, RESOURCE_COLLECTION_PATH).await {
            Ok(chunks) => chunks,
            Err(why) => {
                let (date, chunks) = bundled_resource_collection();
                fall_back("resource_collection", why, &date);
                chunks
            }
        }
    } else {
        Vec::new()
    };
    let source = match taken.is_empty() {
        true => ListSource::Vendor(Kind::Datadog),
        false => ListSource::Bundled {
            taken: taken.join(","),
        },
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
    fn the_bundled_lists_are_dated_well_formed_and_read_no_data_but_one() {
        // The newest recordings (DataDog/terraform-provider-datadog cassettes of 2025-10-03 and
        // 2025-10-06); the 2025-09-17 recording had three more resource-collection actions.
        let (taken, standard) = bundled_standard();
        assert_eq!(taken, "2025-10-03");
        assert_eq!(standard.len(), 104);
        let (taken, resource_collection) = bundled_resource_collection();
        assert_eq!(taken, "2025-10-06");
        assert_eq!(resource_collection.concat().len(), 649);
        for dropped in [
            "amplify:ListArtifacts",
            "savingsplans:DescribeSavingsPlanRates",
            "savingsplans:DescribeSavingsPlans",
        ] {
            assert!(
                !resource_collection.concat().iter().any(|a| a == dropped),
                "{dropped}"
            );
        }
        // One action reads data: Keyspaces' Select (a table's rows), which the permissions
        // step refuses.
        let all = resource_collection.concat();
        let reads: Vec<&String> = standard
            .iter()
            .chain(all.iter())
            .filter(|action| deny::reads_data(action).is_some())
            .collect();
        assert_eq!(reads, ["cassandra:Select"]);
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
