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
//! - a configuration polls only when `value.enabled` is true, and the organisation blueprint is
//!   created disabled; `…/{id}/status` and `…/statuses` answer the latest status (`OK`,
//!   `PENDING`, `WARNING`, `ERROR`, `UNKNOWN`);
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

mod value;

pub(crate) use self::value::BindingScope;
use self::value::{
    ConfigPage, ConfigStatus, ConfigValue, Created, Membership, MonitoringConfig, NewConfig,
    Overwrite, StatusList, connections_of, edit_credentials, is_enabled, own_repaired, own_value,
};
use super::{ATTEMPT_ALLOWANCE, Dynatrace, EXTENSION, VENDOR};
use crate::backoff::{Backoff, random_up_to};
use crate::http::{Answer, Api, GaveUp};
use crate::integrations::{Removal, VendorError};

pub(super) const MONITORING_CONFIGS_PATH: &str =
    "/platform/extensions/v2/extensions/com.dynatrace.extension.da-aws/monitoring-configurations";
/// The scope the AWS extension's configurations are defined for, if the template has none.
const DEFAULT_SCOPE: &str = "integration-aws";
/// The list's documented maximum page size, and a bound on how many pages are followed.
const PAGE_SIZE: &str = "500";
const MAX_PAGES: usize = 50;
/// How long a shared configuration is left alone before a write to it is checked again, and
/// the jitter added so that concurrent writers do not check in step.
const SETTLE: Duration = Duration::from_millis(1500);
const SETTLE_JITTER: Duration = Duration::from_millis(1000);
/// The `Data` attribute naming the account's own configuration.
pub(super) const ACCOUNT_CONFIG_ATTRIBUTE: &str = "AccountMonitoringConfigId";
/// The `Data` attribute with the configuration's latest status as Dynatrace reports it
/// (`OK`, `PENDING`, `WARNING`, `ERROR`, `UNKNOWN`), read once after the binding.
pub(super) const STATUS_ATTRIBUTE: &str = "MonitoringStatus";
/// The status a healthy configuration reports.
const HEALTHY: &str = "OK";

/// How a connection is paired, as the audit reads it: the binding scope, and why it is not
/// healthy (`None`: its configuration is enabled and reports `OK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pairing {
    pub(crate) scope: BindingScope,
    pub(crate) unhealthy: Option<String>,
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

/// Every monitoring configuration, every page, read-only: for each connection a configuration
/// holds, the binding scope it pairs with (its own configuration, or one shared with other
/// connections) and, from the configurations' latest statuses, why it is not healthy.
/// `refused` reads an answer other than 200.
pub(super) async fn pairings(
    api: &Api,
    refused: impl Fn(&str, &Answer) -> VendorError,
) -> Result<BTreeMap<String, Pairing>, VendorError> {
    let statuses = statuses(api, &refused).await?;
    let mut pairs = BTreeMap::new();
    for config in all_configs(api, &refused).await? {
        let Some(id) = config.object_id.clone() else {
            continue;
        };
        let connections = connections_of(&config);
        let status = statuses.get(&id).map(String::as_str);
        let unhealthy = if !is_enabled(&config) {
            Some(format!("monitoring configuration {id} is disabled"))
        } else {
            match status {
                Some(HEALTHY) => None,
                Some(other) => Some(format!("monitoring configuration {id} reports {other}")),
                None => Some(format!(
                    "monitoring configuration {id} reports no status yet"
                )),
            }
        };
        for connection in &connections {
            let scope = if connections.len() == 1 {
                BindingScope::Own(id.clone())
            } else {
                BindingScope::Shared(id.clone())
            };
            pairs.insert(
                (*connection).to_owned(),
                Pairing {
                    scope,
                    unhealthy: unhealthy.clone(),
                },
            );
        }
    }
    Ok(pairs)
}

/// Every configuration, every page.
async fn all_configs(
    api: &Api,
    refused: &impl Fn(&str, &Answer) -> VendorError,
) -> Result<Vec<MonitoringConfig>, VendorError> {
    let call = "GET monitoring configurations";
    let mut url = api.url(MONITORING_CONFIGS_PATH);
    url.query_pairs_mut().append_pair("page-size", PAGE_SIZE);
    let mut configs = Vec::new();
    for _ in 0..MAX_PAGES {
        let answer = api.send(Method::GET, url.clone(), None::<&()>).await?;
        if answer.status != 200 {
            return Err(refused(call, &answer));
        }
        let page: ConfigPage = api.read(&answer, call)?;
        configs.extend(page.items);
        match page.next_page_key.filter(|k| !k.is_empty()) {
            Some(key) => {
                url = api.url(MONITORING_CONFIGS_PATH);
                url.query_pairs_mut().append_pair("page-key", &key);
            }
            None => return Ok(configs),
        }
    }
    Err(api.unreadable(
        call,
        &format!("more than {MAX_PAGES} pages of configurations"),
    ))
}

