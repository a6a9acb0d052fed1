//! The account's link: a New Relic "linked account" of the AWS provider, which names the role
//! New Relic assumes (`authLabel`) and carries the name Registrar gives it (the ownership mark).
//!
//! The facts relied on (docs/newrelic-api.md): the linked-accounts query answers every link the
//! key sees in one list, with `id`, `name`, `authLabel` (the role ARN), `externalId` (the AWS
//! account id), `metricCollectionMode` and `nrAccountId`; `cloudLinkAccount` answers the links
//! it made or its own `errors`, and New Relic checks the role by assuming it ("The ARN you
//! entered does not permit the correct access to your AWS account", which the Terraform
//! provider retries while IAM propagates); `cloudUpdateAccount` renames a link and changes its
//! role ARN, never its collection mode; `cloudUnlinkAccount` answers the links it removed.
//! Whether New Relic refuses a second link of one role is not documented: Registrar never
//! sends a second link before looking whether the first one was made.

use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::nerdgraph::{
    self, AccountsVariables, ActorData, AwsLink, AwsUpdate, LinkAccounts, LinkData, LinkedAccount,
    ProviderVariables, Unlink, UnlinkData, UpdateAccounts, UpdateData,
};
use super::{ATTEMPT_ALLOWANCE, NewRelic, Settings, VENDOR};
use crate::backoff::Backoff;
use crate::http::{Api, GaveUp};
use crate::integrations::{Listed, MadeBy, Owner, Registration, Removal, StackMark, VendorError};

/// Every link Registrar names starts with this.
const NAME_PREFIX: &str = "registrar-";
/// Registrar's own bound on a link's name (New Relic documents none).
const NAME_MAX: usize = 100;
/// The error New Relic answers while the role cannot be assumed yet (the Terraform provider's
/// `resource_newrelic_cloud_aws_link_account.go` retries on it).
const ROLE_NOT_READY: &str = "does not permit the correct access";
/// The managed setting the audit compares.
pub(super) const COLLECTION: &str = "metricCollectionMode";

/// The link name Registrar gives an account's link: `registrar-<account>-<region>/<stack>`;
/// past 100 characters, its first 83 and `~` with 16 hex digits of a 64-bit FNV-1a hash of the
/// whole name (deterministic and distinct).
pub(super) fn link_name(account: &str, stack: &StackMark) -> String {
    let full = format!("{NAME_PREFIX}{account}-{stack}");
    if full.chars().count() <= NAME_MAX {
        return full;
    }
    let hash = full.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let hash = format!("~{hash:016x}");
    let head: String = full.chars().take(NAME_MAX - hash.len()).collect();
    format!("{head}{hash}")
}

/// `arn:<partition>:iam::<account>:role/<path/>name` → (partition, account, name).
fn role_parts(arn: &str) -> Option<(&str, &str, &str)> {
    let (partition, rest) = arn.strip_prefix("arn:")?.split_once(":iam::")?;
    let (account, role) = rest.split_once(":role/")?;
    let name = role.rsplit('/').next().filter(|n| !n.is_empty())?;
    Some((partition, account, name))
}

/// The AWS account a link is for: its `externalId`, else its role ARN's account.
fn account_of(link: &LinkedAccount) -> Option<&str> {
    link.external_id
        .as_deref()
        .filter(|a| !a.is_empty())
        .or_else(|| role_parts(link.auth_label.as_deref()?).map(|(_, a, _)| a))
}

/// Who made a link of `account`, by its name.
pub(super) fn owner_of(name: &str, ours: &str, account: &str) -> Owner {
    if name == ours {
        Owner::ThisStack
    } else if let Some(stack) = name.strip_prefix(&format!("{NAME_PREFIX}{account}-")) {
        Owner::OtherStack(stack.to_owned())
    } else {
        Owner::Someone
    }
}

