//! The vendor's keys, read at the moment an event needs them: through a [`SecretSource`],
//! which in production is Secrets Manager ([`SecretsManager`]).
//!
//! The secret is read in its own region (parsed from its ARN), optionally after assuming
//! `SecretRoleArn`. Throttling, 5xx, timeouts and broken connections are retried with backoff
//! until the event's deadline, not only for the SDK's few attempts: a StackSet rollout reads
//! one central secret from hundreds of accounts at once. Permanent errors (access denied, not
//! found, decryption) are not retried. Key material lives in [`SecretString`]s: never printed
//! by `Debug`, zeroed on drop, exposed only where a header is built.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::config::{Credentials, Region};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use secrecy::SecretString;
use tokio::time::Instant;

use crate::BoxFuture;
use crate::aws::AwsSdk;
use crate::backoff::Backoff;
use crate::identity::{AccountId, Partition};
use crate::progress::Progress;

/// Where the keys are: the secret's ARN and, optionally, a role to assume to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub arn: String,
    pub region: String,
    pub partition: Partition,
    pub role_arn: Option<String>,
}

impl SecretRef {
    /// Parses `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`; the error says
    /// what was expected.
    pub(crate) fn parse(arn: &str, role_arn: Option<String>) -> Result<SecretRef, String> {
        let expected = || {
            "the full ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>)".to_owned()
        };
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        let [_, partition, service, region, account, kind, name] = parts[..] else {
            return Err(expected());
        };
        let partition = Partition::parse(partition).ok_or_else(expected)?;
        if parts[0] != "arn"
            || service != "secretsmanager"
            || region.is_empty()
            || AccountId::parse(account).is_none()
            || kind != "secret"
            || name.is_empty()
        {
            return Err(expected());
        }
        if let Some(role) = &role_arn
            && !is_role_arn(role)
        {
            return Err(format!(
                "accompanied by a SecretRoleArn that is an IAM role ARN (arn:aws:iam::<account>:role/<name>), not {role:?}"
            ));
        }
        Ok(SecretRef {
            arn: arn.to_owned(),
            region: region.to_owned(),
            partition,
            role_arn,
        })
    }
}

fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts[..], ["arn", partition, "iam", "", account, resource]
        if Partition::parse(partition).is_some() && AccountId::parse(account).is_some() && resource.starts_with("role/") && resource.len() > 5)
}

/// Why the keys could not be had. Messages name the secret and say what to check; they never
/// contain secret material.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "The secret {arn} does not exist in {region} (or is scheduled for deletion). Check SecretArn, and that the secret lives in the region its ARN names."
    )]
    NotFound { arn: String, region: String },
    #[error(
        "The function may not read the secret {arn}: {detail}. Check the function role's secretsmanager:GetSecretValue permission, the secret's resource policy (for another account: aws:PrincipalOrgID) and, for a customer-managed key, the key policy's kms:Decrypt."
    )]
    AccessDenied { arn: String, detail: String },
    #[error(
        "Secrets Manager could not decrypt the secret {arn}: {detail}. Check that the function's role may use the secret's KMS key (kms:Decrypt via Secrets Manager); a secret shared across accounts needs a customer-managed key."
    )]
    Decryption { arn: String, detail: String },
    #[error(
        "Could not assume SecretRoleArn {role}: {detail}. Check the role's trust policy allows this account's function role, and the function's sts:AssumeRole permission."
    )]
    AssumeRole {
        role: String,
        detail: String,
        transient: bool,
    },
    #[error("Secrets Manager did not answer for the secret {arn}: {detail}.")]
    Unavailable { arn: String, detail: String },
    #[error("The secret {arn} could not be read: {detail}.")]
    Other { arn: String, detail: String },
    #[error("The secret {arn} does not hold a JSON object; it must look like {shape}.")]
    NotJson { arn: String, shape: &'static str },
    #[error("The secret {arn} has no {field:?} field (or it is empty); it must look like {shape}.")]
    MissingField {
        arn: String,
        field: &'static str,
        shape: &'static str,
    },
}

