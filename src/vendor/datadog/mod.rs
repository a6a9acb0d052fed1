//! Datadog: the v2 AWS-integration API (`/api/v2/integration/aws/accounts`).
//!
//! Everything Datadog-specific lives here: the nine sites, the AWS account Datadog assumes
//! roles from (per site and partition), the request bodies and how Datadog's answers map to
//! [`VendorError`]. The ownership mark (account tags) is [`marks`], error answers are
//! [`answers`], and the IAM permission lists Datadog publishes for the role are
//! [`permission_lists`].
//!
//! The shapes follow the official client's recorded answers of the real API
//! (DataDog/datadog-api-client-python, `tests/v2/cassettes/test_scenarios/test_aws_integration_*`);
//! `tests/datadog_contract.rs` replays them through this client.

pub mod answers;
pub mod marks;
pub mod permission_lists;

use crate::identity::Partition;

/// A Datadog site (the `DatadogSite` a customer's organisation lives on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Site {
    Us1,
    Us3,
    Us5,
    Eu1,
    Ap1,
    Ap2,
    Uk1,
    Us1Fed,
    Us2Fed,
}

impl Site {
    /// The nine documented sites, in the order of Datadog's own template.
    pub const ALL: [Site; 9] = [
        Site::Us1,
        Site::Eu1,
        Site::Us3,
        Site::Us5,
        Site::Us1Fed,
        Site::Us2Fed,
        Site::Ap1,
        Site::Ap2,
        Site::Uk1,
    ];

    /// The site's domain, as customers write it (`datadoghq.com`, `us3.datadoghq.com`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Site::Us1 => "datadoghq.com",
            Site::Us3 => "us3.datadoghq.com",
            Site::Us5 => "us5.datadoghq.com",
            Site::Eu1 => "datadoghq.eu",
            Site::Ap1 => "ap1.datadoghq.com",
            Site::Ap2 => "ap2.datadoghq.com",
            Site::Uk1 => "uk1.datadoghq.com",
            Site::Us1Fed => "ddog-gov.com",
            Site::Us2Fed => "us2.ddog-gov.com",
        }
    }

    /// Parses a site domain; surrounding whitespace, case and a trailing dot are forgiven.
    pub fn parse(text: &str) -> Option<Site> {
        let text = text.trim().trim_end_matches('.').to_ascii_lowercase();
        Site::ALL.into_iter().find(|site| site.as_str() == text)
    }

    /// The API host for the site (`https://api.<site>`).
    pub fn api_base_url(self) -> String {
        format!("https://api.{}", self.as_str())
    }

    /// Whether the site is one of Datadog's US government sites.
    pub fn is_government(self) -> bool {
        matches!(self, Site::Us1Fed | Site::Us2Fed)
    }
}

/// The AWS account Datadog assumes the integration role from, for a site and the member
/// account's partition. `None` when Datadog cannot reach that partition from that site.
///
/// Source: Datadog's organisation template (DataDog/cloudformation-template,
/// `aws_organizations/main_organizations.yaml`, `Mappings.DdAccountIdBySite`) and Datadog's AWS
/// setup guides. `template.yaml` carries the same table, and a test keeps the two equal.
pub fn principal_account_id(site: Site, partition: Partition) -> Option<&'static str> {
    match (partition, site) {
        (Partition::Aws, Site::Us1 | Site::Us3 | Site::Us5 | Site::Eu1) => Some("464622532012"),
        (Partition::Aws, Site::Ap1) => Some("417141415827"),
        (Partition::Aws, Site::Ap2) => Some("412381753143"),
        (Partition::Aws, Site::Uk1) => Some("117348461845"),
        (Partition::Aws, Site::Us1Fed) => Some("392588925713"),
        (Partition::Aws, Site::Us2Fed) => Some("382742775718"),
        (Partition::AwsUsGov, Site::Us1Fed) => Some("065115117704"),
        (Partition::AwsUsGov, Site::Us2Fed) => Some("486737091498"),
        // Datadog's commercial sites cannot assume roles in GovCloud, and no site serves China.
        (Partition::AwsUsGov, _) | (Partition::AwsCn, _) => None,
    }
}

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use self::answers::{error_message, is_not_found, refusal_hint};
use self::marks::{claim_tag, is_mark, read_registration, stack_tag};
use super::{Desired, Owner, Registration, Removal, Vendor, VendorError, VendorKind};
use crate::http::{Answer, VendorHttp};
use crate::props::{Properties, PropertyError, one_of};
use crate::secrets::{SecretError, SecretJson};

