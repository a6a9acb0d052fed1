//! Datadog: the v2 AWS-integration API (`/api/v2/integration/aws/accounts`).
//!
//! The parts: the sites and the AWS account Datadog assumes roles from ([`site`]), the
//! account config as the API exchanges it ([`account`]), the calls ([`client`]), the ownership
//! mark in the account tags ([`marks`]), how error answers read ([`answers`]), and the IAM
//! permission lists Datadog publishes for the role ([`permission_lists`]). This file holds the
//! resource's Datadog properties and the [`Integration`] glue.
//!
//! The shapes follow the official client's recorded answers of the real API
//! (DataDog/datadog-api-client-python, `tests/v2/cassettes/test_scenarios/test_aws_integration_*`);
//! `tests/datadog_contract.rs` replays them through this client.

pub mod account;
mod answers;
pub mod auth;
mod client;
pub mod collection;
mod filters;
pub mod marks;
mod overlay;
pub mod permission_lists;
mod regions;
pub mod site;

use crate::BoxFuture;
use crate::http::VendorHttp;
use crate::identity::{Identity, Partition};
use std::collections::BTreeMap;

use crate::integrations::{
    Desired, Integration, Listed, Passed, PermissionLists, Registration, Removal,
    TemplateParameter, VendorError,
};
use crate::props::{Properties, PropertyError, one_of};
use crate::secrets::{SecretError, SecretJson};

pub use auth::Auth;
pub use client::Datadog;
pub use collection::Collection;
pub use site::{Site, principal_account_id};

/// The Datadog properties of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub site: Site,
    /// `AccountTags`; `None` means Datadog's default, `aws_account:<account id>`.
    pub account_tags: Option<Vec<String>>,
    /// `DisableMetricCollection` → `metrics_config.enabled`; like every setting, managed only
    /// when given (`None`: Datadog keeps what it holds; its default is enabled). Datadog's
    /// template, and Registrar's, always give the three switches.
    pub disable_metric_collection: Option<bool>,
    /// `DisableResourceCollection` → `resources_config.extended_collection`; the role gets the
    /// resource-collection permissions unless it is `true`.
    pub disable_resource_collection: Option<bool>,
    /// `CloudSecurityPostureManagement` →
    /// `resources_config.cloud_security_posture_management_collection`.
    pub cloud_security_posture_management: Option<bool>,
    /// Regions, metric filters and options, logs and traces: managed only when given.
    pub collection: Collection,
    /// `AuthType`: a role, or an IAM user's access key.
    pub auth: Auth,
}

/// The names of the managed settings the audit compares ([`Integration::managed_settings`]).
pub(crate) const METRIC_COLLECTION: &str = "metric_collection";
pub(crate) const RESOURCE_COLLECTION: &str = "resource_collection";
pub(crate) const CSPM: &str = "cloud_security_posture_management";