/// A link as the audit lists it.
pub(super) fn listed(link: &LinkedAccount) -> Option<Listed> {
    let account = account_of(link)?.to_owned();
    let role = link.auth_label.as_deref().and_then(role_parts);
    let name = link.name.as_deref().unwrap_or_default();
    let made_by = name
        .strip_prefix(NAME_PREFIX)
        .and_then(|rest| rest.strip_prefix(account.as_str()))
        .and_then(|rest| rest.strip_prefix('-'))
        .map_or(MadeBy::Someone, |stack| {
            MadeBy::Registrar(Some(stack.to_owned()))
        });
    let mut listed = Listed {
        id: link.id.to_string(),
        account,
        partition: role.map(|(p, _, _)| p.to_owned()),
        role_name: role.map(|(_, _, n)| n.to_owned()),
        made_by,
        binding_scope: None,
        settings: Default::default(),
        // A disabled link is one New Relic does not collect for (`CloudLinkedAccount.disabled`,
        // docs/newrelic-api.md); New Relic reports no other health.
        unhealthy: (link.disabled == Some(true))
            .then(|| "the link is disabled in New Relic: enable it there".to_owned()),
    };
    if let Some(mode) = &link.metric_collection_mode {
        listed.settings.insert(COLLECTION.to_owned(), mode.clone());
    }
    Some(listed)
}

/// Sends one GraphQL operation and reads its `data`. A transient failure (HTTP 429 or 5xx
/// the retry layer gave up on, or an error class New Relic's own client retries) is sent
/// again with backoff until the deadline, except with `once` (a mutation that must not be
/// repeated before looking whether it took effect): then it is [`VendorError::GaveUp`] at once.
async fn operation<V: Serialize, D: DeserializeOwned>(
    api: &Api,
    call: &str,
    query: &'static str,
    variables: &V,
    once: bool,
) -> Result<D, VendorError> {
    let mut backoff = Backoff::new(Duration::from_millis(300), Duration::from_secs(4));
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = match attempt(api, call, query, variables, once).await {
            Err(Attempt::Transient(last)) => last,
            Err(Attempt::Failed(e)) => return Err(e),
            Ok(data) => return Ok(data),
        };
        let wait = backoff.next_delay();
        if once || api.http().remaining() < wait + ATTEMPT_ALLOWANCE {
            return Err(VendorError::GaveUp(GaveUp {
                vendor: VENDOR,
                call: call.to_owned(),
                attempts,
                last,
                elapsed: Duration::ZERO,
            }));
        }
        tracing::warn!(vendor = VENDOR, call, attempt = attempts, error = %last, wait_ms = wait.as_millis() as u64, "transient NerdGraph error; sending again");
        tokio::time::sleep(wait).await;
    }
}

/// How one attempt failed.
enum Attempt {
    /// Worth another attempt; what happened.
    Transient(String),
    Failed(VendorError),
}

async fn attempt<V: Serialize, D: DeserializeOwned>(
    api: &Api,
    call: &str,
    query: &'static str,
    variables: &V,
    once: bool,
) -> Result<D, Attempt> {
    let body = nerdgraph::Request { query, variables };
    let url = api.url(nerdgraph::PATH);
    let sent = if once {
        api.send_once(Method::POST, url, Some(&body)).await
    } else {
        api.send(Method::POST, url, Some(&body)).await
    };
    let answer = match sent {
        Ok(answer) => answer,
        Err(VendorError::GaveUp(gave_up)) => return Err(Attempt::Transient(gave_up.last)),
        Err(e) => return Err(Attempt::Failed(e)),
    };
    if answer.status == 429 || answer.status >= 500 {
        return Err(Attempt::Transient(format!("HTTP {}", answer.status)));
    }
    if answer.status != 200 {
        return Err(Attempt::Failed(api.refused(
            call,
            &answer,
            super::hint(answer.status),
        )));
    }
    let read: nerdgraph::Answer<D> = api.read(&answer, call).map_err(Attempt::Failed)?;
    if nerdgraph::transient(&read.errors) {
        return Err(Attempt::Transient(nerdgraph::describe(&read.errors)));
    }
    match read.data {
        Some(data) if read.errors.is_empty() => Ok(data),
        _ if !read.errors.is_empty() => Err(Attempt::Failed(api.refused_with(
            call,
            200,
            nerdgraph::describe(&read.errors),
            super::hint(401),
        ))),
        _ => Err(Attempt::Failed(
            api.unreadable(call, "no data and no errors"),
        )),
    }
}

