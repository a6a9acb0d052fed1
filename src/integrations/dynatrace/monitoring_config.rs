//! The account's monitoring configuration of the `com.dynatrace.extension.da-aws` extension:
//! what makes Dynatrace poll the account, completed by the role binding.
//!
//! The facts relied on (docs/dynatrace-api.md, "Monitoring configurations"):
//! - each AWS connection maps to one AWS account and is paired one-to-one with one monitoring
//!   configuration; deleting a monitoring configuration removes its mapped connection in the
//!   background;
//! - GET returns `objectId`, `scope`, `value` (and modification info); PUT takes `{value}` and
//!   overwrites; POST takes `{scope, value}` and answers 201. No concurrency token and no 409
//!   are documented, so two writers of one configuration overwrite each other silently;
//! - the list is paged with `page-size` (at most 500) and `page-key` (alone).
//!
//! Hence, with `MonitoringConfigId`, each account's binding owns a configuration of its own,
//! created from the one `MonitoringConfigId` names (its value is the template, as Dynatrace's
//! organisation configuration is the blueprint for member accounts), with exactly this account's
//! connection as its credential. No two stack instances write the same object. Bindings made by
//! earlier releases joined one shared configuration; they leave it by the most careful
//! protocol the documented API allows (re-read right before each write, then confirm after a
//! settle delay, repairing until the deadline).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ATTEMPT_ALLOWANCE, Dynatrace, EXTENSION, VENDOR};
use crate::backoff::{Backoff, random_up_to};
use crate::http::GaveUp;
use crate::integrations::{Removal, VendorError};

pub(super) const MONITORING_CONFIGS_PATH: &str =
    "/platform/extensions/v2/extensions/com.dynatrace.extension.da-aws/monitoring-configurations";
/// The scope the AWS extension's configurations are defined for, if the template has none.
const DEFAULT_SCOPE: &str = "integration-aws";
/// The list's documented maximum page size, and a bound on how many pages are followed.
const PAGE_SIZE: &str = "500";
const MAX_PAGES: usize = 50;
/// Marks the scope of a binding whose account has a configuration of its own.
const OWN_PREFIX: &str = "own~";
/// How long a shared configuration is left alone before a write to it is checked again, and
/// the jitter added so that concurrent writers do not check in step.
const SETTLE: Duration = Duration::from_millis(1500);
const SETTLE_JITTER: Duration = Duration::from_millis(1000);
/// The `Data` attribute naming the account's own configuration.
pub(super) const ACCOUNT_CONFIG_ATTRIBUTE: &str = "AccountMonitoringConfigId";

/// The monitoring configuration a role binding answers for: the scope in its PhysicalResourceId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BindingScope {
    /// None: the connection is bound to its role, no configuration is touched.
    Nothing,
    /// The account's own configuration (`own~<id>`), which the binding's Delete deletes.
    Own(String),
    /// A configuration shared with other accounts that an earlier release joined (its bare id).
    Shared(String),
}

impl BindingScope {
    /// The scope of a binding's PhysicalResourceId (`None`: it has none).
    pub(super) fn parse(scope: Option<&str>) -> BindingScope {
        match scope {
            None | Some("") => BindingScope::Nothing,
            Some(text) => match text.strip_prefix(OWN_PREFIX) {
                Some(id) if !id.is_empty() => BindingScope::Own(id.to_owned()),
                _ => BindingScope::Shared(text.to_owned()),
            },
        }
    }

    /// The scope to write into the binding's PhysicalResourceId.
    pub(super) fn into_scope(self) -> Option<String> {
        match self {
            BindingScope::Nothing => None,
            BindingScope::Own(id) => Some(format!("{OWN_PREFIX}{id}")),
            BindingScope::Shared(id) => Some(id),
        }
    }
}

/// A monitoring configuration, as GET and the list answer it.
#[derive(Debug, Clone, Deserialize)]
struct MonitoringConfig {
    #[serde(rename = "objectId", default)]
    object_id: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    value: ConfigValue,
}

