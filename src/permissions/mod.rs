//! The role-permissions step (`Phase: role-permissions`): the vendor's published IAM permission
//! lists on the role the vendor assumes, never broader.
//!
//! - Create and Update fetch the lists first (the vendor's own, or the bundled copy when the
//!   vendor cannot be reached), drop any action that reads data or secrets ([`deny`]) or is not
//!   read-only ([`verbs`]), logging each, and only then write: on a role, the standard list as
//!   one inline policy (PutRolePolicy replaces it at once); on a user (whose inline policies may
//!   total only 2,048 characters), the standard list as managed policies; each
//!   resource-collection chunk as a managed policy (a new default version when it changed);
//!   and only after that detach and delete the policies of ours no longer needed (and a user's
//!   inline copy of an earlier release). The holder is never without permissions in between.
//! - Delete removes every policy of ours from the role its id names; what is gone is fine, and
//!   a permanent error follows `OnDeleteError`.
//! - A Create answers the id naming its role even when it fails (or is cut short at the
//!   deadline), so that the rollback's Delete removes whatever it wrote. No marker id: a marker
//!   replaced by a later Update's id would be deleted afterwards, and its Delete could not tell
//!   the policies that Update wrote from the failed Create's.
//!
//! The PhysicalResourceId names the role (`registrar:permissions:<vendor>:<partition>:<account>:<role>`):
//! stable across Updates that change the lists, so CloudFormation never mistakes a new list for
//! a replacement whose cleanup would remove the policies just written.

pub mod deny;
pub mod iam;
pub mod policies;
pub mod verbs;

use std::collections::BTreeMap;
use std::future::Future;

use crate::aws::AwsSdk;
use crate::cfn::{Outcome, RequestType};
use crate::identity::{Identity, StackArn};
use crate::integrations::{Kind, PermissionLists};
use crate::physical_id::PermissionsRef;
use crate::progress::Progress;
use crate::props::{self, OnDeleteError, Properties, PropertyError};

use self::iam::{IamError, RoleIam};
use self::policies::{
    ListKind, MANAGED_POLICY_LIMIT, document, fit, inline_policy_name, is_managed_policy,
};

/// The step's properties: the vendor, the role (or, with `UserName`, the user: `user/<name>`),
/// its account and partition. The vendor's own
/// settings (Datadog's site and resource collection) are read by the vendor; `OnDeleteError`
/// matters to a Delete only, which reads it from the properties it comes with.
#[derive(Debug, Clone)]
pub struct Target {
    pub vendor: Kind,
    pub role_name: String,
    pub identity: Identity,
}

impl Target {
    /// Reads the properties; no `SecretArn`: the step reads no secret.
    pub fn parse(props: &Properties, stack: Option<&StackArn>) -> Result<Target, PropertyError> {
        let vendor = Kind::from_properties(props)?;
        if !vendor.publishes_permissions() {
            let publishers: Vec<&str> = Kind::ALL
                .iter()
                .filter(|k| k.publishes_permissions())
                .map(|k| k.display_name())
                .collect();
            return Err(PropertyError::Invalid {
                name: "Phase",
                value: "role-permissions".into(),
                expected: format!(
                    "registration or role-binding with Vendor {}: only {} publishes permission lists for its role; the template gives the {} role its permissions",
                    vendor.as_str(),
                    props::one_of(publishers.into_iter()),
                    vendor
                ),
            });
        }
        let target = Target {
            vendor,
            role_name: match props.text("UserName")? {
                Some(user) => format!("{}{}", iam::USER_PREFIX, user_name(&user)?),
                None => props::role_name(props)?,
            },
            identity: props::identity(props, stack)?,
        };
        // Refused on Create and Update already, not only when the Delete needs it.
        props::on_delete_error(props)?;
        Ok(target)
    }

    /// The id of the step's resource: the role it writes on.
    pub fn reference(&self) -> PermissionsRef {
        PermissionsRef {
            vendor: self.vendor,
            partition: self.identity.partition,
            account: self.identity.account.clone(),
            role: self.role_name.clone(),
        }
    }
}

/// `UserName`: the IAM user a vendor signs in as with an access key (Datadog's access-key
/// accounts), whose policies the step writes instead of a role's.
fn user_name(name: &str) -> Result<&str, PropertyError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if valid {
        Ok(name)
    } else {
        Err(PropertyError::Invalid {
            name: "UserName",
            value: name.chars().take(120).collect(),
            expected: "an IAM user name (up to 64 letters, digits and +=,.@_-)".into(),
        })
    }
}