const ACCOUNTS_PATH: &str = "/api/v2/integration/aws/accounts";

/// The Datadog properties of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub site: Site,
    /// `AccountTags`; `None` means Datadog's default, `aws_account:<account id>`.
    pub account_tags: Option<Vec<String>>,
    pub disable_metric_collection: bool,
    pub disable_resource_collection: bool,
    pub cloud_security_posture_management: bool,
}

/// The Datadog v2 API, for one account.
pub struct Datadog {
    settings: Settings,
    desired: Desired,
    http: VendorHttp,
    base: String,
    api_key: SecretString,
    app_key: SecretString,
}

impl Vendor for Datadog {
    const KIND: VendorKind = VendorKind::Datadog;
    const SECRET_SHAPE: &'static str = r#"{"api_key": "…", "app_key": "…"}"#;
    /// A second POST for an account answers 409 "Account already exists" (cassette
    /// `test_aws_integration_create_account_config_returns_conflict_response`).
    const REFUSES_DUPLICATES: bool = true;
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
            disable_metric_collection: props.flag("DisableMetricCollection", false)?,
            disable_resource_collection: props.flag("DisableResourceCollection", false)?,
            cloud_security_posture_management: props
                .flag("CloudSecurityPostureManagement", false)?,
        };
        if settings.cloud_security_posture_management && settings.disable_resource_collection {
            return Err(PropertyError::Invalid {
                name: "CloudSecurityPostureManagement",
                value: "true".into(),
                expected: "false while DisableResourceCollection is true (Datadog's CSPM needs resource collection)".into(),
            });
        }
        Ok(settings)
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
        principal_account_id(settings.site, partition).map(str::to_owned).ok_or_else(|| {
            VendorError::Unsupported(match partition {
                Partition::AwsUsGov => format!(
                    "Datadog site {} cannot monitor accounts in the aws-us-gov partition; GovCloud accounts need Site ddog-gov.com or us2.ddog-gov.com.",
                    settings.site.as_str()
                ),
                _ => format!("Datadog does not support AWS accounts in the {partition} partition."),
            })
        })
    }

    fn connect(
        settings: Settings,
        secret: &SecretJson,
        desired: Desired,
        http: VendorHttp,
        endpoint: Option<&Url>,
    ) -> Result<Datadog, SecretError> {
        let base = endpoint
            .map(|url| url.as_str().to_owned())
            .unwrap_or_else(|| settings.site.api_base_url());
        Ok(Datadog {
            api_key: secret.field("api_key", Self::SECRET_SHAPE)?,
            app_key: secret.field("app_key", Self::SECRET_SHAPE)?,
            base: base.trim_end_matches('/').to_owned(),
            settings,
            desired,
            http,
        })
    }

    async fn find(&self) -> Result<Option<Registration>, VendorError> {
        let mut url = self.url(ACCOUNTS_PATH);
        url.query_pairs_mut()
            .append_pair("aws_account_id", self.desired.identity.account.as_str());
        let answer = self.call(Method::GET, url, None).await?;
        match answer.status {
            200 => {
                let body = self.json(&answer, "GET accounts")?;
                let listed = body
                    .get("data")
                    .and_then(Value::as_array)
                    .ok_or_else(|| self.unreadable("GET accounts", "no data list"))?;
                let mut registrations = listed
                    .iter()
                    .filter(|item| {
                        item.pointer("/attributes/aws_account_id")
                            .and_then(Value::as_str)
                            == Some(self.desired.identity.account.as_str())
                    })
                    .map(|item| self.registration(item, "GET accounts"))
                    .collect::<Result<Vec<_>, _>>()?;
                // Prefer this stack's own registration if several are listed.
                registrations.sort_by_key(|r| r.owner != Owner::ThisStack);
                Ok(registrations.into_iter().next())
            }
            _ if is_not_found(&answer) => Ok(None),
            _ => Err(self.refused(&Method::GET, "GET accounts", &answer)),
        }
    }

    async fn create(&self) -> Result<Registration, VendorError> {
        let answer = self
            .call(Method::POST, self.url(ACCOUNTS_PATH), Some(self.body()))
            .await?;
        match answer.status {
            200 | 201 => self.registration(
                self.json(&answer, "POST accounts")?
                    .get("data")
                    .unwrap_or(&Value::Null),
                "POST accounts",
            ),
            409 => Err(VendorError::AlreadyExists { vendor: "Datadog" }),
            _ => Err(self.refused(&Method::POST, "POST accounts", &answer)),
        }
    }

    async fn update(&self, id: &str) -> Result<Option<Registration>, VendorError> {
        let answer = self
            .call(Method::PATCH, self.account_url(id), Some(self.body()))
            .await?;
        match answer.status {
            200 | 201 => Ok(Some(
                self.registration(
                    self.json(&answer, "PATCH account")?
                        .get("data")
                        .unwrap_or(&Value::Null),
                    "PATCH account",
                )?,
            )),
            _ if is_not_found(&answer) => Ok(None),
            _ => Err(self.refused(&Method::PATCH, "PATCH account", &answer)),
        }
    }

    async fn delete(&self, id: &str) -> Result<Removal, VendorError> {
        let answer = self
            .call(Method::DELETE, self.account_url(id), None)
            .await?;
        match answer.status {
            200 | 202 | 204 => Ok(Removal::Removed),
            _ if is_not_found(&answer) => Ok(Removal::AlreadyGone),
            _ => Err(self.refused(&Method::DELETE, "DELETE account", &answer)),
        }
    }

    /// GETs the account config and PATCHes its tags without the claim, keeping every other tag
    /// and setting: a PATCH leaves out what it does not name (the recorded PATCH in cassette
    /// `test_aws_integration_patch_account_config_returns_aws_account_object_response` omits
    /// `aws_regions` and `namespace_filters`, and the answer still has them).
    async fn release_claim(&self, id: &str) -> Result<(), VendorError> {
        let answer = self.call(Method::GET, self.account_url(id), None).await?;
        let data = match answer.status {
            200 => self.json(&answer, "GET account")?,
            _ if is_not_found(&answer) => return Ok(()),
            _ => return Err(self.refused(&Method::GET, "GET account", &answer)),
        };
        let data = data.get("data").unwrap_or(&Value::Null);
        let tags = marks::tags(data);
        let kept: Vec<&str> = tags
            .iter()
            .copied()
            .filter(|t| !t.to_ascii_lowercase().starts_with(marks::CLAIM_TAG_PREFIX))
            .collect();
        if kept.len() == tags.len() {
            return Ok(());
        }
        let body = json!({"data": {"type": "account", "attributes": {
            "aws_account_id": self.desired.identity.account.as_str(),
            "account_tags": kept,
        }}});
        let answer = self
            .call(Method::PATCH, self.account_url(id), Some(body))
            .await?;
        match answer.status {
            200 | 201 => Ok(()),
            _ if is_not_found(&answer) => Ok(()),
            _ => Err(self.refused(&Method::PATCH, "PATCH account", &answer)),
        }
    }
}