/// The latest status of every configuration, by configuration id
/// (`GET …/monitoring-configurations/statuses`).
async fn statuses(
    api: &Api,
    refused: &impl Fn(&str, &Answer) -> VendorError,
) -> Result<BTreeMap<String, String>, VendorError> {
    let call = "GET monitoring configuration statuses";
    let url = api.url(&format!("{MONITORING_CONFIGS_PATH}/statuses"));
    let answer = api.send(Method::GET, url, None::<&()>).await?;
    if answer.status != 200 {
        return Err(refused(call, &answer));
    }
    let list: StatusList = api.read(&answer, call)?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|item| Some((item.configuration_id?, item.status?)))
        .collect())
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
        let mut data = BTreeMap::new();
        if let Some(id) = &own {
            data.insert(ACCOUNT_CONFIG_ATTRIBUTE.to_owned(), id.clone());
            data.insert(STATUS_ATTRIBUTE.to_owned(), self.status(id).await);
        }
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
            BindingScope::Own(id) => {
                // The configuration goes, and Dynatrace removes its connection with it: only
                // when the token can see that connection is its removal this binding's to
                // start. A 404 with the configuration still there means the connection may be
                // another user's (owner-based access control), or gone by hand.
                if !self.sees_connection(connection).await? && self.config(id).await?.is_some() {
                    return Err(self.paired_but_hidden("GET connection", connection, id));
                }
                self.delete_own(id).await
            }
            BindingScope::Shared(id) => Ok(if self.leave_shared(id, connection).await? {
                Removal::Removed
            } else {
                Removal::AlreadyGone
            }),
        }
    }

    /// The latest status of configuration `id`, read once and never failing the binding: a new
    /// configuration reports `PENDING` until Dynatrace has polled the account, and a status
    /// that cannot be read is reported as `UNKNOWN` (the documented word for it) and logged.
    async fn status(&self, id: &str) -> String {
        let call = "GET monitoring configuration status";
        let mut url = self.api.object_url(MONITORING_CONFIGS_PATH, id);
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .push("status");
        let status = match self.api.send_once(Method::GET, url, None::<&()>).await {
            Ok(answer) if answer.status == 200 => {
                match self.api.read::<ConfigStatus>(&answer, call) {
                    Ok(ConfigStatus { status: Some(s) }) if !s.is_empty() => Ok(s),
                    Ok(_) => Err("no status in the answer".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Ok(answer) => Err(self.refused(call, &answer).to_string()),
            Err(e) => Err(e.to_string()),
        };
        match status {
            Ok(status) if status == HEALTHY => {
                tracing::info!(config = id, status, "monitoring configuration status");
                status
            }
            Ok(status) => {
                tracing::warn!(
                    config = id,
                    status,
                    "monitoring configuration status is not OK yet; Dynatrace reports it once it has polled the account (registrar audit shows accounts that stay unhealthy)"
                );
                status
            }
            Err(error) => {
                tracing::warn!(config = id, error = %error, "could not read the monitoring configuration's status; the binding stands");
                "UNKNOWN".to_owned()
            }
        }
    }

    /// Makes sure the account's own configuration `id` is enabled with exactly connection
    /// `connection`, leaving everything else as the user customised it; `false` if it is gone.
    async fn ensure_own(&self, id: &str, connection: &str) -> Result<bool, VendorError> {
        let Some(config) = self.config(id).await? else {
            tracing::warn!(
                config = id,
                "the account's monitoring configuration is gone (deleted out of band?); making it again"
            );
            return Ok(false);
        };
        let edited = own_repaired(
            &config.value,
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

    /// The configuration that names connection `connection`, if any.
    pub(super) async fn pairing_config(
        &self,
        connection: &str,
    ) -> Result<Option<String>, VendorError> {
        Ok(match self.paired(connection).await? {
            Paired::Nowhere => None,
            Paired::Alone(id) | Paired::Shared { id, .. } => Some(id),
        })
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
