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
use std::fmt;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{ATTEMPT_ALLOWANCE, Dynatrace, EXTENSION, VENDOR, WithHint};
use crate::backoff::{Backoff, random_up_to};
use crate::http::GaveUp;
use crate::vendor::{Removal, VendorError};

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
    /// None: the connection is bound to its role, no configuration is touched (`-`).
    Nothing,
    /// The account's own configuration (`own~<id>`), which the binding's Delete deletes.
    Own(String),
    /// A configuration shared with other accounts that an earlier release joined (its bare id).
    Shared(String),
}

impl BindingScope {
    pub(super) fn parse(text: &str) -> BindingScope {
        match text {
            "-" | "" => BindingScope::Nothing,
            _ => match text.strip_prefix(OWN_PREFIX) {
                Some(id) if !id.is_empty() => BindingScope::Own(id.to_owned()),
                _ => BindingScope::Shared(text.to_owned()),
            },
        }
    }
}

impl fmt::Display for BindingScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindingScope::Nothing => f.write_str("-"),
            BindingScope::Own(id) => write!(f, "{OWN_PREFIX}{id}"),
            BindingScope::Shared(id) => f.write_str(id),
        }
    }
}

/// The credential entry naming this account's connection, as Dynatrace's own tooling writes it.
fn credential(connection: &str, account: &str, description: &str) -> Value {
    json!({
        "description": description,
        "enabled": true,
        "connectionId": connection,
        "accountId": account,
    })
}

/// The value of the account's own configuration: the template's value with this account's
/// connection as the only credential, `description` (the display name) this stack's connection
/// name, and the single-account deployment scope.
fn own_value(
    template: &Value,
    connection: &str,
    account: &str,
    name: &str,
) -> Result<Value, &'static str> {
    let mut value = template.clone();
    let object = value
        .as_object_mut()
        .ok_or("the template's value is not an object")?;
    object.insert("description".into(), json!(name));
    let aws = object.entry("aws").or_insert_with(|| json!({}));
    let aws = aws
        .as_object_mut()
        .ok_or("the template's value.aws is not an object")?;
    aws.insert(
        "credentials".into(),
        json!([credential(connection, account, name)]),
    );
    aws.insert("deploymentScope".into(), json!("SINGLE_ACCOUNT"));
    Ok(value)
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
/// untouched and in place; `Ok(None)` when it already is so.
fn edit_credentials(
    value: &Value,
    membership: Membership,
    connection: &str,
    account: &str,
    description: &str,
) -> Result<Option<Value>, &'static str> {
    let mut edited = value.clone();
    let object = edited
        .as_object_mut()
        .ok_or("the configuration's value is not an object")?;
    if membership == Membership::Detach && !object.contains_key("aws") {
        return Ok(None);
    }
    let aws = object.entry("aws").or_insert_with(|| json!({}));
    let aws = aws
        .as_object_mut()
        .ok_or("the configuration's value.aws is not an object")?;
    let credentials = aws.entry("credentials").or_insert_with(|| json!([]));
    if credentials.is_null() {
        *credentials = json!([]);
    }
    let credentials = credentials
        .as_array_mut()
        .ok_or("the configuration's value.aws.credentials is not a list")?;
    let is_ours = |c: &Value| c.get("connectionId").and_then(Value::as_str) == Some(connection);
    let positions: Vec<usize> = (0..credentials.len())
        .filter(|&i| is_ours(&credentials[i]))
        .collect();
    match membership {
        Membership::Detach => {
            if positions.is_empty() {
                return Ok(None);
            }
            credentials.retain(|c| !is_ours(c));
        }
        Membership::Attach => {
            let satisfied = |c: &Value| {
                c.get("enabled") == Some(&Value::Bool(true))
                    && c.get("accountId").and_then(Value::as_str) == Some(account)
            };
            if let [only] = positions[..]
                && satisfied(&credentials[only])
            {
                return Ok(None);
            }
            let mut entry = positions
                .first()
                .and_then(|&i| credentials[i].as_object().cloned())
                .unwrap_or_default();
            entry
                .entry("description")
                .or_insert_with(|| json!(description));
            entry.insert("enabled".into(), json!(true));
            entry.insert("connectionId".into(), json!(connection));
            entry.insert("accountId".into(), json!(account));
            match positions.first() {
                Some(&first) => {
                    credentials[first] = Value::Object(entry);
                    let mut index = 0;
                    credentials.retain(|c| {
                        index += 1;
                        index - 1 == first || !is_ours(c)
                    });
                }
                None => credentials.push(Value::Object(entry)),
            }
        }
    }
    Ok(Some(edited))
}