impl Datadog {
    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.base)).expect("the base URL was validated")
    }

    fn account_url(&self, id: &str) -> Url {
        let mut url = self.url(ACCOUNTS_PATH);
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .push(id);
        url
    }

    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Value>,
    ) -> Result<Answer, VendorError> {
        let body = body.map(|b| serde_json::to_vec(&b).expect("a JSON value serializes"));
        let api_key = sensitive(&self.api_key);
        let app_key = sensitive(&self.app_key);
        Ok(self
            .http
            .send(method, url, |request| {
                let request = request
                    .header("DD-API-KEY", api_key.clone())
                    .header("DD-APPLICATION-KEY", app_key.clone())
                    .header(ACCEPT, "application/json");
                match &body {
                    Some(body) => request
                        .header(CONTENT_TYPE, "application/json")
                        .body(body.clone()),
                    None => request,
                }
            })
            .await?)
    }

    /// The account's desired state, as POST and PATCH send it: the settings Datadog's own
    /// template sends, plus the ownership mark (and, when this event takes over an
    /// unconfirmed-Create marker, the claim) in the account tags. A PATCH sends the tags whole,
    /// so it also rewrites the marks of the previous release to this one's.
    fn body(&self) -> Value {
        let account = self.desired.identity.account.as_str();
        let mut tags: Vec<String> = match &self.settings.account_tags {
            Some(tags) => tags.iter().filter(|t| !is_mark(t)).cloned().collect(),
            None => vec![format!("aws_account:{account}")],
        };
        tags.push(self.stack_tag());
        if let Some(request) = self.desired.claims.as_deref().filter(|r| !r.is_empty()) {
            tags.push(claim_tag(request));
        }
        json!({
            "data": {
                "type": "account",
                "attributes": {
                    "aws_account_id": account,
                    "aws_partition": self.desired.identity.partition.as_str(),
                    "account_tags": tags,
                    "auth_config": {"role_name": self.desired.role_name},
                    "metrics_config": {"enabled": !self.settings.disable_metric_collection},
                    "resources_config": {
                        "cloud_security_posture_management_collection": self.settings.cloud_security_posture_management,
                        "extended_collection": !self.settings.disable_resource_collection
                    }
                }
            }
        })
    }

    /// `registrar_stack:<region>/<stack name>`.
    fn stack_tag(&self) -> String {
        stack_tag(&self.desired.stack)
    }

    fn registration(&self, data: &Value, call: &str) -> Result<Registration, VendorError> {
        read_registration(data, &self.stack_tag()).map_err(|detail| self.unreadable(call, detail))
    }

    fn json(&self, answer: &Answer, call: &str) -> Result<Value, VendorError> {
        serde_json::from_slice(&answer.body).map_err(|_| self.unreadable(call, "not JSON"))
    }

    fn unreadable(&self, call: &str, detail: &str) -> VendorError {
        VendorError::Unreadable {
            vendor: "Datadog",
            call: call.to_owned(),
            detail: detail.to_owned(),
        }
    }

    fn refused(&self, method: &Method, call: &str, answer: &Answer) -> VendorError {
        VendorError::Refused {
            vendor: "Datadog",
            call: call.to_owned(),
            status: answer.status,
            message: error_message(&answer.body),
            hint: refusal_hint(method, answer.status, self.settings.site),
        }
    }
}