impl SecretError {
    /// The last transient failure, with how long it lasted (for the reason shown).
    fn after_attempts(self, attempts: u32, elapsed: Duration) -> SecretError {
        let lasted = |detail: String| {
            format!(
                "{detail} (after {attempts} attempt(s) over {:.0} s)",
                elapsed.as_secs_f64()
            )
        };
        match self {
            SecretError::Unavailable { arn, detail } => SecretError::Unavailable {
                arn,
                detail: lasted(detail),
            },
            SecretError::AssumeRole {
                role,
                detail,
                transient,
            } => SecretError::AssumeRole {
                role,
                detail: lasted(detail),
                transient,
            },
            other => other,
        }
    }

    /// Whether trying again later could succeed.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            SecretError::Unavailable { .. } => true,
            SecretError::AssumeRole { transient, .. } => *transient,
            _ => false,
        }
    }
}

/// The secret's JSON fields that hold strings. `Debug` shows only the field names.
pub struct SecretJson {
    arn: String,
    fields: BTreeMap<String, SecretString>,
}

impl SecretJson {
    /// Parses the secret's text; `shape` describes the expected JSON for error messages.
    pub fn parse(
        arn: &str,
        text: SecretString,
        shape: &'static str,
    ) -> Result<SecretJson, SecretError> {
        use secrecy::ExposeSecret;
        let parsed: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text.expose_secret()).map_err(|_| SecretError::NotJson {
                arn: arn.to_owned(),
                shape,
            })?;
        let fields = parsed
            .into_iter()
            .filter_map(|(name, value)| match value {
                serde_json::Value::String(s) if !s.trim().is_empty() => {
                    Some((name, SecretString::from(s.trim().to_owned())))
                }
                _ => None,
            })
            .collect();
        Ok(SecretJson {
            arn: arn.to_owned(),
            fields,
        })
    }

    /// A required string field.
    pub(crate) fn field(
        &self,
        name: &'static str,
        shape: &'static str,
    ) -> Result<SecretString, SecretError> {
        self.fields
            .get(name)
            .cloned()
            .ok_or_else(|| SecretError::MissingField {
                arn: self.arn.clone(),
                field: name,
                shape,
            })
    }
}

impl fmt::Debug for SecretJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretJson")
            .field("arn", &self.arn)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Where an event's keys come from.
pub trait SecretSource: Send + Sync {
    /// The text of `secret`, read before `deadline`; `session_name` names the role session if
    /// a role is assumed first, and `progress` says which step is awaited.
    fn read<'a>(
        &'a self,
        secret: &'a SecretRef,
        session_name: &'a str,
        progress: &'a Progress,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<SecretString, SecretError>>;
}

/// The keys in Secrets Manager: the secret read in its own region, after assuming
/// `SecretRoleArn` when given, retried until the deadline.
pub(crate) struct SecretsManager {
    aws: Arc<AwsSdk>,
}

impl SecretsManager {
    pub(crate) fn new(aws: Arc<AwsSdk>) -> SecretsManager {
        SecretsManager { aws }
    }
}

impl SecretSource for SecretsManager {
    fn read<'a>(
        &'a self,
        secret: &'a SecretRef,
        session_name: &'a str,
        progress: &'a Progress,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<SecretString, SecretError>> {
        Box::pin(read(&self.aws, secret, session_name, progress, deadline))
    }
}

/// Reads the secret's text, assuming `SecretRoleArn` first when given; transient failures are
/// retried until `deadline`. `progress` says which step it waits for.
async fn read(
    aws: &AwsSdk,
    secret: &SecretRef,
    session_name: &str,
    progress: &Progress,
    deadline: Instant,
) -> Result<SecretString, SecretError> {
    let aws = aws.config().await;
    let started = Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let error = match read_once(aws, secret, session_name, progress, deadline).await {
            Ok(text) => return Ok(text),
            Err(error) if error.is_transient() => error,
            Err(error) => return Err(error),
        };
        let wait = backoff.next_delay();
        if Instant::now() + wait >= deadline {
            return Err(error.after_attempts(attempts, started.elapsed()));
        }
        tracing::warn!(attempt = attempts, error = %error, wait_ms = wait.as_millis() as u64, "reading the secret failed; retrying");
        progress.set(format!(
            "waiting to read the secret {} again (attempt {attempts} failed)",
            secret.arn
        ));
        tokio::time::sleep(wait).await;
    }
}