/// A configuration's `value`. Registrar writes the description and, under `aws`, the
/// credentials and the deployment scope; every other field (of the value, of `aws` and of each
/// credential) is kept as it was read: the configuration is the user's to customise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ConfigValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aws: Option<AwsSection>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct AwsSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credentials: Option<Vec<Credential>>,
    #[serde(
        rename = "deploymentScope",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    deployment_scope: Option<String>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// One entry of `value.aws.credentials`: a connection the configuration polls with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Credential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(
        rename = "connectionId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    connection_id: Option<String>,
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// A page of the configurations list; the documented key of the next page is
/// `next-page-key` (the settings API's spelling, `nextPageKey`, is read too).
#[derive(Debug, Deserialize)]
struct ConfigPage {
    items: Vec<MonitoringConfig>,
    #[serde(rename = "next-page-key", alias = "nextPageKey", default)]
    next_page_key: Option<String>,
}

/// The body of a POST: the new configuration.
#[derive(Debug, Serialize)]
struct NewConfig<'a> {
    scope: &'a str,
    value: &'a ConfigValue,
}

/// The body of a PUT: the whole value (the documented PUT overwrites).
#[derive(Debug, Serialize)]
struct Overwrite<'a> {
    value: &'a ConfigValue,
}

/// The answer to a POST: the new object, or a list holding it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Created {
    One(ObjectId),
    Listed(Vec<ObjectId>),
}

#[derive(Debug, Deserialize)]
struct ObjectId {
    #[serde(rename = "objectId", default)]
    object_id: Option<String>,
}

impl Created {
    fn object_id(self) -> Option<String> {
        match self {
            Created::One(object) => object.object_id,
            Created::Listed(objects) => objects.into_iter().next()?.object_id,
        }
    }
}

/// The credential entry naming this account's connection, as Dynatrace's own tooling writes it.
fn credential(connection: &str, account: &str, description: &str) -> Credential {
    Credential {
        description: Some(description.to_owned()),
        enabled: Some(true),
        connection_id: Some(connection.to_owned()),
        account_id: Some(account.to_owned()),
        other: Map::new(),
    }
}

/// The value of the account's own configuration: the template's value with this account's
/// connection as the only credential, `description` (the display name) this stack's connection
/// name, and the single-account deployment scope.
fn own_value(template: &ConfigValue, connection: &str, account: &str, name: &str) -> ConfigValue {
    let mut value = template.clone();
    value.description = Some(name.to_owned());
    let aws = value.aws.get_or_insert_with(AwsSection::default);
    aws.credentials = Some(vec![credential(connection, account, name)]);
    aws.deployment_scope = Some("SINGLE_ACCOUNT".to_owned());
    value
}

/// What a binding does to a configuration's `value.aws.credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Membership {
    /// Exactly one enabled entry for the connection.
    Attach,
    /// No entry for the connection.
    Detach,
}

/// The configuration's value with `membership` applied (`Attach`: exactly one entry whose
/// `connectionId` is `connection`, enabled, for `account`; `Detach`: none), every other entry
/// untouched and in place; `None` when it already is so.
fn edit_credentials(
    value: &ConfigValue,
    membership: Membership,
    connection: &str,
    account: &str,
    description: &str,
) -> Option<ConfigValue> {
    let mut edited = value.clone();
    if membership == Membership::Detach && edited.aws.is_none() {
        return None;
    }
    let aws = edited.aws.get_or_insert_with(AwsSection::default);
    let credentials = aws.credentials.get_or_insert_with(Vec::new);
    let is_ours = |c: &Credential| c.connection_id.as_deref() == Some(connection);
    let positions: Vec<usize> = (0..credentials.len())
        .filter(|&i| is_ours(&credentials[i]))
        .collect();
    match membership {
        Membership::Detach => {
            if positions.is_empty() {
                return None;
            }
            credentials.retain(|c| !is_ours(c));
        }
        Membership::Attach => {
            let satisfied = |c: &Credential| {
                c.enabled == Some(true) && c.account_id.as_deref() == Some(account)
            };
            if let [only] = positions[..]
                && satisfied(&credentials[only])
            {
                return None;
            }
            let mut entry = positions
                .first()
                .map(|&i| credentials[i].clone())
                .unwrap_or_default();
            entry
                .description
                .get_or_insert_with(|| description.to_owned());
            entry.enabled = Some(true);
            entry.connection_id = Some(connection.to_owned());
            entry.account_id = Some(account.to_owned());
            match positions.first() {
                Some(&first) => {
                    credentials[first] = entry;
                    let mut index = 0;
                    credentials.retain(|c| {
                        index += 1;
                        index - 1 == first || !is_ours(c)
                    });
                }
                None => credentials.push(entry),
            }
        }
    }
    Some(edited)
}