impl Integration for Datadog {
    const NAME: &'static str = "datadog";
    const DISPLAY_NAME: &'static str = "Datadog";
    const SECRET_SHAPE: &'static str = r#"{"api_key": "…", "app_key": "…"}"#;
    /// A second POST for an account answers 409 "Account already exists" (cassette
    /// `test_aws_integration_create_account_config_returns_conflict_response`).
    const DEFAULT_ROLE: &'static str = "DatadogIntegrationRole";
    const PROPERTIES: &'static [&'static str] = &[
        "Site",
        "AccountTags",
        "DisableMetricCollection",
        "DisableResourceCollection",
        "CloudSecurityPostureManagement",
        "AuthType",
        "AccessKeyId",
        "AccessKeySecretArn",
        "Regions",
        "IncludeNamespaces",
        "ExcludeNamespaces",
        "MetricTagFilters",
        "MetricNameFilters",
        "LogSourceTagFilters",
        "AutomuteEnabled",
        "CollectCustomMetrics",
        "CollectCloudWatchAlarms",
        "LogForwarderArns",
        "LogSources",
        "XRayServices",
    ];
    const PARAMETERS: &'static [TemplateParameter] = &[
        TemplateParameter::new("DatadogSite", "Site", Passed::Always),
        TemplateParameter::new("DatadogAutomuteEnabled", "AutomuteEnabled", Passed::Always),
        TemplateParameter::new(
            "DatadogCollectCustomMetrics",
            "CollectCustomMetrics",
            Passed::Always,
        ),
        TemplateParameter::new(
            "DatadogCollectCloudWatchAlarms",
            "CollectCloudWatchAlarms",
            Passed::Always,
        ),
        TemplateParameter::new("DatadogRegions", "Regions", Passed::WhenNotEmpty),
        TemplateParameter::new(
            "DatadogIncludeNamespaces",
            "IncludeNamespaces",
            Passed::WhenNotEmpty,
        ),
        TemplateParameter::new(
            "DatadogExcludeNamespaces",
            "ExcludeNamespaces",
            Passed::WhenNotEmpty,
        ),
        TemplateParameter::new(
            "DatadogMetricTagFilters",
            "MetricTagFilters",
            Passed::WhenNotEmpty,
        ),
        TemplateParameter::new(
            "DatadogLogForwarderArns",
            "LogForwarderArns",
            Passed::WhenNotEmpty,
        ),
        TemplateParameter::new("DatadogLogSources", "LogSources", Passed::WhenNotEmpty),
        TemplateParameter::new("DatadogXRayServices", "XRayServices", Passed::WhenNotEmpty),
        TemplateParameter::new(
            "DatadogMetricNameFilters",
            "MetricNameFilters",
            Passed::WhenNotEmpty,
        ),
        TemplateParameter::new(
            "DatadogLogSourceTagFilters",
            "LogSourceTagFilters",
            Passed::WhenNotEmpty,
        ),
    ];
    const REFUSES_DUPLICATES: bool = true;
    const PERMISSION_LISTS: Option<crate::integrations::FetchPermissionLists<Settings>> =
        Some(fetch_permission_lists);
    type Settings = Settings;

    fn settings(props: &Properties) -> Result<Settings, PropertyError> {
        let site = match props.text("Site")? {
            None => Site::Us1,
            Some(text) => Site::parse(&text).ok_or_else(|| PropertyError::Invalid {
                name: "Site",
                value: text,
                expected: one_of(Site::ALL.iter().map(|s| s.as_str())),
            })?,
        };
        let settings = Settings {
            site,
            account_tags: props.list("AccountTags")?,
            disable_metric_collection: props.optional_flag("DisableMetricCollection")?,
            disable_resource_collection: props.optional_flag("DisableResourceCollection")?,
            cloud_security_posture_management: props
                .optional_flag("CloudSecurityPostureManagement")?,
            collection: Collection::parse(props)?,
            auth: Auth::parse(props)?,
        };
        if settings.cloud_security_posture_management == Some(true)
            && settings.disable_resource_collection == Some(true)
        {
            return Err(PropertyError::Invalid {
                name: "CloudSecurityPostureManagement",
                value: "true".into(),
                expected: "false while DisableResourceCollection is true (Datadog's CSPM needs resource collection)".into(),
            });
        }
        Ok(settings)
    }

    fn check(settings: &Settings, identity: &Identity) -> Result<(), PropertyError> {
        settings.auth.check(identity)?;
        settings.collection.check(identity.partition)
    }

    fn location(settings: &Settings) -> String {
        settings.site.as_str().to_owned()
    }

    fn relocate(settings: Settings, location: &str) -> Option<Settings> {
        Some(Settings {
            site: Site::parse(location)?,
            ..settings
        })
    }

    fn principal_account_id(
        settings: &Settings,
        partition: Partition,
    ) -> Result<String, VendorError> {
        if let Auth::AccessKeys { .. } = settings.auth {
            // Datadog signs in with the user's key: there is no role to trust.
            return Ok(String::new());
        }
        principal_account_id(settings.site, partition).map(str::to_owned).ok_or_else(|| {
            VendorError::Unsupported(match partition {
                Partition::AwsUsGov => format!(
                    "Datadog site {} cannot assume roles in the aws-us-gov partition; GovCloud accounts need Site ddog-gov.com or us2.ddog-gov.com, or AuthType access-keys.",
                    settings.site.as_str()
                ),
                _ => format!("Datadog cannot assume roles in the {partition} partition; set AuthType to access-keys (an IAM user's key kept in a secret in the account)."),
            })
        })
    }

    fn connect(
        settings: Settings,
        keys: &SecretJson,
        desired: Desired,
        http: VendorHttp,
    ) -> Result<Datadog, SecretError> {
        Datadog::new(settings, keys, None, desired, http)
    }

    fn member_secret(settings: &Settings) -> Option<(crate::secrets::SecretRef, &'static str)> {
        match &settings.auth {
            Auth::AccessKeys { secret, .. } => Some((secret.clone(), auth::KEY_SECRET_SHAPE)),
            Auth::Role => None,
        }
    }

    fn connect_with(
        settings: Settings,
        keys: &SecretJson,
        member: Option<&SecretJson>,
        desired: Desired,
        http: VendorHttp,
    ) -> Result<Datadog, SecretError> {
        Datadog::new(settings, keys, member, desired, http)
    }

    async fn find(&self) -> Result<Option<Registration>, VendorError> {
        self.find_account().await
    }

    async fn create(&self) -> Result<Registration, VendorError> {
        self.create_account().await
    }

    async fn update(&self, id: &str) -> Result<Option<Registration>, VendorError> {
        self.update_account(id).await
    }

    async fn delete(&self, id: &str) -> Result<Removal, VendorError> {
        self.delete_account(id).await
    }

    async fn release_claim(&self, id: &str) -> Result<(), VendorError> {
        self.remove_claim(id).await
    }

    /// `AuthType`: how Datadog reaches the account (`role` or `access-keys`).
    fn attributes(&self, _registration: &Registration) -> BTreeMap<String, String> {
        [("AuthType".to_owned(), self.auth_type().to_owned())].into()
    }

    async fn list_all(
        settings: &Settings,
        keys: &SecretJson,
        http: VendorHttp,
    ) -> Result<Vec<Listed>, VendorError> {
        client::list_all_accounts(settings, keys, http).await
    }

    /// What the POST and PATCH bodies set ([`client`]): `metrics_config.enabled`,
    /// `resources_config.extended_collection`,
    /// `resources_config.cloud_security_posture_management_collection`, and the collection
    /// settings the stack manages ([`Collection::managed`]).
    fn managed_settings(settings: &Settings) -> BTreeMap<String, String> {
        [
            (
                METRIC_COLLECTION,
                settings.disable_metric_collection.map(|d| !d),
            ),
            (
                RESOURCE_COLLECTION,
                settings.disable_resource_collection.map(|d| !d),
            ),
            (CSPM, settings.cloud_security_posture_management),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?.to_string())))
        .chain(settings.collection.managed())
        .collect()
    }
}