/// Every AWS link the key sees.
pub(super) async fn all_links(api: &Api) -> Result<Vec<LinkedAccount>, VendorError> {
    let variables = ProviderVariables {
        provider: nerdgraph::AWS_PROVIDER,
    };
    let data: ActorData = operation(
        api,
        "the linked-accounts query",
        nerdgraph::LINKED_ACCOUNTS,
        &variables,
        false,
    )
    .await?;
    Ok(data.actor.cloud.linked_accounts)
}

/// The links of New Relic account `settings` names, as the audit lists them.
pub(super) async fn list_links(api: &Api, settings: &Settings) -> Result<Vec<Listed>, VendorError> {
    Ok(all_links(api)
        .await?
        .iter()
        .filter(|l| {
            l.nr_account_id
                .is_none_or(|id| id == u64::from(settings.account_id))
        })
        .filter_map(listed)
        .collect())
}

impl NewRelic {
    /// This AWS account's links in the configured New Relic account.
    async fn account_links(&self) -> Result<Vec<LinkedAccount>, VendorError> {
        let account = self.desired.identity.account.as_str();
        let nr = u64::from(self.settings.account_id);
        Ok(all_links(&self.api)
            .await?
            .into_iter()
            .filter(|l| l.nr_account_id.is_none_or(|id| id == nr))
            .filter(|l| account_of(l) == Some(account))
            .collect())
    }

    /// The registration a link is, as this stack judges it.
    fn registration(&self, link: &LinkedAccount) -> Registration {
        let account = self.desired.identity.account.as_str();
        let owner = owner_of(
            link.name.as_deref().unwrap_or_default(),
            &self.name,
            account,
        );
        let mode = link.metric_collection_mode.as_deref().unwrap_or("PULL");
        let unusable = (!mode.eq_ignore_ascii_case(self.settings.mode.as_str())).then(|| {
            crate::integrations::Unusable {
                how: format!("with metric collection mode {mode}"),
                remedy: format!(
                    "New Relic cannot change a linked account's collection mode: set MetricCollectionMode to {mode}, or unlink the account in New Relic (Infrastructure > AWS) and retry."
                ),
            }
        });
        Registration {
            id: link.id.to_string(),
            external_id: self.settings.account_id.to_string(),
            owner,
            created_by: None,
            claimed_by: None,
            unusable,
        }
    }

    /// The account's link: this stack's first, then another Registrar stack's, then anyone's.
    pub(super) async fn find_link(&self) -> Result<Option<Registration>, VendorError> {
        let mut found: Vec<Registration> = self
            .account_links()
            .await?
            .iter()
            .map(|l| self.registration(l))
            .collect();
        found.sort_by_key(|r| match r.owner {
            Owner::ThisStack => 0,
            Owner::OtherStack(_) => 1,
            Owner::Someone => 2,
        });
        Ok(found.into_iter().next())
    }

    /// This stack's link, if one exists (by name).
    async fn own_link(&self) -> Result<Option<LinkedAccount>, VendorError> {
        Ok(self
            .account_links()
            .await?
            .into_iter()
            .find(|l| l.name.as_deref() == Some(self.name.as_str())))
    }