fn sensitive(key: &SecretString) -> HeaderValue {
    let mut value = HeaderValue::from_str(key.expose_secret())
        .unwrap_or_else(|_| HeaderValue::from_static("invalid-key"));
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_parse_leniently_and_round_trip() {
        for site in Site::ALL {
            assert_eq!(Site::parse(site.as_str()), Some(site));
        }
        assert_eq!(Site::parse(" DatadogHQ.EU. "), Some(Site::Eu1));
        assert_eq!(Site::parse("datadoghq.co"), None);
        assert_eq!(Site::Us3.api_base_url(), "https://api.us3.datadoghq.com");
    }

    #[test]
    fn government_sites_serve_govcloud_and_commercial_sites_do_not() {
        for site in Site::ALL {
            assert!(principal_account_id(site, Partition::Aws).is_some());
            assert_eq!(
                principal_account_id(site, Partition::AwsUsGov).is_some(),
                site.is_government()
            );
            assert_eq!(principal_account_id(site, Partition::AwsCn), None);
        }
        assert_eq!(
            principal_account_id(Site::Us1Fed, Partition::AwsUsGov),
            Some("065115117704")
        );
    }

    fn client(account_tags: Option<Vec<String>>, claims: Option<&str>) -> Datadog {
        use crate::identity::{AccountId, Identity};
        let secret = SecretJson::parse(
            "arn:x",
            SecretString::from(r#"{"api_key": "a", "app_key": "b"}"#.to_owned()),
            Datadog::SECRET_SHAPE,
        )
        .unwrap();
        let settings = Settings {
            site: Site::Us1,
            account_tags,
            disable_metric_collection: false,
            disable_resource_collection: false,
            cloud_security_posture_management: false,
        };
        let desired = Desired {
            identity: Identity {
                account: AccountId::parse("123456789012").unwrap(),
                partition: Partition::Aws,
            },
            role_name: "DatadogIntegrationRole".into(),
            stack: crate::vendor::StackMark {
                region: "eu-west-1".into(),
                stack_name: "StackSet-Registrar-ABC".into(),
            },
            request_id: "req-9".into(),
            claims: claims.map(str::to_owned),
        };
        let http = VendorHttp::new(
            reqwest::Client::new(),
            "Datadog",
            tokio::time::Instant::now(),
            Default::default(),
        );
        Datadog::connect(settings, &secret, desired, http, None).unwrap()
    }

    fn sent_tags(client: &Datadog) -> Vec<String> {
        serde_json::from_value(client.body()["data"]["attributes"]["account_tags"].clone()).unwrap()
    }

    #[tokio::test]
    async fn a_registration_carries_one_stable_mark_and_no_request_level_tag() {
        assert_eq!(
            sent_tags(&client(None, None)),
            [
                "aws_account:123456789012",
                "registrar_stack:eu-west-1/stackset-registrar-abc"
            ]
        );
        // The customer's tags are kept, marks of either release in them are not.
        let tags = vec![
            "team:platform".to_owned(),
            "managed_by:registrar".to_owned(),
            "registrar_request:old".to_owned(),
            "registrar_stack:elsewhere/x".to_owned(),
        ];
        assert_eq!(
            sent_tags(&client(Some(tags), None)),
            [
                "team:platform",
                "registrar_stack:eu-west-1/stackset-registrar-abc"
            ]
        );
        // Taking over an unconfirmed Create's marker adds the transient claim.
        assert_eq!(
            sent_tags(&client(None, Some("req-0"))),
            [
                "aws_account:123456789012",
                "registrar_stack:eu-west-1/stackset-registrar-abc",
                "registrar_claims:req-0"
            ]
        );
    }

    #[test]
    fn settings_follow_datadogs_defaults_and_rules() {
        let props = |v: Value| Properties::new(v.as_object().unwrap().clone());
        let s = Datadog::settings(&props(json!({}))).unwrap();
        assert_eq!(s.site, Site::Us1);
        assert!(
            !s.disable_metric_collection
                && !s.disable_resource_collection
                && !s.cloud_security_posture_management
        );
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

#[cfg(test)]
mod fuzz {
    //! Any answer body: reading errors and registrations never panics.

    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_error_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..400), status in 100u16..600) {
            let message = error_message(&body);
            prop_assert!(!message.is_empty());
            let _ = is_not_found(&Answer { status, headers: Default::default(), body });
        }

        #[test]
        fn arbitrary_account_configs_never_panic(id in prop::option::of(".{0,20}"), external in prop::option::of(".{0,20}"), tags in prop::collection::vec(".{0,30}", 0..5)) {
            let mut data = json!({"type": "account", "attributes": {"account_tags": tags, "auth_config": {}}});
            if let Some(id) = id { data["id"] = json!(id); }
            if let Some(external) = external { data["attributes"]["auth_config"]["external_id"] = json!(external); }
            let _ = read_registration(&data, "registrar_stack:us-east-1/s");
            let _ = read_registration(&json!([data]), "registrar_stack:us-east-1/s");
        }

        #[test]
        fn arbitrary_json_error_bodies_never_panic(title in ".{0,30}", detail in ".{0,60}", plain in ".{0,30}") {
            let body = json!({"errors": [{"title": title, "detail": detail}, plain, 7, null]}).to_string();
            prop_assert!(!error_message(body.as_bytes()).is_empty());
        }
    }
}
