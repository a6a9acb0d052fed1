//! Contract tests: Datadog's recorded answers, replayed through Registrar's Datadog client.
//!
//! The answers are the official API client's recordings of the real v2 AWS-integration API
//! (DataDog/datadog-api-client-python, `tests/v2/cassettes/test_scenarios/`), copied with their
//! source path and commit into `tests/data/datadog/`. A tiny HTTP server on 127.0.0.1 answers
//! each call with one recording, and the test checks what the client makes of it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use registrar::http::VendorHttp;
use registrar::identity::{AccountId, Identity, Partition};
use registrar::integrations::datadog::account::AccountConfig;
use registrar::integrations::datadog::{Datadog, Site, marks, permission_lists};
use registrar::integrations::{
    Desired, Integration, Kind, ListSource, Owner, Removal, StackMark, VendorError,
};
use registrar::props::Properties;
use registrar::secrets::SecretJson;
use reqwest::Url;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A recorded answer (`tests/data/datadog/<name>.json`).
fn recorded(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/datadog")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Serves the recordings `names`, one per request in order; returns its URL and the requests
/// seen (method and path with query).
async fn replay(names: &[&str]) -> (Url, Arc<Mutex<Vec<String>>>) {
    let answers: Vec<Value> = names
        .iter()
        .map(|n| recorded(n)["response"].clone())
        .collect();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for answer in answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client closed before sending a request");
                request.extend_from_slice(&buf[..n]);
                if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end + 4;
                }
            };
            let head = String::from_utf8_lossy(&request[..head_end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while request.len() < head_end + length {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            let line = head.lines().next().unwrap_or_default();
            let mut parts = line.split(' ');
            log.lock().unwrap().push(format!(
                "{} {}",
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default()
            ));
            let status = answer["status"].as_u64().unwrap();
            let body = match &answer["body"] {
                Value::Null => Vec::new(),
                body => serde_json::to_vec(body).unwrap(),
            };
            let content_type = answer["content_type"]
                .as_str()
                .map(|t| format!("Content-Type: {t}\r\n"))
                .unwrap_or_default();
            let head = format!(
                "HTTP/1.1 {status} Recorded\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            socket.write_all(head.as_bytes()).await.unwrap();
            socket.write_all(&body).await.unwrap();
            socket.shutdown().await.ok();
        }
    });
    (url, seen)
}