/// The connection ids of a configuration's credentials.
fn connections_of(config: &MonitoringConfig) -> Vec<&str> {
    config
        .value
        .aws
        .iter()
        .flat_map(|aws| aws.credentials.iter().flatten())
        .filter_map(|c| c.connection_id.as_deref())
        .collect()
}

/// Where a connection already is, among the environment's configurations.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Paired {
    Nowhere,
    /// In a configuration with no other account's connection: its pair.
    Alone(String),
    /// In a configuration together with `others` other connections.
    Shared {
        id: String,
        others: usize,
    },
}

impl Dynatrace {
    /// Completes a binding of connection `connection`: its configuration per the settings and
    /// the binding it continues (`previous`, its scope). Answers the binding's scope and the
    /// attributes for `Data`.
    pub(super) async fn bind_config(
        &self,
        connection: &str,
        previous: Option<&str>,
    ) -> Result<(BindingScope, BTreeMap<String, String>), VendorError> {
        let previous = BindingScope::parse(previous);
        // A connection is paired with one configuration: leave an earlier release's shared
        // one before the account gets its own.
        if let BindingScope::Shared(shared) = &previous {
            self.leave_shared(shared, connection).await?;
        }
        let mut own = match previous {
            BindingScope::Own(id) => self.ensure_own(&id, connection).await?.then_some(id),
            _ => None,
        };
        if own.is_none()
            && let Some(template) = &self.settings.monitoring_config_id
        {
            own = Some(self.create_own(template, connection).await?);
        }
        if own.is_some() && self.settings.monitoring_config_id.is_none() {
            // Deleting the configuration would delete the connection with it (Dynatrace
            // pairs them), so an emptied MonitoringConfigId keeps the account's configuration.
            tracing::info!(
                connection,
                "MonitoringConfigId is empty; the account keeps its own monitoring configuration (deleting it would delete the connection), until the binding is deleted"
            );
        }
        let data = own
            .iter()
            .map(|id| (ACCOUNT_CONFIG_ATTRIBUTE.to_owned(), id.clone()))
            .collect();
        Ok((own.map_or(BindingScope::Nothing, BindingScope::Own), data))
    }

    /// Undoes a binding's configuration: deletes the account's own (Dynatrace then removes the
    /// connection with it), leaves a shared one, or does nothing.
    pub(super) async fn unbind_config(
        &self,
        connection: &str,
        scope: &BindingScope,
    ) -> Result<Removal, VendorError> {
        match scope {
            BindingScope::Nothing => {
                // Dynatrace keeps a bound role ARN until the connection itself is deleted (it
                // refuses an empty one), so there is nothing to undo here.
                tracing::info!(
                    connection,
                    "no monitoring configuration to delete or leave; the role ARN goes with the connection"
                );
                Ok(Removal::AlreadyGone)
            }
            BindingScope::Own(id) => self.delete_own(id).await,
            BindingScope::Shared(id) => Ok(if self.leave_shared(id, connection).await? {
                Removal::Removed
            } else {
                Removal::AlreadyGone
            }),
        }
    }

    /// Makes sure the account's own configuration `id` names connection `connection`, enabled,
    /// leaving everything else as the user customised it; `false` if it is gone.
    async fn ensure_own(&self, id: &str, connection: &str) -> Result<bool, VendorError> {
        let Some(config) = self.config(id).await? else {
            tracing::warn!(
                config = id,
                "the account's monitoring configuration is gone (deleted out of band?); making it again"
            );
            return Ok(false);
        };
        let edited = edit_credentials(
            &config.value,
            Membership::Attach,
            connection,
            self.desired.identity.account.as_str(),
            &self.name,
        );
        match edited {
            None => Ok(true),
            // Only this stack writes its own configuration: a plain overwrite is safe.
            Some(edited) => self.put_config(id, &edited).await,
        }
    }

