//! New Relic: the member account's role linked to a New Relic account as an AWS "linked
//! account" through NerdGraph (`cloudLinkAccount`, `cloudUpdateAccount`, `cloudUnlinkAccount`
//! and the linked-accounts query).
//!
//! New Relic's model is the simplest of the three: the role's external id is the New Relic
//! account id (`NewRelicAccountId`, known before anything is registered), so the template
//! creates the role first and the registration links it in one step; New Relic checks the
//! role by assuming it, and answers an error while IAM propagates, which is waited out
//! ([`link`]). The link's name is Registrar's ownership mark. The parts: the NerdGraph
//! operations and their types ([`nerdgraph`]) and the link's lifecycle ([`link`]); this file
//! holds the resource's New Relic properties, the principals and the [`Integration`] glue.
//! Every New Relic fact relied on, with its public source, is in docs/newrelic-api.md.

mod link;
mod nerdgraph;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::HeaderName;
use secrecy::SecretString;

use crate::http::{Api, Dialect, VendorHttp};
use crate::identity::Partition;
use crate::integrations::{Desired, Integration, Listed, Registration, Removal, VendorError};
use crate::props::{Properties, PropertyError};
use crate::secrets::{SecretError, SecretJson};

/// New Relic's AWS account, which the role trusts in the `aws` partition
/// (terraform-provider-newrelic `examples/modules/cloud-integrations/aws/main.tf`).
pub const PRINCIPAL: &str = "754728514883";
/// New Relic's AWS account in GovCloud (`aws-us-gov`)
/// (terraform-provider-newrelic `examples/modules/cloud-integrations/aws-govcloud/main.tf`).
pub const GOVCLOUD_PRINCIPAL: &str = "266471868085";
/// Room kept before the deadline for one more attempt after a wait.
const ATTEMPT_ALLOWANCE: Duration = Duration::from_secs(2);
const VENDOR: &str = "New Relic";

/// Where the New Relic account's data lives: its NerdGraph endpoint
/// (newrelic-client-go `pkg/region/region_constants.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Us,
    Eu,
}

impl Region {
    fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
        }
    }

    /// NerdGraph's host for the region.
    fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.newrelic.com",
            Region::Eu => "https://api.eu.newrelic.com",
        }
    }
}

/// How New Relic collects the account's metrics (`CloudMetricCollectionMode`): by polling the
/// AWS APIs, or from a CloudWatch metric stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pull,
    Push,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Pull => "PULL",
            Mode::Push => "PUSH",
        }
    }
}

/// The New Relic properties of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `NewRelicAccountId`: the New Relic account the AWS account is linked to, and the role's
    /// external id. NerdGraph's `accountId` is a GraphQL `Int` (32 bits, signed).
    pub account_id: u32,
    /// `NewRelicRegion`: US (default) or EU.
    pub region: Region,
    /// `MetricCollectionMode`: PULL (default) or PUSH.
    pub mode: Mode,
}

/// NerdGraph, for one account's link.
pub struct NewRelic {
    settings: Settings,
    desired: Desired,
    api: Api,
    /// This stack's link name (the ownership mark).
    name: String,
    /// The role New Relic assumes.
    role_arn: String,
}

impl Integration for NewRelic {
    const NAME: &'static str = "newrelic";
    const DISPLAY_NAME: &'static str = "New Relic";
    const SECRET_SHAPE: &'static str = r#"{"api_key": "NRAK-…"}"#;
    /// The name New Relic's own examples give the role
    /// (terraform-provider-newrelic `examples/modules/cloud-integrations/aws/main.tf`).
    const DEFAULT_ROLE: &'static str = "NewRelicInfrastructure-Integrations";
    const PROPERTIES: &'static [&'static str] = &[
        "NewRelicAccountId",
        "NewRelicRegion",
        "MetricCollectionMode",
    ];
    type Settings = Settings;

    fn settings(props: &Properties) -> Result<Settings, PropertyError> {
        const EXPECTED: &str =
            "the id of the New Relic account to link to (digits, at most 2147483647)";
        let text = props.required("NewRelicAccountId", EXPECTED)?;
        let account_id = text
            .parse::<u32>()
            .ok()
            .filter(|id| {
                *id > 0 && *id <= i32::MAX as u32 && text.bytes().all(|b| b.is_ascii_digit())
            })
            .ok_or_else(|| PropertyError::Invalid {
                name: "NewRelicAccountId",
                value: text.chars().take(120).collect(),
                expected: EXPECTED.into(),
            })?;
        let region = props.choice(
            "NewRelicRegion",
            &[("US", Region::Us), ("EU", Region::Eu)],
            Region::Us,
        )?;
        let mode = props.choice(
            "MetricCollectionMode",
            &[("PULL", Mode::Pull), ("PUSH", Mode::Push)],
            Mode::Pull,
        )?;
        Ok(Settings {
            account_id,
            region,
            mode,
        })
    }

    fn location(settings: &Settings) -> String {
        format!("{}-{}", settings.region.as_str(), settings.account_id)
    }

    fn relocate(settings: Settings, location: &str) -> Option<Settings> {
        let (region, account) = location.split_once('-')?;
        let region = match region {
            "us" => Region::Us,
            "eu" => Region::Eu,
            _ => return None,
        };
        let account_id = account.parse::<u32>().ok()?;
        (account_id.to_string() == account && account_id > 0 && account_id <= i32::MAX as u32)
            .then_some(Settings {
                account_id,
                region,
                ..settings
            })
    }

    fn principal_account_id(
        _settings: &Settings,
        partition: Partition,
    ) -> Result<String, VendorError> {
        match partition {
            Partition::Aws => Ok(PRINCIPAL.to_owned()),
            Partition::AwsUsGov => Ok(GOVCLOUD_PRINCIPAL.to_owned()),
            Partition::AwsCn => Err(VendorError::Unsupported(
                "New Relic does not monitor AWS accounts in the aws-cn partition (it publishes AWS accounts to trust for aws and aws-us-gov only).".to_owned(),
            )),
        }
    }

    fn connect(
        settings: Settings,
        keys: &SecretJson,
        desired: Desired,
        http: VendorHttp,
    ) -> Result<NewRelic, SecretError> {
        let api = api(&settings, keys, http)?;
        let role_arn = format!(
            "arn:{}:iam::{}:role/{}",
            desired.identity.partition.as_str(),
            desired.identity.account,
            desired.role_name
        );
        Ok(NewRelic {
            name: link::link_name(desired.identity.account.as_str(), &desired.stack),
            role_arn,
            settings,
            desired,
            api,
        })
    }

    async fn find(&self) -> Result<Option<Registration>, VendorError> {
        self.find_link().await
    }

    async fn create(&self) -> Result<Registration, VendorError> {
        self.create_link().await
    }

    async fn update(&self, id: &str) -> Result<Option<Registration>, VendorError> {
        self.update_link(id).await
    }

    async fn delete(&self, id: &str) -> Result<Removal, VendorError> {
        self.delete_link(id).await
    }

    async fn list_all(
        settings: &Settings,
        keys: &SecretJson,
        http: VendorHttp,
    ) -> Result<Vec<Listed>, VendorError> {
        let api = api(settings, keys, http).map_err(|e| VendorError::Unsupported(e.to_string()))?;
        link::list_links(&api, settings).await
    }

    /// The collection mode the link must have.
    fn managed_settings(settings: &Settings) -> BTreeMap<String, String> {
        BTreeMap::from([(
            link::COLLECTION.to_owned(),
            settings.mode.as_str().to_owned(),
        )])
    }
}