/// Datadog's permission lists for the role of a resource with these settings.
fn fetch_permission_lists(
    settings: &Settings,
    http: VendorHttp,
) -> BoxFuture<'static, PermissionLists> {
    let (site, resource_collection) = (
        settings.site,
        settings.disable_resource_collection != Some(true),
    );
    Box::pin(permission_lists::fetch(site, resource_collection, http))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn settings_follow_datadogs_defaults_and_rules() {
        let props = |v: Value| Properties::new(v.as_object().unwrap().clone());
        let s = Datadog::settings(&props(json!({}))).unwrap();
        assert_eq!(s.site, Site::Us1);
        // Nothing given: nothing managed (Datadog keeps what it holds).
        assert_eq!(
            (
                s.disable_metric_collection,
                s.disable_resource_collection,
                s.cloud_security_posture_management
            ),
            (None, None, None)
        );
        assert!(Datadog::managed_settings(&s).is_empty());
        assert_eq!(s.account_tags, None);
        let err = Datadog::settings(&props(
            json!({"CloudSecurityPostureManagement": "true", "DisableResourceCollection": "true"}),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("CloudSecurityPostureManagement"));
        let err = Datadog::settings(&props(json!({"Site": "datadoghq.org"})))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Site") && err.contains("us2.ddog-gov.com"),
            "{err}"
        );
    }
}
