//! IAM for the permissions step: the inline policy and the customer-managed policies of ours on
//! one role (or, for a vendor that signs in with an access key, one user), written in an order
//! that never leaves it without permissions.
//!
//! Only what the step needs, each call scoped in the template to the one role (or user) and to
//! policies named under our prefix (`FunctionRole` in `templates/datadog.yaml`): PutRolePolicy,
//! DeleteRolePolicy (DeleteUserPolicy), CreatePolicy, GetPolicy, GetPolicyVersion,
//! ListPolicyVersions, CreatePolicyVersion, DeletePolicyVersion, DeletePolicy,
//! AttachRolePolicy, DetachRolePolicy (AttachUserPolicy, DetachUserPolicy), and ListPolicies
//! (which IAM cannot scope; it reads names only).

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::PolicyScopeType;
use serde_json::Value;

use super::policies::{ManagedPolicy, POLICY_PATH};
use crate::identity::{AccountId, Partition};

/// IAM keeps at most five versions of a managed policy.
const MAX_POLICY_VERSIONS: usize = 5;

/// An IAM call that failed. Messages carry IAM's code and message, never a document.
#[derive(Debug, Clone, thiserror::Error)]
#[error("IAM refused {call}: {detail}.{hint}")]
pub struct IamError {
    pub call: String,
    pub detail: String,
    pub hint: &'static str,
    /// Throttling, 5xx, timeouts: trying the stack operation again may succeed.
    pub transient: bool,
}

/// The prefix that marks a holder as an IAM user (`user/<name>`), as the step's id and
/// [`RoleIam`] carry it. IAM names cannot contain `/`, so a role name never starts with it.
pub const USER_PREFIX: &str = "user/";

/// The bare IAM name of a holder (`role`, or `user/<name>` → `name`), for policy names.
pub fn bare_name(holder: &str) -> &str {
    holder.strip_prefix(USER_PREFIX).unwrap_or(holder)
}

/// A holder as a person reads it: `role <name>` or `user <name>`.
pub fn describe(holder: &str) -> String {
    match holder.strip_prefix(USER_PREFIX) {
        Some(user) => format!("user {user}"),
        None => format!("role {holder}"),
    }
}

/// One role's (or user's) policies of ours.
pub struct RoleIam {
    client: aws_sdk_iam::Client,
    partition: Partition,
    account: AccountId,
    role: String,
}

