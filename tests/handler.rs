//! The handler through HTTP, without Python: the protocol's invariants checked in Rust.
//!
//! Each test runs the real handler (`Handler::handle`, as `bootstrap` calls it) on one event,
//! with the keys from a secret source of the test's own and a stub HTTP server on 127.0.0.1
//! that plays both the pre-signed ResponseURL and the vendor (through
//! `REGISTRAR_VENDOR_ENDPOINT`, as the sandbox does). The vendor answers with Datadog's recorded
//! answers (`tests/data/datadog/`). What is checked is what CloudFormation relies on: exactly
//! one answer, of at most 4096 bytes, PUT with an empty `Content-Type` to the URL as given
//! (query included), before the deadline, FAILED when the work panics; and logs that are JSON
//! lines without the keys or the URL's signature.

mod support;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Context, LambdaEvent};
use registrar::BoxFuture;
use registrar::config::Config;
use registrar::handler::Handler;
use registrar::progress::Progress;
use registrar::secrets::{SecretError, SecretRef, SecretSource};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::time::Instant;

use support::{Recorded, Reply, Stub};

const API_KEY: &str = "AK-HANDLER-TEST-0123456789";
const APP_KEY: &str = "PK-HANDLER-TEST-0123456789";
const SIGNATURE: &str = "5ae1e0c7d5b3f2a1signature";
const ACCOUNTS: &str = "/api/v2/integration/aws/accounts";
/// CloudFormation's limit on an answer's body.
const MAX_BODY: usize = 4096;

/// A recorded Datadog answer's body (`tests/data/datadog/<name>.json`).
fn recorded(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/datadog")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["response"]["body"].clone()
}

/// The keys, as a secret holds them.
struct Keys;

impl SecretSource for Keys {
    fn read<'a>(
        &'a self,
        _: &'a SecretRef,
        _: &'a str,
        _: &'a Progress,
        _: Instant,
    ) -> BoxFuture<'a, Result<SecretString, SecretError>> {
        let text = json!({"api_key": API_KEY, "app_key": APP_KEY}).to_string();
        Box::pin(async move { Ok(SecretString::from(text)) })
    }
}

/// A secret that does not exist.
struct Missing;

impl SecretSource for Missing {
    fn read<'a>(
        &'a self,
        secret: &'a SecretRef,
        _: &'a str,
        _: &'a Progress,
        _: Instant,
    ) -> BoxFuture<'a, Result<SecretString, SecretError>> {
        let error = SecretError::NotFound {
            arn: secret.arn.clone(),
            region: secret.region.clone(),
        };
        Box::pin(async move { Err(error) })
    }
}

/// A secret source with a bug: it panics.
struct Panicking;

impl SecretSource for Panicking {
    fn read<'a>(
        &'a self,
        _: &'a SecretRef,
        _: &'a str,
        progress: &'a Progress,
        _: Instant,
    ) -> BoxFuture<'a, Result<SecretString, SecretError>> {
        progress.set("reading the secret from the test's panicking source");
        panic!("the secret source's bug");
    }
}

/// The vendor and the ResponseURL: `vendor` answers the vendor's calls, the answer is
/// accepted with 200.
async fn stub(vendor: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Stub {
    Stub::start(move |request| {
        if request.target.starts_with("/cfn/") {
            Reply::Answer {
                status: 200,
                body: Vec::new(),
            }
        } else {
            vendor(request)
        }
    })
    .await
}

fn handler(stub: &Stub, secrets: impl SecretSource + 'static) -> Arc<Handler> {
    let base = stub.base.clone();
    let config = Config::from_lookup(move |name| match name {
        "REGISTRAR_VENDOR_ENDPOINT" => Some(base.clone()),
        "REGISTRAR_RESPONSE_HOSTS" => Some("127.0.0.1".to_owned()),
        _ => None,
    });
    assert_eq!(config.problem, None);
    Arc::new(Handler::with_secret_source(config, Arc::new(secrets)))
}

/// A Create of a Datadog registration, answered to the stub.
fn create(stub: &Stub) -> Value {
    json!({
        "RequestType": "Create",
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:registrar",
        "ResponseURL": format!("{}/cfn/answer?X-Amz-Expires=7200&X-Amz-Signature={SIGNATURE}", stub.base),
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/handler-test/guid",
        "RequestId": "5b8a3f2c-0000-4000-8000-000000000001",
        "ResourceType": "Custom::VendorRegistration",
        "LogicalResourceId": "VendorRegistration",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:registrar",
            "ServiceTimeout": "360",
            "Vendor": "datadog",
            "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:datadog-keys-AbCdEf",
            "RoleName": "DatadogIntegrationRole"
        }
    })
}