    /// Makes the account's own configuration from `template`, or finds the one an earlier
    /// attempt of this binding made; its id.
    async fn create_own(&self, template: &str, connection: &str) -> Result<String, VendorError> {
        match self.paired(connection).await? {
            Paired::Alone(id) => {
                tracing::info!(config = %id, connection, "the connection already has its own monitoring configuration; keeping it");
                self.ensure_own(&id, connection).await?;
                return Ok(id);
            }
            Paired::Shared { id, others } => {
                return Err(self.refused_with(
                    "POST monitoring configuration",
                    409,
                    format!("connection {connection} is already in monitoring configuration {id}, together with {others} other account(s)"),
                ).with_hint(format!(
                    " Dynatrace pairs each AWS connection with one monitoring configuration. Take the account out of {id} (or delete that configuration), or leave MonitoringConfigId empty for this account, then retry."
                )));
            }
            Paired::Nowhere => {}
        }
        let call = "GET monitoring configuration";
        let Some(template_config) = self.config(template).await? else {
            return Err(self
                .refused_with(call, 404, format!("monitoring configuration {template} does not exist"))
                .with_hint(format!(
                    " MonitoringConfigId {template:?} names no monitoring configuration of {EXTENSION} in {}: check the id (Settings > Cloud and virtualization > AWS, or GET {MONITORING_CONFIGS_PATH}).",
                    self.settings.environment_host
                )));
        };
        let scope = template_config
            .scope
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_SCOPE);
        let value = own_value(
            &template_config.value,
            connection,
            self.desired.identity.account.as_str(),
            &self.name,
        );
        let id = self
            .post_own(
                &NewConfig {
                    scope,
                    value: &value,
                },
                connection,
            )
            .await?;
        tracing::info!(config = %id, template, connection, "made the account's own monitoring configuration from the template");
        Ok(id)
    }

    /// POSTs the account's own configuration until it is made, and its id. A POST is sent
    /// again only after looking whether the previous one made the configuration anyway (its
    /// answer lost, or a 5xx after the work was done), so the connection never gets two.
    async fn post_own(
        &self,
        body: &NewConfig<'_>,
        connection: &str,
    ) -> Result<String, VendorError> {
        let call = "POST monitoring configuration";
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
        let mut attempts = 0;
        loop {
            attempts += 1;
            let url = self.api.url(MONITORING_CONFIGS_PATH);
            let last = match self.api.send_once(Method::POST, url, Some(body)).await {
                Ok(answer) if (200..300).contains(&answer.status) => {
                    let created: Created = self.api.read(&answer, call)?;
                    return created
                        .object_id()
                        .filter(|id| !id.is_empty() && !id.contains(':') && !id.contains('~'))
                        .ok_or_else(|| {
                            self.api
                                .unreadable(call, "no usable objectId for the new configuration")
                        });
                }
                Ok(answer) if answer.status == 429 || answer.status >= 500 => {
                    format!("HTTP {}", answer.status)
                }
                Ok(answer) => return Err(self.refused(call, &answer)),
                Err(VendorError::GaveUp(gave_up)) => gave_up.last,
                Err(e) => return Err(e),
            };
            if let Paired::Alone(id) = self.paired(connection).await? {
                tracing::info!(config = %id, attempts, "the POST made the configuration although its answer was lost");
                return Ok(id);
            }
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
            tracing::warn!(vendor = VENDOR, call, attempt = attempts, error = %last, wait_ms = wait.as_millis() as u64, "no configuration made yet; posting again");
            tokio::time::sleep(wait).await;
        }
    }

    /// Which configuration holds connection `connection`, if any.
    async fn paired(&self, connection: &str) -> Result<Paired, VendorError> {
        let call = "GET monitoring configurations";
        let mut url = self.api.url(MONITORING_CONFIGS_PATH);
        url.query_pairs_mut().append_pair("page-size", PAGE_SIZE);
        for _ in 0..MAX_PAGES {
            let answer = self.api.send(Method::GET, url.clone(), None::<&()>).await?;
            if answer.status != 200 {
                return Err(self.refused(call, &answer));
            }
            let page: ConfigPage = self.api.read(&answer, call)?;
            for config in &page.items {
                let connections = connections_of(config);
                if !connections.contains(&connection) {
                    continue;
                }
                let id = config.object_id.clone().ok_or_else(|| {
                    self.api
                        .unreadable(call, "a configuration without objectId")
                })?;
                let others = connections.iter().filter(|c| **c != connection).count();
                return Ok(if others == 0 {
                    Paired::Alone(id)
                } else {
                    Paired::Shared { id, others }
                });
            }
            match page.next_page_key.filter(|k| !k.is_empty()) {
                Some(key) => {
                    url = self.api.url(MONITORING_CONFIGS_PATH);
                    url.query_pairs_mut().append_pair("page-key", &key);
                }
                None => return Ok(Paired::Nowhere),
            }
        }
        Err(self.api.unreadable(
            call,
            &format!("more than {MAX_PAGES} pages of configurations"),
        ))
    }

    /// Deletes the account's own configuration `id`; Dynatrace then removes its connection.
    async fn delete_own(&self, id: &str) -> Result<Removal, VendorError> {
        let call = "DELETE monitoring configuration";
        let url = self.api.object_url(MONITORING_CONFIGS_PATH, id);
        let answer = self.api.send(Method::DELETE, url, None::<&()>).await?;
        match answer.status {
            200 | 204 => {
                tracing::info!(
                    config = id,
                    "deleted the account's monitoring configuration; Dynatrace removes its connection with it"
                );
                Ok(Removal::Removed)
            }
            404 => Ok(Removal::AlreadyGone),
            _ => Err(self.refused(call, &answer)),
        }
    }

    /// Takes connection `connection` out of the shared configuration `id` that an earlier
    /// release joined, against a server that overwrites unconditionally: read right before
    /// each write, write, then after a settle delay read again and repair, until the entry was
    /// seen absent after the last write (or the configuration is gone). Answers whether it
    /// wrote. Another writer can still put the entry back after that check; see
    /// docs/dynatrace-api.md, "Leaving a shared configuration".
    async fn leave_shared(&self, id: &str, connection: &str) -> Result<bool, VendorError> {
        let account = self.desired.identity.account.as_str();
        let mut writes = 0u32;
        loop {
            let Some(config) = self.config(id).await? else {
                // Leaving a configuration that no longer exists leaves nothing behind.
                return Ok(writes > 0);
            };
            let edited = edit_credentials(
                &config.value,
                Membership::Detach,
                connection,
                account,
                &self.name,
            );
            // Every read after the first follows a write and a settle delay: absent then is
            // absent after the last write.
            let Some(edited) = edited else {
                tracing::info!(
                    config = id,
                    connection,
                    writes,
                    "the account is out of the shared monitoring configuration"
                );
                return Ok(writes > 0);
            };
            if writes > 0 {
                tracing::warn!(
                    config = id,
                    connection,
                    writes,
                    "another writer put the account back into the shared monitoring configuration; removing it again"
                );
            }
            if !self.put_config(id, &edited).await? {
                return Ok(writes > 0);
            }
            writes += 1;
            let settle = SETTLE + random_up_to(SETTLE_JITTER);
            if self.api.http().remaining() < settle + ATTEMPT_ALLOWANCE {
                return Err(VendorError::GaveUp(GaveUp {
                    vendor: VENDOR,
                    call: "PUT monitoring configuration".to_owned(),
                    attempts: writes,
                    last: format!(
                        "could not confirm that account {account} stayed out of shared monitoring configuration {id} (other writers kept putting it back)"
                    ),
                    elapsed: Duration::ZERO,
                }));
            }
            self.api.http().report(format!(
                "confirming that the account stays out of shared monitoring configuration {id}"
            ));
            tokio::time::sleep(settle).await;
        }
    }

    /// The configuration `id` as GET returns it, or `None` if it does not exist.
    async fn config(&self, id: &str) -> Result<Option<MonitoringConfig>, VendorError> {
        let call = "GET monitoring configuration";
        let url = self.api.object_url(MONITORING_CONFIGS_PATH, id);
        let answer = self.api.send(Method::GET, url, None::<&()>).await?;
        match answer.status {
            200 => Ok(Some(self.api.read(&answer, call)?)),
            404 => Ok(None),
            _ => Err(self.refused(call, &answer)),
        }
    }

    /// Overwrites configuration `id` with `value` (the documented PUT: no token, no
    /// conflict check); `false` if the configuration is gone.
    async fn put_config(&self, id: &str, value: &ConfigValue) -> Result<bool, VendorError> {
        let call = "PUT monitoring configuration";
        let url = self.api.object_url(MONITORING_CONFIGS_PATH, id);
        let answer = self
            .api
            .send(Method::PUT, url, Some(&Overwrite { value }))
            .await?;
        match answer.status {
            200 | 201 | 204 => Ok(true),
            404 => Ok(false),
            _ => Err(self.refused(call, &answer)),
        }
    }
}

