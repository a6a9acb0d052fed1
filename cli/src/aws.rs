//! The CLI's AWS configuration, as the AWS CLI's users expect it: the SDK's own profile, region
//! and credential chains (`--profile`/`AWS_PROFILE`, `--region`/`AWS_REGION`/the profile's
//! `region`), checked before the first call so a missing region, an unknown profile or missing
//! credentials is one readable line; every call bounded in time; SDK errors in words, never a
//! `Debug` dump.

use std::borrow::Cow;
use std::error::Error;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_sdk_cloudformation::config::Region;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_types::os_shim_internal::{Env, Fs};
use registrar::inventory;

use crate::error::AuditError;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt (request sent, answer read) may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take, retries included: an endpoint that never answers fails the
/// audit after this long.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the credential chain may take (SSO, a role to assume, instance metadata).
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(8);

/// Where the AWS configuration comes from: the flags, else the SDK's environment and files.
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
}

/// The SDK configuration for every AWS call of the audit (CloudFormation, Organizations, Secrets
/// Manager, STS), with its region and credentials resolved, or why there are none.
pub async fn config(options: &AwsOptions) -> Result<SdkConfig, AuditError> {
    let profile = selected_profile(options);
    if let Some((name, from)) = &profile {
        check_profile(name, from).await?;
    }
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(ATTEMPT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let mut loader = inventory::aws_config_loader()
        .map_err(|e| AuditError::Setup(e.to_string()))?
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(name) = &options.profile {
        loader = loader.profile_name(name);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let sdk = loader.load().await;
    let profile_name = profile.map(|(name, _)| name);
    if sdk.region().is_none() {
        return Err(AuditError::NoRegion {
            profile: profile_name,
        });
    }
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| AuditError::NoCredentials {
            cause: "the SDK has no credential provider".to_owned(),
        })?;
    let credentials = tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials())
        .await
        .map_err(|_| AuditError::NoCredentials {
            cause: format!(
                "the credential chain gave no answer within {} s",
                CREDENTIALS_TIMEOUT.as_secs()
            ),
        })?
        .map_err(|e| AuditError::NoCredentials {
            cause: credentials_cause(&e, profile_name.as_deref()),
        })?;
    // Resolved once: every client of the audit signs with these, and no chain runs twice.
    Ok(sdk
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build())
}

/// The profile the user chose, and how: `--profile`, else a non-empty `AWS_PROFILE`.
fn selected_profile(options: &AwsOptions) -> Option<(String, &'static str)> {
    if let Some(name) = &options.profile {
        return Some((name.clone(), "--profile"));
    }
    std::env::var("AWS_PROFILE")
        .ok()
        .filter(|name| !name.is_empty())
        .map(|name| (name, "AWS_PROFILE"))
}

/// A profile that was named must exist: the SDK's chains would otherwise skip it silently and
/// fall through to other credentials, or to none.
async fn check_profile(name: &str, from: &'static str) -> Result<(), AuditError> {
    let profiles = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &EnvConfigFiles::default(),
        Some(Cow::Owned(name.to_owned())),
    )
    .await
    .map_err(|e| AuditError::ProfileFiles(chain(&e)))?;
    if profiles.get_profile(name).is_none() {
        return Err(AuditError::UnknownProfile {
            name: name.to_owned(),
            from,
        });
    }
    Ok(())
}

fn credentials_cause(error: &CredentialsError, profile: Option<&str>) -> String {
    match error {
        CredentialsError::CredentialsNotLoaded(_) => format!(
            "none in the environment, {}, the container or the instance metadata",
            profile.map_or_else(
                || "the default profile".to_owned(),
                |p| format!("the profile {p}")
            )
        ),
        CredentialsError::ProviderTimedOut(_) => {
            "the credential provider gave no answer in time".to_owned()
        }
        other => chain(other),
    }
}

/// One AWS call's failure in words: the service's own code and message, a timeout, or the
/// connection's failure, with the causes behind it (never the SDK's `Debug` form).
pub fn explain<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let no_answer = || {
        format!(
            "no answer within {} s (check the network, a proxy, or AWS_ENDPOINT_URL)",
            OPERATION_TIMEOUT.as_secs()
        )
    };
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => chain(err),
            }
        }
        SdkError::TimeoutError(_) => no_answer(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => no_answer(),
        SdkError::DispatchFailure(_) => format!("could not reach AWS: {}", chain(error)),
        _ => chain(error),
    }
}

/// An error and its causes, each once, joined into one line.
fn chain(error: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts
        .join(": ")
        .replace('\n', " ")
        .trim_end_matches('.')
        .to_owned()
}