impl RoleIam {
    pub fn new(
        config: &aws_config::SdkConfig,
        partition: Partition,
        account: AccountId,
        role: String,
    ) -> RoleIam {
        RoleIam {
            client: aws_sdk_iam::Client::new(config),
            partition,
            account,
            role,
        }
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    /// The user's name, when the holder is a user.
    fn user(&self) -> Option<&str> {
        self.role.strip_prefix(USER_PREFIX)
    }

    fn policy_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:iam::{}:policy{POLICY_PATH}{name}",
            self.partition, self.account
        )
    }

    /// Writes (or replaces, atomically) the role's inline policy `name`.
    pub async fn put_inline(&self, name: &str, document: &str) -> Result<(), IamError> {
        if let Some(user) = self.user() {
            self.client
                .put_user_policy()
                .user_name(user)
                .policy_name(name)
                .policy_document(document)
                .send()
                .await
                .map_err(|e| fail(format!("PutUserPolicy {name} on user {user}"), e))?;
            return Ok(());
        }
        self.client
            .put_role_policy()
            .role_name(&self.role)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| fail(format!("PutRolePolicy {name} on role {}", self.role), e))?;
        Ok(())
    }

    /// Deletes the role's inline policy `name`; gone (or no role) is fine.
    pub async fn delete_inline(&self, name: &str) -> Result<(), IamError> {
        if let Some(user) = self.user() {
            return match self
                .client
                .delete_user_policy()
                .user_name(user)
                .policy_name(name)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if is_no_such_entity(&e) => Ok(()),
                Err(e) => Err(fail(format!("DeleteUserPolicy {name} on user {user}"), e)),
            };
        }
        match self
            .client
            .delete_role_policy()
            .role_name(&self.role)
            .policy_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_no_such_entity(&e) => Ok(()),
            Err(e) => Err(fail(
                format!("DeleteRolePolicy {name} on role {}", self.role),
                e,
            )),
        }
    }

    /// Makes managed policy `policy` exist with exactly its document (a new default version
    /// when it differs, so the role never loses the old one before the new one is in force;
    /// then the old versions go), and attaches it to the role.
    pub async fn put_managed(&self, policy: &ManagedPolicy) -> Result<(), IamError> {
        let arn = self.policy_arn(&policy.name);
        match self.client.get_policy().policy_arn(&arn).send().await {
            Ok(found) => {
                let current = found
                    .policy()
                    .and_then(|p| p.default_version_id())
                    .unwrap_or_default();
                if !self.document_is(&arn, current, &policy.document).await? {
                    self.make_room_for_a_version(&arn).await?;
                    self.client
                        .create_policy_version()
                        .policy_arn(&arn)
                        .policy_document(&policy.document)
                        .set_as_default(true)
                        .send()
                        .await
                        .map_err(|e| fail(format!("CreatePolicyVersion of {arn}"), e))?;
                    // The new version is in force: the old ones are of no further use.
                    for (version, default) in self.versions(&arn).await? {
                        if !default {
                            self.delete_version(&arn, &version).await?;
                        }
                    }
                }
            }
            Err(e) if is_no_such_entity(&e) => {
                self.client
                    .create_policy()
                    .policy_name(&policy.name)
                    .path(POLICY_PATH)
                    .description(&policy.description)
                    .policy_document(&policy.document)
                    .send()
                    .await
                    .map_err(|e| fail(format!("CreatePolicy {}", policy.name), e))?;
            }
            Err(e) => return Err(fail(format!("GetPolicy {arn}"), e)),
        }
        if let Some(user) = self.user() {
            self.client
                .attach_user_policy()
                .user_name(user)
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| fail(format!("AttachUserPolicy {arn} to user {user}"), e))?;
            return Ok(());
        }
        self.client
            .attach_role_policy()
            .role_name(&self.role)
            .policy_arn(&arn)
            .send()
            .await
            .map_err(|e| fail(format!("AttachRolePolicy {arn} to role {}", self.role), e))?;
        Ok(())
    }

    async fn document_is(&self, arn: &str, version: &str, wanted: &str) -> Result<bool, IamError> {
        let answer = self
            .client
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| fail(format!("GetPolicyVersion of {arn}"), e))?;
        let stored = answer
            .policy_version()
            .and_then(|v| v.document())
            .unwrap_or_default();
        Ok(same_document(stored, wanted))
    }

    /// Deletes the oldest non-default version when the policy has as many as IAM keeps.
    async fn make_room_for_a_version(&self, arn: &str) -> Result<(), IamError> {
        let mut versions = self.versions(arn).await?;
        if versions.len() < MAX_POLICY_VERSIONS {
            return Ok(());
        }
        versions.retain(|(_, default)| !default);
        if let Some((oldest, _)) = versions.last() {
            self.delete_version(arn, oldest).await?;
        }
        Ok(())
    }

    /// (version id, is default), newest first as IAM lists them.
    async fn versions(&self, arn: &str) -> Result<Vec<(String, bool)>, IamError> {
        let answer = self
            .client
            .list_policy_versions()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| fail(format!("ListPolicyVersions of {arn}"), e))?;
        let mut versions: Vec<(String, bool)> = answer
            .versions()
            .iter()
            .map(|v| {
                (
                    v.version_id().unwrap_or_default().to_owned(),
                    v.is_default_version(),
                )
            })
            .collect();
        // v1, v2, …: newest first, whatever order IAM answered in.
        versions.sort_by_key(|(id, _)| {
            std::cmp::Reverse(id.trim_start_matches('v').parse::<u64>().unwrap_or(0))
        });
        Ok(versions)
    }

    async fn delete_version(&self, arn: &str, version: &str) -> Result<(), IamError> {
        match self
            .client
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_no_such_entity(&e) => Ok(()),
            Err(e) => Err(fail(format!("DeletePolicyVersion {version} of {arn}"), e)),
        }
    }

    /// The names of the customer-managed policies under our path whose names start with
    /// `prefix` (attached or not: a run cut short may have created one it never attached).
    pub async fn managed_named(&self, prefix: &str) -> Result<Vec<String>, IamError> {
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let answer = self
                .client
                .list_policies()
                .scope(PolicyScopeType::Local)
                .path_prefix(POLICY_PATH)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| fail(format!("ListPolicies under {POLICY_PATH}"), e))?;
            names.extend(
                answer
                    .policies()
                    .iter()
                    .filter_map(|p| p.policy_name())
                    .filter(|name| name.starts_with(prefix))
                    .map(str::to_owned),
            );
            match answer.marker() {
                Some(next) if answer.is_truncated() => marker = Some(next.to_owned()),
                _ => return Ok(names),
            }
        }
    }

    /// Detaches managed policy `name` from the role and deletes it (with its old versions);
    /// what is already gone is fine.
    pub async fn remove_managed(&self, name: &str) -> Result<(), IamError> {
        let arn = self.policy_arn(name);
        let detached = match self.user() {
            Some(user) => self
                .client
                .detach_user_policy()
                .user_name(user)
                .policy_arn(&arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| {
                    (
                        is_no_such_entity(&e),
                        fail(format!("DetachUserPolicy {arn} from user {user}"), e),
                    )
                }),
            None => self
                .client
                .detach_role_policy()
                .role_name(&self.role)
                .policy_arn(&arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| {
                    (
                        is_no_such_entity(&e),
                        fail(format!("DetachRolePolicy {arn} from role {}", self.role), e),
                    )
                }),
        };
        match detached {
            Ok(()) | Err((true, _)) => {}
            Err((false, e)) => return Err(e),
        }
        let versions = match self.versions(&arn).await {
            Ok(versions) => versions,
            Err(_) if !self.exists(&arn).await? => return Ok(()),
            Err(e) => return Err(e),
        };
        for (version, default) in &versions {
            if !default {
                self.delete_version(&arn, version).await?;
            }
        }
        match self.client.delete_policy().policy_arn(&arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_no_such_entity(&e) => Ok(()),
            Err(e) => Err(fail(format!("DeletePolicy {arn}"), e)),
        }
    }

    async fn exists(&self, arn: &str) -> Result<bool, IamError> {
        match self.client.get_policy().policy_arn(arn).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_no_such_entity(&e) => Ok(false),
            Err(e) => Err(fail(format!("GetPolicy {arn}"), e)),
        }
    }
}