/// One attempt (the SDK's own retries included), cut off at `deadline`.
async fn read_once(
    aws: &SdkConfig,
    secret: &SecretRef,
    session_name: &str,
    progress: &Progress,
    deadline: Instant,
) -> Result<SecretString, SecretError> {
    let mut config = aws_sdk_secretsmanager::config::Builder::from(aws)
        .region(Region::new(secret.region.clone()));
    if let Some(role) = &secret.role_arn {
        progress.set(format!("assuming SecretRoleArn {role} (STS)"));
        let credentials = tokio::time::timeout_at(deadline, assume_role(aws, role, session_name))
            .await
            .unwrap_or_else(|_| {
                Err(SecretError::AssumeRole {
                    role: role.clone(),
                    detail: "STS gave no answer before the function's deadline".to_owned(),
                    transient: true,
                })
            })?;
        config = config.credentials_provider(credentials);
    }
    progress.set(format!(
        "reading the secret {} from Secrets Manager in {}",
        secret.arn, secret.region
    ));
    let client = aws_sdk_secretsmanager::Client::from_conf(config.build());
    let answer = tokio::time::timeout_at(
        deadline,
        client.get_secret_value().secret_id(&secret.arn).send(),
    )
    .await
    .map_err(|_| SecretError::Unavailable {
        arn: secret.arn.clone(),
        detail: "no answer before the function's deadline".to_owned(),
    })?
    .map_err(|e| classify(secret, e))?;
    answer
        .secret_string()
        .map(|s| SecretString::from(s.to_owned()))
        .ok_or_else(|| SecretError::Other {
            arn: secret.arn.clone(),
            detail: "it holds binary data, not a JSON string".into(),
        })
}

async fn assume_role(
    aws: &SdkConfig,
    role: &str,
    session_name: &str,
) -> Result<Credentials, SecretError> {
    let sts = aws_sdk_sts::Client::new(aws);
    let answer = sts
        .assume_role()
        .role_arn(role)
        .role_session_name(session_name)
        .duration_seconds(900)
        .send()
        .await
        .map_err(|e| SecretError::AssumeRole {
            role: role.to_owned(),
            transient: !matches!(e, SdkError::ServiceError(_)) || e.code() == Some("Throttling"),
            detail: describe(&e),
        })?;
    let creds = answer
        .credentials()
        .ok_or_else(|| SecretError::AssumeRole {
            role: role.to_owned(),
            detail: "STS returned no credentials".into(),
            transient: true,
        })?;
    Ok(Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_owned()),
        std::time::SystemTime::try_from(*creds.expiration()).ok(),
        "registrar-secret-role",
    ))
}

/// An AWS SDK error in words, safe to show: the service's error code and message, or a fixed
/// phrase for failures without one. Never the error's `Debug` form, which can carry the raw
/// answer, and with it the secret value or temporary credentials.
fn describe<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
    match error {
        SdkError::ServiceError(service) => {
            let service = service.err();
            match (service.code(), service.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                (None, Some(message)) => message.to_owned(),
                (None, None) => "an error without a code".to_owned(),
            }
        }
        SdkError::TimeoutError(_) => "no answer in time".to_owned(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            "no answer in time".to_owned()
        }
        SdkError::DispatchFailure(_) => "could not connect, or the connection broke".to_owned(),
        SdkError::ResponseError(_) => "the answer could not be read".to_owned(),
        SdkError::ConstructionFailure(_) => "the request could not be built".to_owned(),
        _ => "the call failed".to_owned(),
    }
}