    /// Links the role. A link is sent again only after looking whether the previous one was
    /// made (its answer lost, a 5xx), and while New Relic cannot assume the role yet.
    pub(super) async fn create_link(&self) -> Result<Registration, VendorError> {
        let call = "cloudLinkAccount";
        let variables = AccountsVariables {
            account_id: self.settings.account_id,
            accounts: LinkAccounts {
                aws: [AwsLink {
                    arn: &self.role_arn,
                    metric_collection_mode: self.settings.mode.as_str(),
                    name: &self.name,
                }],
            },
        };
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
        let mut attempts = 0;
        loop {
            attempts += 1;
            let last = match operation::<_, LinkData>(
                &self.api,
                call,
                nerdgraph::LINK,
                &variables,
                true,
            )
            .await
            {
                Ok(data) => {
                    let payload = data.cloud_link_account.unwrap_or_default();
                    if let Some(link) = payload
                        .linked_accounts
                        .iter()
                        .find(|l| l.name.as_deref() == Some(self.name.as_str()))
                        .or(payload.linked_accounts.first())
                    {
                        return Ok(Registration {
                            owner: Owner::ThisStack,
                            unusable: None,
                            ..self.registration(link)
                        });
                    }
                    let message = payload
                        .errors
                        .iter()
                        .map(|e| e.describe())
                        .collect::<Vec<_>>()
                        .join("; ");
                    if payload.errors.is_empty() {
                        return Err(self.api.unreadable(call, "no linked account and no errors"));
                    }
                    if !message.contains(ROLE_NOT_READY) {
                        // A refusal of a second link, whatever its words, is settled by looking.
                        if self.own_link().await?.is_some() || self.find_link().await?.is_some() {
                            return Err(VendorError::AlreadyExists { vendor: VENDOR });
                        }
                        return Err(self.api.refused_with(
                            call,
                            200,
                            message,
                            format!(" Check that role {} exists, trusts New Relic's AWS account with external id {} (the NewRelicAccountId) and has New Relic's permissions.", self.role_arn, self.settings.account_id),
                        ));
                    }
                    tracing::info!(
                        vendor = VENDOR,
                        attempt = attempts,
                        "New Relic cannot assume the role yet (IAM propagates); linking again"
                    );
                    message
                }
                // The answer was lost or unreadable: the link may have been made. Looking
                // settles it; only when it was not is the link sent again.
                Err(lost @ (VendorError::GaveUp(_) | VendorError::Unreadable { .. })) => {
                    if let Some(link) = self.own_link().await? {
                        tracing::info!(
                            link = link.id,
                            attempts,
                            "the link was made although its answer was lost"
                        );
                        return Ok(self.registration(&link));
                    }
                    match lost {
                        VendorError::GaveUp(gave_up) => gave_up.last,
                        other => other.to_string(),
                    }
                }
                Err(e) => return Err(e),
            };
            let wait = backoff.next_delay();
            if self.api.http().remaining() < wait + ATTEMPT_ALLOWANCE {
                return Err(VendorError::GaveUp(GaveUp {
                    vendor: VENDOR,
                    call: call.to_owned(),
                    attempts,
                    last,
                    elapsed: Duration::ZERO,
                }));
            }
            self.api
                .http()
                .report(format!("waiting {} ms to link again", wait.as_millis()));
            tokio::time::sleep(wait).await;
        }
    }

    /// Brings link `id` to this stack's name and role; `None` if it no longer exists.
    pub(super) async fn update_link(&self, id: &str) -> Result<Option<Registration>, VendorError> {
        let Ok(numeric) = id.parse::<u64>() else {
            return Ok(None);
        };
        let Some(link) = self
            .account_links()
            .await?
            .into_iter()
            .find(|l| l.id == numeric)
        else {
            return Ok(None);
        };
        let registration = self.registration(&link);
        if let Some(unusable) = &registration.unusable {
            return Err(VendorError::Unsupported(format!(
                "The New Relic link {id} of AWS account {} is {}. {}",
                self.desired.identity.account, unusable.how, unusable.remedy
            )));
        }
        if link.name.as_deref() == Some(self.name.as_str())
            && link.auth_label.as_deref() == Some(self.role_arn.as_str())
        {
            return Ok(Some(Registration {
                owner: Owner::ThisStack,
                ..registration
            }));
        }
        let variables = AccountsVariables {
            account_id: self.settings.account_id,
            accounts: UpdateAccounts {
                aws: [AwsUpdate {
                    linked_account_id: numeric,
                    name: &self.name,
                    arn: &self.role_arn,
                }],
            },
        };
        let data: UpdateData = operation(
            &self.api,
            "cloudUpdateAccount",
            nerdgraph::UPDATE,
            &variables,
            false,
        )
        .await?;
        let updated = data.cloud_update_account.unwrap_or_default();
        Ok(updated
            .linked_accounts
            .iter()
            .find(|l| l.id == numeric)
            .map(|l| Registration {
                owner: Owner::ThisStack,
                ..self.registration(l)
            }))
    }