fn client(url: &Url, account: &str) -> Datadog {
    let props = Properties::new(json!({}).as_object().unwrap().clone());
    let settings = Datadog::settings(&props).unwrap();
    let secret = SecretJson::parse(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
        SecretString::from(r#"{"api_key": "a", "app_key": "b"}"#.to_owned()),
        Datadog::SECRET_SHAPE,
    )
    .unwrap();
    let desired = Desired {
        identity: Identity {
            account: AccountId::parse(account).unwrap(),
            partition: Partition::Aws,
        },
        role_name: "DatadogIntegrationRole".into(),
        stack: StackMark {
            region: "us-east-1".into(),
            stack_name: "s".into(),
        },
        claims: None,
    };
    Datadog::connect(settings, &secret, desired, http_to(url)).unwrap()
}

/// Vendor calls to the replaying server at `url`, as `REGISTRAR_VENDOR_ENDPOINT` sends them.
fn http_to(url: &Url) -> VendorHttp {
    VendorHttp::new(
        reqwest::Client::new(),
        "Datadog",
        tokio::time::Instant::now() + Duration::from_secs(10),
        Default::default(),
    )
    .redirected_to(Some(url.clone()))
}

fn refused(error: VendorError) -> (u16, String) {
    match error {
        VendorError::Refused {
            status, message, ..
        } => (status, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn create_answers_200_with_the_generated_external_id() {
    let (url, seen) = replay(&["create_200"]).await;
    let registration = client(&url, "123456789012").create().await.unwrap();
    let data = &recorded("create_200")["response"]["body"]["data"];
    assert_eq!(registration.id, data["id"].as_str().unwrap());
    assert_eq!(
        registration.external_id,
        data["attributes"]["auth_config"]["external_id"]
            .as_str()
            .unwrap()
    );
    assert_eq!(
        registration.owner,
        Owner::Someone,
        "the recording carries no mark of ours"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        ["POST /api/v2/integration/aws/accounts"]
    );
}

#[tokio::test]
async fn a_create_of_a_registered_account_is_already_exists() {
    let (url, _) = replay(&["create_409"]).await;
    let error = client(&url, "123456789012").create().await.unwrap_err();
    assert!(
        matches!(error, VendorError::AlreadyExists { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_invalid_partition_is_refused_with_datadogs_message() {
    let (url, _) = replay(&["create_400_partition"]).await;
    let error = client(&url, "123456789012").create().await.unwrap_err();
    assert_eq!(
        refused(error),
        (
            400,
            "Generic Error: invalid partition: aws-invalid".to_owned()
        )
    );
}

#[tokio::test]
async fn a_refusal_names_the_field_datadog_names_in_meta() {
    // The shape recorded since 2025-08: the field and its reason in `meta`.
    let (url, _) = replay(&["create_400_meta"]).await;
    let error = client(&url, "123456789012").create().await.unwrap_err();
    assert_eq!(
        refused(error),
        (
            400,
            "Bad Request: invalid value (aws_partition: invalid partition: aws-invalid)".to_owned()
        )
    );
}

#[tokio::test]
async fn an_account_registered_with_access_keys_is_found_and_is_unusable() {
    let (url, seen) = replay(&["list_200"]).await;
    let found = client(&url, "514950102505").find().await.unwrap().unwrap();
    assert_eq!(found.id, "e6daa8c4-58b6-42e1-970e-44e6fa812ce0");
    assert_eq!(found.external_id, "");
    assert!(found.unusable.unwrap().how.contains("access keys"));
    assert_eq!(
        *seen.lock().unwrap(),
        ["GET /api/v2/integration/aws/accounts?aws_account_id=514950102505"]
    );
    // A role account of the same listing is usable.
    let (url, _) = replay(&["list_200"]).await;
    let role = client(&url, "172830950700").find().await.unwrap();
    assert!(role.is_some_and(|r| r.unusable.is_none() && !r.external_id.is_empty()));
}

#[tokio::test]
async fn a_patch_answers_the_registration_and_keeps_the_external_id() {
    // An Update reads the account config first (here the recorded answer of a GET).
    let (url, seen) = replay(&["get_200", "patch_200"]).await;
    let data = &recorded("patch_200")["response"]["body"]["data"];
    let id = data["id"].as_str().unwrap();
    let updated = client(&url, "123456789012")
        .update(id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.id, id);
    assert_eq!(updated.external_id, "a55061deb44b4bd28f751f150cabf912");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            format!("GET /api/v2/integration/aws/accounts/{id}"),
            format!("PATCH /api/v2/integration/aws/accounts/{id}")
        ]
    );
}

#[tokio::test]
async fn switching_between_role_and_keys_is_read_from_datadogs_refusal_and_replaces_the_registration()
 {
    // Datadog refuses the switch in place (the recorded 400): this stack's registration is
    // deleted and the account registered again, under a new id.
    let (url, seen) = replay(&[
        "get_200",
        "patch_400_switch_auth",
        "delete_204",
        "create_200",
    ])
    .await;
    let registration = client(&url, "123456789012")
        .update("84a5a2e9-80f6-4740-a478-c885ae8d4117")
        .await
        .unwrap()
        .unwrap();
    let created = &recorded("create_200")["response"]["body"]["data"];
    assert_eq!(registration.id, created["id"].as_str().unwrap());
    let methods: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.split_whitespace().next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(methods, ["GET", "PATCH", "DELETE", "POST"]);
}

#[tokio::test]
async fn not_found_is_the_recorded_404_for_patch_and_delete() {
    // Gone before the Update's GET, or between its GET and its PATCH.
    let (url, seen) = replay(&["get_404", "get_200", "patch_404", "delete_404"]).await;
    let client = client(&url, "123456789012");
    for _ in 0..2 {
        assert_eq!(
            client
                .update("448169a8-251c-4344-abee-1c4edef39f7a")
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "no PATCH after a GET of nothing"
    );
    assert_eq!(
        client
            .delete("448169a8-251c-4344-abee-1c4edef39f7a")
            .await
            .unwrap(),
        Removal::AlreadyGone
    );
}

#[tokio::test]
async fn delete_answers_204_without_a_body() {
    let (url, _) = replay(&["delete_204"]).await;
    assert_eq!(
        client(&url, "123456789012")
            .delete("ea195e91-95f9-4811-9161-cbcce608b8ed")
            .await
            .unwrap(),
        Removal::Removed
    );
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_a_refusal_not_a_not_found() {
    let (url, _) = replay(&["delete_400_not_a_uuid"]).await;
    let error = client(&url, "123456789012")
        .delete("not-a-uuid")
        .await
        .unwrap_err();
    let (status, message) = refused(error);
    assert_eq!(status, 400);
    assert!(
        message.starts_with("Invalid Parameter: invalid parameter"),
        "{message}"
    );
}

#[test]
fn account_tags_may_be_null() {
    // The recorded answer to a create sent with no tags (its attributes nest under aws_account).
    let answer = &recorded("create_null_tags_200")["response"]["body"]["data"];
    let account = answer["attributes"]["aws_account"].clone();
    assert_eq!(account["account_tags"], Value::Null);
    let data: AccountConfig =
        serde_json::from_value(json!({"id": answer["id"], "attributes": account})).unwrap();
    let registration = marks::read_registration(&data, "registrar_stack:us-east-1/s").unwrap();
    assert_eq!(registration.owner, Owner::Someone);
    assert_eq!(registration.external_id, "08df61ab19794766a0df51fa344ef31c");
}

#[tokio::test]
async fn the_permission_lists_are_read_from_the_recorded_answers() {
    let (url, seen) = replay(&[
        "iam_permissions_standard",
        "iam_permissions_resource_collection",
    ])
    .await;
    let lists = permission_lists::fetch(Site::Us1, true, http_to(&url)).await;
    assert_eq!(lists.source, ListSource::Vendor(Kind::Datadog));
    assert_eq!(lists.standard.len(), 104);
    assert_eq!(lists.resource_collection.concat().len(), 649);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "GET /api/v2/integration/aws/iam_permissions/standard",
            "GET /api/v2/integration/aws/iam_permissions/resource_collection?chunked=true"
        ]
    );
}

#[tokio::test]
async fn unreadable_permission_answers_fall_back_to_the_bundled_lists() {
    // A recorded error body where the list should be (here: the recorded 404 of an account).
    let (url, _) = replay(&["get_404"]).await;
    let lists = permission_lists::fetch(Site::Us1, false, http_to(&url)).await;
    assert_eq!(
        lists.source,
        ListSource::Bundled {
            taken: "2025-10-03".into()
        }
    );
    assert_eq!(lists.standard.len(), 104);
    assert!(
        lists.resource_collection.is_empty(),
        "resource collection is off"
    );
}