fn classify<R>(
    secret: &SecretRef,
    error: SdkError<aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError, R>,
) -> SecretError {
    let arn = secret.arn.clone();
    let detail = describe(&error);
    let SdkError::ServiceError(service) = &error else {
        return SecretError::Unavailable { arn, detail };
    };
    let kind = service.err();
    match kind.code() {
        _ if kind.is_resource_not_found_exception() => SecretError::NotFound {
            arn,
            region: secret.region.clone(),
        },
        _ if kind.is_decryption_failure() => SecretError::Decryption { arn, detail },
        _ if kind.is_internal_service_error() => SecretError::Unavailable { arn, detail },
        Some("AccessDeniedException") => SecretError::AccessDenied { arn, detail },
        Some("ThrottlingException" | "ServiceUnavailable" | "RequestTimeout") => {
            SecretError::Unavailable { arn, detail }
        }
        Some("InvalidRequestException")
            if kind.message().is_some_and(|m| m.contains("deletion")) =>
        {
            SecretError::NotFound {
                arn,
                region: secret.region.clone(),
            }
        }
        _ => SecretError::Other { arn, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const SHAPE: &str = r#"{"api_key": "…", "app_key": "…"}"#;

    #[test]
    fn parses_secret_arns() {
        let s = SecretRef::parse(
            "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:dd/keys-AbC",
            None,
        )
        .unwrap();
        assert_eq!(s.region, "us-gov-west-1");
        assert_eq!(s.partition, Partition::AwsUsGov);
        for bad in [
            "datadog-keys",
            "arn:aws:secretsmanager:us-east-1:123:secret:x",
            "arn:aws:ssm:us-east-1:123456789012:parameter/x",
            "arn:aws:secretsmanager::123456789012:secret:x",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:",
        ] {
            assert!(SecretRef::parse(bad, None).is_err(), "{bad}");
        }
        let role = Some("arn:aws:iam::123456789012:role/path/reader".to_owned());
        assert!(
            SecretRef::parse(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
                role
            )
            .is_ok()
        );
        let err = SecretRef::parse(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
            Some("reader".into()),
        )
        .unwrap_err();
        assert!(err.contains("SecretRoleArn"));
    }

    #[test]
    fn sdk_errors_are_described_without_the_raw_answer() {
        use aws_sdk_secretsmanager::error::ErrorMetadata;
        use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
        let raw = r#"{"SecretString": "{\"api_key\": \"AK-LEAKED\"}", "CreatedDate": "soon"}"#;
        let unreadable =
            SdkError::<GetSecretValueError, &str>::response_error("CreatedDate: AK-LEAKED", raw);
        assert_eq!(describe(&unreadable), "the answer could not be read");
        let secret = SecretRef::parse(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
            None,
        )
        .unwrap();
        let shown = classify(&secret, unreadable).to_string();
        assert!(!shown.contains("LEAKED"), "{shown}");

        let denied = GetSecretValueError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not allowed")
                .build(),
        );
        let denied = SdkError::<GetSecretValueError, &str>::service_error(denied, raw);
        assert_eq!(describe(&denied), "AccessDeniedException: not allowed");
        assert!(matches!(
            classify(&secret, denied),
            SecretError::AccessDenied { .. }
        ));
        let timeout = SdkError::<GetSecretValueError, &str>::timeout_error(raw);
        assert_eq!(describe(&timeout), "no answer in time");
    }

    #[test]
    fn fields_are_read_and_never_debug_printed() {
        let json = SecretJson::parse(
            "arn:x",
            SecretString::from(
                r#"{"api_key":"AK-SECRET","app_key":" PK-SECRET ","n":1}"#.to_owned(),
            ),
            SHAPE,
        )
        .unwrap();
        assert_eq!(
            json.field("api_key", SHAPE).unwrap().expose_secret(),
            "AK-SECRET"
        );
        assert_eq!(
            json.field("app_key", SHAPE).unwrap().expose_secret(),
            "PK-SECRET"
        );
        let shown = format!("{json:?} {:?}", json.field("api_key", SHAPE).unwrap());
        assert!(!shown.contains("SECRET"), "{shown}");
        let missing = json.field("token", SHAPE).unwrap_err().to_string();
        assert!(
            missing.contains("\"token\"") && missing.contains("api_key"),
            "{missing}"
        );
    }

    #[test]
    fn a_secret_that_is_not_json_says_so_without_echoing_it() {
        let err = SecretJson::parse(
            "arn:x",
            SecretString::from("hunter2-PLAIN".to_owned()),
            SHAPE,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("not hold a JSON object") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