/// NerdGraph at the region `settings` name, with the user key from the secret.
fn api(settings: &Settings, keys: &SecretJson, http: VendorHttp) -> Result<Api, SecretError> {
    let key = keys.field("api_key", NewRelic::SECRET_SHAPE)?;
    let authorization: Vec<(HeaderName, SecretString)> =
        vec![(HeaderName::from_static("api-key"), key)];
    Ok(http.api(
        settings.region.base_url(),
        Dialect {
            authorization,
            body_type: "application/json",
            error_message: nerdgraph::error_message,
        },
    ))
}

/// What to check after a refusal with `status`.
fn hint(status: u16) -> String {
    match status {
        401 | 403 | 200 => " Check that the secret's api_key is a New Relic user key (NRAK-…) of a user who may manage the cloud integrations of the New Relic account NewRelicAccountId names, and that NewRelicRegion is the account's region.".to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(value: serde_json::Value) -> Properties {
        Properties::new(value.as_object().unwrap().clone())
    }

    #[test]
    fn settings_name_the_property_and_what_it_accepts() {
        let s = NewRelic::settings(&props(json!({"NewRelicAccountId": "1234567"}))).unwrap();
        assert_eq!(
            s,
            Settings {
                account_id: 1234567,
                region: Region::Us,
                mode: Mode::Pull
            }
        );
        assert_eq!(NewRelic::location(&s), "us-1234567");
        let eu = NewRelic::settings(&props(json!({
            "NewRelicAccountId": "7", "NewRelicRegion": "eu", "MetricCollectionMode": "push"
        })))
        .unwrap();
        assert_eq!((eu.region, eu.mode), (Region::Eu, Mode::Push));
        assert_eq!(eu.region.base_url(), "https://api.eu.newrelic.com");
        for bad in ["", "abc", "-1", "0", "2147483648", "+5", "1 2"] {
            let err = NewRelic::settings(&props(json!({"NewRelicAccountId": bad})))
                .unwrap_err()
                .to_string();
            assert!(err.contains("NewRelicAccountId"), "{bad}: {err}");
        }
        let err = NewRelic::settings(&props(
            json!({"NewRelicAccountId": "1", "NewRelicRegion": "APAC"}),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("NewRelicRegion") && err.contains("EU"),
            "{err}"
        );
        let err = NewRelic::settings(&props(
            json!({"NewRelicAccountId": "1", "MetricCollectionMode": "STREAM"}),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("MetricCollectionMode") && err.contains("PUSH"),
            "{err}"
        );
    }

    #[test]
    fn relocation_reads_back_exactly_what_location_wrote() {
        let s = NewRelic::settings(&props(json!({"NewRelicAccountId": "1"}))).unwrap();
        let moved = NewRelic::relocate(s.clone(), "eu-2147483647").unwrap();
        assert_eq!((moved.region, moved.account_id), (Region::Eu, 2147483647));
        assert_eq!(NewRelic::location(&moved), "eu-2147483647");
        for bad in ["us", "apac-1", "us-01", "us-2147483648", "us-0", "us-x"] {
            assert!(NewRelic::relocate(s.clone(), bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn principals_per_partition() {
        let s = NewRelic::settings(&props(json!({"NewRelicAccountId": "1"}))).unwrap();
        assert_eq!(
            NewRelic::principal_account_id(&s, Partition::Aws).unwrap(),
            PRINCIPAL
        );
        assert_eq!(
            NewRelic::principal_account_id(&s, Partition::AwsUsGov).unwrap(),
            GOVCLOUD_PRINCIPAL
        );
        let err = NewRelic::principal_account_id(&s, Partition::AwsCn).unwrap_err();
        assert!(err.to_string().contains("aws-cn"), "{err}");
    }
}