    /// Unlinks link `id`; one that is not among the key's links is already gone.
    pub(super) async fn delete_link(&self, id: &str) -> Result<Removal, VendorError> {
        let call = "cloudUnlinkAccount";
        let Ok(numeric) = id.parse::<u64>() else {
            tracing::warn!(
                link = id,
                "not a New Relic linked account id; nothing to unlink"
            );
            return Ok(Removal::AlreadyGone);
        };
        let variables = AccountsVariables {
            account_id: self.settings.account_id,
            accounts: [Unlink {
                linked_account_id: numeric,
            }],
        };
        let refusal =
            match operation::<_, UnlinkData>(&self.api, call, nerdgraph::UNLINK, &variables, false)
                .await
            {
                Ok(data) => {
                    let payload = data.cloud_unlink_account.unwrap_or_default();
                    if payload.unlinked_accounts.iter().any(|l| l.id == numeric) {
                        return Ok(Removal::Removed);
                    }
                    let message = payload
                        .errors
                        .iter()
                        .map(|e| e.describe())
                        .collect::<Vec<_>>()
                        .join("; ");
                    self.api.refused_with(
                        call,
                        200,
                        if message.is_empty() {
                            "no unlinked account and no errors".to_owned()
                        } else {
                            message
                        },
                        super::hint(401),
                    )
                }
                Err(e @ VendorError::Refused { .. }) => e,
                Err(e) => return Err(e),
            };
        // Not unlinked: gone already (not found is success), or a real refusal.
        let still = all_links(&self.api).await?.iter().any(|l| l.id == numeric);
        if still {
            Err(refusal)
        } else {
            Ok(Removal::AlreadyGone)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> StackMark {
        StackMark {
            region: "us-east-1".into(),
            stack_name: "StackSet-nr-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab".into(),
        }
    }

    #[test]
    fn names_mark_this_stack_other_stacks_and_someone() {
        let ours = link_name("123456789012", &stack());
        assert_eq!(
            ours,
            "registrar-123456789012-us-east-1/StackSet-nr-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
        );
        assert_eq!(owner_of(&ours, &ours, "123456789012"), Owner::ThisStack);
        assert_eq!(
            owner_of("registrar-123456789012-eu-west-1/x", &ours, "123456789012"),
            Owner::OtherStack("eu-west-1/x".into())
        );
        assert_eq!(
            owner_of("Production", &ours, "123456789012"),
            Owner::Someone
        );
        let long = StackMark {
            region: "us-east-1".into(),
            stack_name: "s".repeat(200),
        };
        let name = link_name("123456789012", &long);
        assert_eq!(name.chars().count(), NAME_MAX);
        assert_eq!(name, link_name("123456789012", &long), "deterministic");
        assert_ne!(
            name,
            link_name(
                "123456789012",
                &StackMark {
                    stack_name: "t".repeat(200),
                    ..long
                }
            )
        );
    }

    #[test]
    fn listed_links_say_account_role_maker_and_mode() {
        let link = LinkedAccount {
            id: 42,
            auth_label: Some("arn:aws-us-gov:iam::123456789012:role/path/NR".into()),
            external_id: None,
            metric_collection_mode: Some("PUSH".into()),
            name: Some("registrar-123456789012-us-gov-west-1/s".into()),
            nr_account_id: Some(1),
            disabled: None,
        };
        let l = listed(&link).unwrap();
        assert_eq!((l.id.as_str(), l.account.as_str()), ("42", "123456789012"));
        assert_eq!(l.partition.as_deref(), Some("aws-us-gov"));
        assert_eq!(l.role_name.as_deref(), Some("NR"));
        assert_eq!(l.made_by, MadeBy::Registrar(Some("us-gov-west-1/s".into())));
        assert_eq!(l.settings[COLLECTION], "PUSH");
        assert_eq!(l.unhealthy, None);
        let off = listed(&LinkedAccount {
            disabled: Some(true),
            ..link.clone()
        })
        .unwrap();
        assert!(off.unhealthy.unwrap().contains("disabled"));
        let someone = LinkedAccount {
            name: Some("prod".into()),
            external_id: Some("210987654321".into()),
            auth_label: None,
            ..link
        };
        let l = listed(&someone).unwrap();
        assert_eq!(
            (l.account.as_str(), &l.made_by),
            ("210987654321", &MadeBy::Someone)
        );
        let nothing = LinkedAccount {
            external_id: None,
            ..someone
        };
        assert!(listed(&nothing).is_none());
    }
}