/// A Create or Update of the step.
pub struct Event<'a> {
    pub request_type: RequestType,
    /// The incoming PhysicalResourceId (Update).
    pub physical_id: Option<&'a str>,
    pub target: Target,
    pub progress: Progress,
}

/// Removes every policy of ours from the role `reference` names (a Delete of the step's id);
/// what is gone is fine, and a permanent error follows `on_delete_error`.
pub async fn remove(
    reference: PermissionsRef,
    on_delete_error: OnDeleteError,
    aws: &AwsSdk,
    progress: &Progress,
) -> Outcome {
    let id = reference.to_string();
    let iam = role_iam(aws, &reference).await;
    removal_outcome(
        id,
        on_delete_error,
        remove_all(&iam, reference.vendor, progress).await,
    )
}

/// A Delete of an id this step never answered with success: a Create that failed after
/// writing (its unconfirmed marker), or one CloudFormation gave up on. Whatever it wrote is
/// named after the role in the properties (`target`); answers with `id`. A failure is
/// answered FAILED here and SUCCESS by the plan (see `lifecycle::Plan::answer`).
pub async fn sweep(target: &Target, id: String, aws: &AwsSdk, progress: &Progress) -> Outcome {
    let reference = target.reference();
    let iam = role_iam(aws, &reference).await;
    match remove_all(&iam, reference.vendor, progress).await {
        Ok(()) => Outcome::success(id, BTreeMap::new()),
        Err(e) => Outcome::failed(id, e.to_string()),
    }
}

async fn role_iam(aws: &AwsSdk, reference: &PermissionsRef) -> RoleIam {
    RoleIam::new(
        aws.config().await,
        reference.partition,
        reference.account.clone(),
        reference.role.clone(),
    )
}

/// Writes the vendor's lists on the role (Create, Update); `lists` is awaited only then.
pub async fn attach(
    event: Event<'_>,
    lists: impl Future<Output = PermissionLists>,
    aws: &AwsSdk,
) -> Outcome {
    let reference = event.target.reference();
    let vendor = reference.vendor;
    event.progress.set(format!(
        "fetching {vendor}'s IAM permission lists for role {}",
        reference.role
    ));
    let lists = refuse_unaccepted(lists.await);
    let holder = iam::bare_name(&reference.role);
    let is_user = reference.role.starts_with(iam::USER_PREFIX);
    let chunks = fit(&lists.resource_collection, MANAGED_POLICY_LIMIT);
    let mut managed = Vec::new();
    if is_user {
        let standard = fit(std::slice::from_ref(&lists.standard), MANAGED_POLICY_LIMIT);
        managed.extend(policies::managed_policies(
            vendor.as_str(),
            holder,
            ListKind::Standard,
            &standard,
        ));
    }
    managed.extend(policies::managed_policies(
        vendor.as_str(),
        holder,
        ListKind::ResourceCollection,
        &chunks,
    ));
    let iam = role_iam(aws, &reference).await;
    let written = async {
        event.progress.sent_a_change();
        if !is_user {
            event.progress.set(format!(
                "writing the inline policy {} of role {} (IAM)",
                inline_policy_name(vendor.as_str()),
                reference.role
            ));
            iam.put_inline(
                &inline_policy_name(vendor.as_str()),
                &document(&lists.standard),
            )
            .await?;
        }
        for policy in &managed {
            event.progress.set(format!(
                "writing and attaching the managed policy {} (IAM)",
                policy.name
            ));
            iam.put_managed(policy).await?;
        }
        let wanted: Vec<&str> = managed.iter().map(|p| p.name.as_str()).collect();
        remove_managed_except(&iam, vendor, &wanted, &event.progress).await?;
        if is_user {
            // An earlier release wrote the user's standard list inline; the managed copy is
            // attached by now.
            iam.delete_inline(&inline_policy_name(vendor.as_str()))
                .await?;
        }
        Ok::<(), IamError>(())
    }
    .await;
    let standard_count = lists.standard.len();
    let resource_collection_count: usize = chunks.iter().map(Vec::len).sum();
    match written {
        Ok(()) => {
            tracing::info!(
                role = %reference.role,
                source = %lists.source.label(),
                standard = standard_count,
                resource_collection = resource_collection_count,
                managed_policies = managed.len(),
                "the vendor's permissions are attached to the role"
            );
            let data = BTreeMap::from([
                ("PermissionsSource".to_owned(), lists.source.label()),
                (
                    "StandardPermissionCount".to_owned(),
                    standard_count.to_string(),
                ),
                (
                    "ResourceCollectionPermissionCount".to_owned(),
                    resource_collection_count.to_string(),
                ),
                (
                    "PolicyCount".to_owned(),
                    (usize::from(!is_user) + managed.len()).to_string(),
                ),
            ]);
            Outcome::success(reference.to_string(), data)
        }
        Err(e) => {
            let reason = format!(
                "Could not attach {vendor}'s permissions to {}: {e}",
                iam::describe(&reference.role)
            );
            let id = match (event.request_type, event.physical_id) {
                (RequestType::Update, Some(incoming)) => incoming.to_owned(),
                _ => reference.to_string(),
            };
            Outcome::failed(id, reason)
        }
    }
}