/// Runs `event` through the handler with a deadline `lasting` from now; the deadline, and the
/// log lines written meanwhile.
async fn run(handler: Arc<Handler>, event: Value, lasting: Duration) -> (SystemTime, Vec<String>) {
    let deadline = SystemTime::now() + lasting;
    let mut context = Context::default();
    context.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let logs = Logs::default();
    // bootstrap's own log format, at the most detailed level.
    let _logging = tracing::subscriber::set_default(registrar::logging::subscriber(
        Some("trace"),
        None,
        logs.clone(),
    ));
    let result = handler.handle(LambdaEvent::new(event, context)).await;
    assert!(result.is_ok(), "the answer was delivered: {result:?}");
    (deadline, logs.lines())
}

/// The one answer CloudFormation received, checked against the protocol; its body.
fn the_one_answer(stub: &Stub, deadline: SystemTime) -> Value {
    let answers = stub.requests("/cfn/");
    assert_eq!(answers.len(), 1, "exactly one answer: {answers:?}");
    let answer = &answers[0];
    assert_eq!(answer.method, "PUT");
    assert_eq!(
        answer.target,
        format!("/cfn/answer?X-Amz-Expires=7200&X-Amz-Signature={SIGNATURE}"),
        "the pre-signed URL as given, query included"
    );
    assert_eq!(
        answer.headers.get("content-type").map(String::as_str),
        Some(""),
        "an empty Content-Type: the URL's signature covers it"
    );
    assert_eq!(
        answer.headers.get("content-length"),
        Some(&answer.body.len().to_string())
    );
    assert!(answer.body.len() <= MAX_BODY, "{} bytes", answer.body.len());
    assert!(answer.arrived < deadline, "answered before the deadline");
    serde_json::from_slice(&answer.body).unwrap()
}

/// The log lines are JSON and carry neither the keys nor the ResponseURL's signature.
fn clean(logs: &[String]) {
    assert!(!logs.is_empty());
    for line in logs {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not JSON: {line}"
        );
        for secret in [API_KEY, APP_KEY, SIGNATURE] {
            assert!(!line.contains(secret), "{secret} in the log: {line}");
        }
    }
    assert!(
        logs.iter().any(|l| l.contains("event handled")),
        "the summary line"
    );
}

#[tokio::test]
async fn a_create_is_answered_once_with_the_registration() {
    let stub = stub(
        |request| match (request.method.as_str(), request.target.as_str()) {
            ("POST", ACCOUNTS) => Reply::json(200, &recorded("create_200")),
            _ => Reply::json(404, &json!({"errors": ["not found"]})),
        },
    )
    .await;
    let (deadline, logs) = run(handler(&stub, Keys), create(&stub), Duration::from_secs(30)).await;

    let body = the_one_answer(&stub, deadline);
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let data = &recorded("create_200")["data"];
    assert_eq!(
        body["PhysicalResourceId"],
        format!(
            "registrar:datadog:datadoghq.com:aws:123456789012:{}",
            data["id"].as_str().unwrap()
        )
    );
    assert_eq!(
        body["Data"]["ExternalId"],
        data["attributes"]["auth_config"]["external_id"]
    );
    assert_eq!(body["Data"]["PrincipalAccountId"], "464622532012");
    for field in ["StackId", "RequestId", "LogicalResourceId"] {
        assert_eq!(body[field], create(&stub)[field], "{field} echoed");
    }
    // One registration call, with the keys as Datadog's headers.
    let calls = stub.requests("/api/");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].headers["dd-api-key"], API_KEY);
    assert_eq!(calls[0].headers["dd-application-key"], APP_KEY);
    clean(&logs);
}