/// The edits on JSON values, as the tests write them.
#[cfg(test)]
mod on_json {
    use super::*;

    pub(super) fn own_value(
        template: &Value,
        connection: &str,
        account: &str,
        name: &str,
    ) -> Result<Value, String> {
        let template: ConfigValue =
            serde_json::from_value(template.clone()).map_err(|e| e.to_string())?;
        let own = super::own_value(&template, connection, account, name);
        Ok(serde_json::to_value(own).unwrap())
    }

    pub(super) fn edit_credentials(
        value: &Value,
        membership: Membership,
        connection: &str,
        account: &str,
        description: &str,
    ) -> Result<Option<Value>, String> {
        let value: ConfigValue =
            serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        let edited = super::edit_credentials(&value, membership, connection, account, description);
        Ok(edited.map(|v| serde_json::to_value(v).unwrap()))
    }

    pub(super) fn connections_of(config: &Value) -> Vec<String> {
        serde_json::from_value::<MonitoringConfig>(config.clone())
            .map(|config| {
                super::connections_of(&config)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::on_json::{connections_of, edit_credentials, own_value};
    use super::*;
    use serde_json::json;

    #[test]
    fn binding_scopes_round_trip_and_read_earlier_releases() {
        for (text, scope) in [
            (None, BindingScope::Nothing),
            (
                Some("own~vu9U3hXa3q0AAAABACVleHQ6Y29t"),
                BindingScope::Own("vu9U3hXa3q0AAAABACVleHQ6Y29t".into()),
            ),
            (
                Some("vu9U3hXa3q0AAAABACVleHQ6Y29t-_="),
                BindingScope::Shared("vu9U3hXa3q0AAAABACVleHQ6Y29t-_=".into()),
            ),
        ] {
            assert_eq!(BindingScope::parse(text), scope, "{text:?}");
            assert_eq!(scope.into_scope().as_deref(), text);
        }
        assert_eq!(
            BindingScope::parse(Some("own~")),
            BindingScope::Shared("own~".into())
        );
    }

    #[test]
    fn the_own_value_is_the_template_with_this_account_alone() {
        let template = json!({"enabled": true, "description": "org template", "featureSets": ["ec2_essential"],
            "aws": {"credentials": [{"connectionId": "B", "enabled": true, "accountId": "222222222222", "description": "b"}],
                    "regionFiltering": ["eu-west-1"], "deploymentScope": "ORGANIZATION"}});
        let value =
            own_value(&template, "A", "111111111111", "registrar-111111111111-x/s").unwrap();
        assert_eq!(value["description"], "registrar-111111111111-x/s");
        assert_eq!(value["featureSets"], json!(["ec2_essential"]));
        assert_eq!(value["aws"]["regionFiltering"], json!(["eu-west-1"]));
        assert_eq!(value["aws"]["deploymentScope"], "SINGLE_ACCOUNT");
        assert_eq!(
            value["aws"]["credentials"],
            json!([{"description": "registrar-111111111111-x/s", "enabled": true, "connectionId": "A", "accountId": "111111111111"}])
        );
        assert!(own_value(&json!([]), "A", "1", "n").is_err());
        assert!(own_value(&json!({"aws": 3}), "A", "1", "n").is_err());
    }

    #[test]
    fn credentials_are_attached_once_and_detached_idempotently() {
        let other = json!({"description": "b", "enabled": true, "connectionId": "B", "accountId": "222222222222"});
        let config = json!({"enabled": true, "aws": {"credentials": [other], "deploymentRegion": "us-east-1"}});
        let attach =
            |v: &Value| edit_credentials(v, Membership::Attach, "A", "111111111111", "reg-A");
        let detach =
            |v: &Value| edit_credentials(v, Membership::Detach, "A", "111111111111", "reg-A");

        let attached = attach(&config).unwrap().unwrap();
        assert_eq!(
            attached["aws"]["credentials"],
            json!([other, {"description": "reg-A", "enabled": true, "connectionId": "A", "accountId": "111111111111"}])
        );
        assert_eq!(attached["aws"]["deploymentRegion"], "us-east-1");
        assert_eq!(
            attach(&attached).unwrap(),
            None,
            "attaching twice changes nothing"
        );

        // A disabled entry and a duplicate become one enabled entry, in the first one's place.
        let messy = json!({"aws": {"credentials": [
            {"description": "kept", "enabled": false, "connectionId": "A"}, other, {"connectionId": "A"}
        ]}});
        let fixed = attach(&messy).unwrap().unwrap();
        assert_eq!(
            fixed["aws"]["credentials"],
            json!([{"description": "kept", "enabled": true, "connectionId": "A", "accountId": "111111111111"}, other])
        );

        let detached = detach(&attached).unwrap().unwrap();
        assert_eq!(detached["aws"]["credentials"], json!([other]));
        assert_eq!(
            detach(&detached).unwrap(),
            None,
            "detaching twice changes nothing"
        );
        assert_eq!(detach(&json!({"enabled": false})).unwrap(), None);
        assert!(attach(&json!({"aws": {"credentials": "x"}})).is_err());
        assert!(attach(&json!([])).is_err());
    }

    #[test]
    fn the_connections_of_a_configuration_are_read_from_its_credentials() {
        let config = json!({"objectId": "c", "value": {"aws": {"credentials": [
            {"connectionId": "A"}, {"enabled": true}, {"connectionId": "B"}]}}});
        assert_eq!(connections_of(&config), vec!["A", "B"]);
        assert!(connections_of(&json!({"value": {}})).is_empty());
    }
}

#[cfg(test)]
mod fuzz {
    use super::on_json::{connections_of, edit_credentials, own_value};
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        #[test]
        fn credential_edits_converge(value in crate::integrations::dynatrace::answers::fuzz::json()) {
            for membership in [Membership::Attach, Membership::Detach] {
                if let Ok(edited) = edit_credentials(&value, membership, "A", "111111111111", "d") {
                    let edited = edited.unwrap_or_else(|| value.clone());
                    prop_assert_eq!(edit_credentials(&edited, membership, "A", "111111111111", "d"), Ok(None));
                    let ours = edited.pointer("/aws/credentials").and_then(Value::as_array).map_or(0, |list| {
                        list.iter().filter(|c| c.get("connectionId") == Some(&json!("A"))).count()
                    });
                    prop_assert_eq!(ours, usize::from(membership == Membership::Attach));
                }
            }
        }

        #[test]
        fn own_values_name_exactly_this_account(value in crate::integrations::dynatrace::answers::fuzz::json()) {
            if let Ok(own) = own_value(&value, "A", "111111111111", "n") {
                let config = json!({"value": own});
                prop_assert_eq!(connections_of(&config), vec!["A"]);
            }
            let _ = connections_of(&value);
        }

        #[test]
        fn scopes_round_trip(text in "[!-~]{1,40}") {
            let scope = BindingScope::parse(Some(&text));
            prop_assert_eq!(BindingScope::parse(scope.clone().into_scope().as_deref()), scope);
        }
    }
}