/// Removes every policy of ours from the role.
async fn remove_all(iam: &RoleIam, vendor: Kind, progress: &Progress) -> Result<(), IamError> {
    progress.set(format!(
        "removing {vendor}'s permissions from role {} (IAM)",
        iam.role()
    ));
    remove_managed_except(iam, vendor, &[], progress).await?;
    iam.delete_inline(&inline_policy_name(vendor.as_str()))
        .await
}

/// Detaches and deletes the managed policies of ours on the role that `keep` does not name.
async fn remove_managed_except(
    iam: &RoleIam,
    vendor: Kind,
    keep: &[&str],
    progress: &Progress,
) -> Result<(), IamError> {
    let prefix = policies::managed_policy_prefix(vendor.as_str(), iam::bare_name(iam.role()));
    for name in iam.managed_named(&prefix).await? {
        if is_managed_policy(&prefix, &name) && !keep.contains(&name.as_str()) {
            progress.set(format!(
                "detaching and deleting the managed policy {name} (IAM)"
            ));
            iam.remove_managed(&name).await?;
        }
    }
    Ok(())
}

/// The lists without any action that reads data or secrets or is not read-only; each one
/// dropped is logged with the reason.
pub fn refuse_unaccepted(lists: PermissionLists) -> PermissionLists {
    let keep = |action: &String| match deny::reads_data(action) {
        Some(covered) => {
            tracing::warn!(action = %action, reads = covered, "refusing an action of the vendor's permission list: it reads data or secrets");
            false
        }
        None if !verbs::is_accepted(action) => {
            tracing::warn!(action = %action, verbs = ?verbs::READ_ONLY_VERBS, "refusing an action of the vendor's permission list: it is not read-only (its verb is none of the read-only verbs, and it is not one the vendor documents)");
            false
        }
        None => true,
    };
    PermissionLists {
        standard: lists.standard.into_iter().filter(keep).collect(),
        resource_collection: lists
            .resource_collection
            .into_iter()
            .map(|chunk| chunk.into_iter().filter(keep).collect::<Vec<_>>())
            .filter(|chunk| !chunk.is_empty())
            .collect(),
        source: lists.source,
    }
}

fn removal_outcome(
    id: String,
    on_delete_error: OnDeleteError,
    result: Result<(), IamError>,
) -> Outcome {
    match result {
        Ok(()) => {
            tracing::info!(physical_id = %id, "the vendor's permissions are removed from the role");
            Outcome::success(id, BTreeMap::new())
        }
        Err(e) if on_delete_error == OnDeleteError::Retain => {
            tracing::warn!(orphan = %id, error = %e, "could not remove the vendor's permissions; reporting success because OnDeleteError=retain. The policies are left on the role");
            Outcome::success(id, BTreeMap::new())
        }
        Err(e) => {
            let advice = if e.transient {
                "Retry the deletion later"
            } else {
                "Fix the cause and retry the deletion"
            };
            Outcome::failed(
                id,
                format!(
                    "Could not remove the vendor's permissions from the role: {e} {advice}, or set OnDeleteError to retain to leave the policies on the role."
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::ListSource;

    #[test]
    fn data_reading_and_writing_actions_never_reach_the_role() {
        let lists = PermissionLists {
            standard: vec![
                "ec2:Describe*".into(),
                "s3:Get*".into(),
                "s3:GetBucketTagging".into(),
                "iam:PassRole".into(),
                "logs:PutSubscriptionFilter".into(),
            ],
            resource_collection: vec![
                vec!["kms:Decrypt".into(), "ec2:*".into()],
                vec!["dynamodb:*".into(), "rds:List*".into()],
            ],
            source: ListSource::Vendor(Kind::Datadog),
        };
        let kept = refuse_unaccepted(lists);
        assert_eq!(
            kept.standard,
            [
                "ec2:Describe*",
                "s3:GetBucketTagging",
                "logs:PutSubscriptionFilter"
            ]
        );
        assert_eq!(kept.resource_collection, vec![vec!["rds:List*".to_owned()]]);
    }
}