#[tokio::test]
async fn a_vendor_that_never_answers_still_gets_an_answer_before_the_deadline() {
    let stub = stub(|_| Reply::Never).await;
    let (deadline, logs) = run(handler(&stub, Keys), create(&stub), Duration::from_secs(3)).await;

    let body = the_one_answer(&stub, deadline);
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(
        reason.contains("Datadog") && reason.contains("POST"),
        "{reason}"
    );
    // The registration call was sent, its answer never came: the Create may have registered.
    assert_eq!(
        body["PhysicalResourceId"],
        "registrar:create-unconfirmed:5b8a3f2c-0000-4000-8000-000000000001"
    );
    clean(&logs);
}

#[tokio::test]
async fn a_panic_in_the_work_is_answered_failed() {
    let stub = stub(|_| Reply::json(500, &json!({"errors": ["no call expected"]}))).await;
    let (deadline, logs) = run(
        handler(&stub, Panicking),
        create(&stub),
        Duration::from_secs(30),
    )
    .await;

    let body = the_one_answer(&stub, deadline);
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(
        reason.contains("internal error") && reason.contains("the secret source's bug"),
        "{reason}"
    );
    assert_eq!(
        body["PhysicalResourceId"], "registrar:create-failed:5b8a3f2c-0000-4000-8000-000000000001",
        "nothing was sent: the rollback's Delete has nothing to remove"
    );
    assert!(stub.requests("/api/").is_empty(), "no vendor call");
    assert!(logs.iter().any(|l| l.contains("the work panicked")));
    clean(&logs);
}

#[tokio::test]
async fn an_answer_too_long_for_cloudformation_is_cut_to_fit() {
    let detail = "Registrar must not send all of this. ".repeat(400);
    let stub = stub(move |_| {
        Reply::json(
            403,
            &json!({"errors": [{"title": "Forbidden", "detail": detail}]}),
        )
    })
    .await;
    let (deadline, logs) = run(handler(&stub, Keys), create(&stub), Duration::from_secs(30)).await;

    let body = the_one_answer(&stub, deadline);
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(
        reason.contains("HTTP 403") && reason.contains("truncated"),
        "{reason}"
    );
    clean(&logs);
}

#[tokio::test]
async fn a_marker_delete_makes_no_call_at_all() {
    let stub = stub(|_| Reply::json(500, &json!({"errors": ["no call expected"]}))).await;
    let mut delete = create(&stub);
    delete["RequestType"] = json!("Delete");
    delete["PhysicalResourceId"] = json!("registrar:create-failed:0b9f7c1e");
    // Properties that could not be used: the marker's Delete reads none.
    delete["ResourceProperties"] = json!({"Vendor": "newrelic"});
    let (deadline, logs) = run(handler(&stub, Panicking), delete, Duration::from_secs(30)).await;

    let body = the_one_answer(&stub, deadline);
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(
        body["PhysicalResourceId"],
        "registrar:create-failed:0b9f7c1e"
    );
    assert!(stub.requests("/api/").is_empty(), "no vendor call");
    clean(&logs);
}

#[tokio::test]
async fn a_delete_of_an_id_registrar_never_answered_never_fails() {
    let stub = stub(|_| Reply::json(500, &json!({"errors": ["no call expected"]}))).await;
    let mut delete = create(&stub);
    delete["RequestType"] = json!("Delete");
    // CloudFormation made this id up when it cancelled a Create it had not heard back from.
    delete["PhysicalResourceId"] = json!("handler-test-VendorRegistration-ABCDEF123456");
    let (deadline, logs) = run(handler(&stub, Missing), delete, Duration::from_secs(30)).await;

    let body = the_one_answer(&stub, deadline);
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(
        body["PhysicalResourceId"],
        "handler-test-VendorRegistration-ABCDEF123456"
    );
    assert!(stub.requests("/api/").is_empty(), "no vendor call");
    assert!(
        logs.iter().any(|l| l.contains("does not exist")),
        "the log says what stopped the look"
    );
    clean(&logs);
}

/// Log lines written by the subscriber, collected.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}