/// Whether IAM's stored document (URL-encoded, RFC 3986, as GetPolicyVersion answers) says
/// the same as `wanted`.
fn same_document(stored: &str, wanted: &str) -> bool {
    let parse = |text: &str| serde_json::from_str::<Value>(text).ok();
    let decoded = percent_encoding::percent_decode_str(stored).decode_utf8_lossy();
    let stored = parse(stored).or_else(|| parse(&decoded));
    stored.is_some() && stored == parse(wanted)
}

fn is_no_such_entity<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    matches!(error, SdkError::ServiceError(service) if service.err().code() == Some("NoSuchEntity"))
}

fn fail<E: ProvideErrorMetadata, R>(call: String, error: SdkError<E, R>) -> IamError {
    let (detail, code, transient) = match &error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let code = err.code().unwrap_or("an error without a code").to_owned();
            let detail = match err.message() {
                Some(message) => format!("{code}: {message}"),
                None => code.clone(),
            };
            let transient = matches!(
                code.as_str(),
                "Throttling" | "ThrottlingException" | "ServiceFailure" | "ServiceUnavailable"
            );
            (detail, Some(code), transient)
        }
        SdkError::TimeoutError(_) => ("no answer in time".to_owned(), None, true),
        SdkError::DispatchFailure(_) => (
            "could not connect, or the connection broke".to_owned(),
            None,
            true,
        ),
        SdkError::ResponseError(_) => ("the answer could not be read".to_owned(), None, true),
        _ => ("the call failed".to_owned(), None, false),
    };
    let operation = call.split_whitespace().next().unwrap_or_default();
    let hint = match code.as_deref() {
        Some("AccessDenied" | "AccessDeniedException") => {
            " The function's role may change only the vendor's role or user and the policies named registrar-<role>-<vendor>-…: deploy the template as shipped, and check service control policies and permissions boundaries."
        }
        Some("LimitExceeded") => limit_hint(operation),
        Some("NoSuchEntity") => {
            " The vendor's role or user does not exist: it is created by the same stack, before this step."
        }
        _ if transient => " Retrying the stack operation is safe.",
        _ => "",
    };
    IamError {
        call,
        detail,
        hint,
        transient,
    }
}