/// The connection ids of a configuration's credentials.
fn connections_of(config: &Value) -> Vec<&str> {
    config
        .pointer("/value/aws/credentials")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| c.get("connectionId").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
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
        let previous = previous.map(BindingScope::parse);
        // A connection is paired with one configuration: leave an earlier release's shared
        // one before the account gets its own.
        if let Some(BindingScope::Shared(shared)) = &previous {
            self.leave_shared(shared, connection).await?;
        }
        let mut own = match previous {
            Some(BindingScope::Own(id)) => self.ensure_own(&id, connection).await?.then_some(id),
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
        let call = "GET monitoring configuration";
        let value = config
            .get("value")
            .ok_or_else(|| self.unreadable(call, "no value"))?;
        let edited = edit_credentials(
            value,
            Membership::Attach,
            connection,
            self.desired.identity.account.as_str(),
            &self.name,
        )
        .map_err(|why| self.unreadable(call, why))?;
        match edited {
            None => Ok(true),
            // Only this stack writes its own configuration: a plain overwrite is safe.
            Some(edited) => self.put_config(id, edited).await,
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
        let template_value = template_config
            .get("value")
            .ok_or_else(|| self.unreadable(call, "no value"))?;
        let scope = template_config
            .get("scope")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_SCOPE);
        let value = own_value(
            template_value,
            connection,
            self.desired.identity.account.as_str(),
            &self.name,
        )
        .map_err(|why| self.unreadable(call, why))?;
        let body = json!({"scope": scope, "value": value});
        let id = self.post_own(body, connection).await?;
        tracing::info!(config = %id, template, connection, "made the account's own monitoring configuration from the template");
        Ok(id)
    }

    /// POSTs the account's own configuration until it is made, and its id. A POST is sent
    /// again only after looking whether the previous one made the configuration anyway (its
    /// answer lost, or a 5xx after the work was done), so the connection never gets two.
    async fn post_own(&self, body: Value, connection: &str) -> Result<String, VendorError> {
        let call = "POST monitoring configuration";
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
        let mut attempts = 0;
        loop {
            attempts += 1;
            let last = match self
                .call_once(
                    Method::POST,
                    self.url(MONITORING_CONFIGS_PATH),
                    Some(body.clone()),
                )
                .await
            {
                Ok(answer) if (200..300).contains(&answer.status) => {
                    let created = self.json(&answer, call)?;
                    return created
                        .get("objectId")
                        .or_else(|| created.get(0).and_then(|item| item.get("objectId")))
                        .and_then(Value::as_str)
                        .filter(|id| !id.is_empty() && !id.contains(':') && !id.contains('~'))
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            self.unreadable(call, "no usable objectId for the new configuration")
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
            if self.http.remaining() < wait + ATTEMPT_ALLOWANCE {
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
        let mut url = self.url(MONITORING_CONFIGS_PATH);
        url.query_pairs_mut().append_pair("page-size", PAGE_SIZE);
        for _ in 0..MAX_PAGES {
            let answer = self.call(Method::GET, url.clone(), None).await?;
            if answer.status != 200 {
                return Err(self.refused(call, &answer));
            }
            let body = self.json(&answer, call)?;
            let items = body
                .get("items")
                .and_then(Value::as_array)
                .ok_or_else(|| self.unreadable(call, "no items list"))?;
            for config in items {
                let connections = connections_of(config);
                if !connections.contains(&connection) {
                    continue;
                }
                let id = config
                    .get("objectId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.unreadable(call, "a configuration without objectId"))?
                    .to_owned();
                let others = connections.iter().filter(|c| **c != connection).count();
                return Ok(if others == 0 {
                    Paired::Alone(id)
                } else {
                    Paired::Shared { id, others }
                });
            }
            // The documented field is next-page-key; accept the settings API's spelling too.
            let next = ["nextPageKey", "next-page-key"]
                .iter()
                .find_map(|k| body.get(*k).and_then(Value::as_str))
                .filter(|k| !k.is_empty());
            match next {
                Some(key) => {
                    url = self.url(MONITORING_CONFIGS_PATH);
                    url.query_pairs_mut().append_pair("page-key", key);
                }
                None => return Ok(Paired::Nowhere),
            }
        }
        Err(self.unreadable(
            call,
            &format!("more than {MAX_PAGES} pages of configurations"),
        ))
    }

    /// Deletes the account's own configuration `id`; Dynatrace then removes its connection.
    async fn delete_own(&self, id: &str) -> Result<Removal, VendorError> {
        let call = "DELETE monitoring configuration";
        let answer = self
            .call(
                Method::DELETE,
                self.object_url(MONITORING_CONFIGS_PATH, id),
                None,
            )
            .await?;
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
        let call = "GET monitoring configuration";
        let account = self.desired.identity.account.as_str();
        let mut writes = 0u32;
        loop {
            let Some(config) = self.config(id).await? else {
                // Leaving a configuration that no longer exists leaves nothing behind.
                return Ok(writes > 0);
            };
            let value = config
                .get("value")
                .ok_or_else(|| self.unreadable(call, "no value"))?;
            let edited =
                edit_credentials(value, Membership::Detach, connection, account, &self.name)
                    .map_err(|why| self.unreadable(call, why))?;
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
            if !self.put_config(id, edited).await? {
                return Ok(writes > 0);
            }
            writes += 1;
            let settle = SETTLE + random_up_to(SETTLE_JITTER);
            if self.http.remaining() < settle + ATTEMPT_ALLOWANCE {
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
            self.http.report(format!(
                "confirming that the account stays out of shared monitoring configuration {id}"
            ));
            tokio::time::sleep(settle).await;
        }
    }

    /// The configuration `id` as GET returns it, or `None` if it does not exist.
    async fn config(&self, id: &str) -> Result<Option<Value>, VendorError> {
        let call = "GET monitoring configuration";
        let answer = self
            .call(
                Method::GET,
                self.object_url(MONITORING_CONFIGS_PATH, id),
                None,
            )
            .await?;
        match answer.status {
            200 => Ok(Some(self.json(&answer, call)?)),
            404 => Ok(None),
            _ => Err(self.refused(call, &answer)),
        }
    }

    /// Overwrites configuration `id` with `value` (the documented PUT: no token, no
    /// conflict check); `false` if the configuration is gone.
    async fn put_config(&self, id: &str, value: Value) -> Result<bool, VendorError> {
        let call = "PUT monitoring configuration";
        let answer = self
            .call(
                Method::PUT,
                self.object_url(MONITORING_CONFIGS_PATH, id),
                Some(json!({ "value": value })),
            )
            .await?;
        match answer.status {
            200 | 201 | 204 => Ok(true),
            404 => Ok(false),
            _ => Err(self.refused(call, &answer)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_scopes_round_trip_and_read_earlier_releases() {
        for (text, scope) in [
            ("-", BindingScope::Nothing),
            (
                "own~vu9U3hXa3q0AAAABACVleHQ6Y29t",
                BindingScope::Own("vu9U3hXa3q0AAAABACVleHQ6Y29t".into()),
            ),
            (
                "vu9U3hXa3q0AAAABACVleHQ6Y29t-_=",
                BindingScope::Shared("vu9U3hXa3q0AAAABACVleHQ6Y29t-_=".into()),
            ),
        ] {
            assert_eq!(BindingScope::parse(text), scope, "{text}");
            assert_eq!(scope.to_string(), text);
        }
        assert_eq!(
            BindingScope::parse("own~"),
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
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn credential_edits_converge(value in crate::vendor::dynatrace::fuzz::json()) {
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
        fn own_values_name_exactly_this_account(value in crate::vendor::dynatrace::fuzz::json()) {
            if let Ok(own) = own_value(&value, "A", "111111111111", "n") {
                let config = json!({"value": own});
                prop_assert_eq!(connections_of(&config), vec!["A"]);
            }
            let _ = connections_of(&value);
        }

        #[test]
        fn scopes_round_trip(text in "[!-~]{1,40}") {
            let scope = BindingScope::parse(&text);
            prop_assert_eq!(BindingScope::parse(&scope.to_string()), scope);
        }
    }
}