/// What to do about the IAM quota `operation` hit (IAM and AWS STS quotas,
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
fn limit_hint(operation: &str) -> &'static str {
    match operation {
        "AttachRolePolicy" => {
            " The role has reached IAM's quota of managed policies attached per role (10 by default; the vendor's lists take one per chunk, and SecurityAudit one more with resource collection): detach the policies you added to the vendor's role, or request an increase of 'Managed policies per role' (up to 20) in Service Quotas (IAM), then retry."
        }
        "AttachUserPolicy" => {
            " The user has reached IAM's quota of managed policies attached per user (10 by default; the vendor's lists take one per chunk): detach the policies you added to the vendor's user, or request an increase of 'Managed policies per user' (up to 20) in Service Quotas (IAM), then retry."
        }
        "PutRolePolicy" => {
            " The role's inline policies may total 10,240 characters (IAM's quota, not adjustable): remove inline policies you added to the vendor's role, then retry."
        }
        "PutUserPolicy" => {
            " The user's inline policies may total 2,048 characters (IAM's quota, not adjustable): remove inline policies you added to the vendor's user, then retry."
        }
        "CreatePolicyVersion" => {
            " A managed policy may hold 6,144 characters and keep 5 versions (IAM's quotas, not adjustable): delete the policy's versions that are not the default, then retry; if the vendor's list outgrew a policy, report it."
        }
        "CreatePolicy" => {
            " IAM's quotas allow 1,500 customer managed policies per account (adjustable up to 5,000 in Service Quotas) and 6,144 characters per policy: delete unused customer managed policies or request an increase, then retry."
        }
        _ => " An IAM quota was reached (see IAM and AWS STS quotas in the IAM User Guide).",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quota_iam_can_answer_names_what_to_do() {
        for operation in [
            "AttachRolePolicy",
            "AttachUserPolicy",
            "PutRolePolicy",
            "PutUserPolicy",
            "CreatePolicyVersion",
            "CreatePolicy",
        ] {
            let hint = limit_hint(operation);
            assert!(hint.contains("quota"), "{operation}: {hint}");
            assert!(hint.contains("retry"), "{operation}: {hint}");
        }
        assert!(limit_hint("AttachRolePolicy").contains("Service Quotas"));
        assert_ne!(
            limit_hint("AttachRolePolicy"),
            limit_hint("AttachUserPolicy")
        );
    }

    #[test]
    fn stored_documents_are_compared_decoded() {
        let wanted = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["a:B"],"Resource":"*"}]}"#;
        let encoded: String =
            percent_encoding::utf8_percent_encode(wanted, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert!(same_document(&encoded, wanted));
        assert!(same_document(wanted, wanted));
        assert!(!same_document(&encoded.replace("B", "C"), wanted));
        assert!(!same_document("", wanted));
    }
}
