//! Datadog: the v2 AWS-integration API (`/api/v2/integration/aws/accounts`).
//!
//! Everything Datadog-specific lives here: the nine sites, the AWS account Datadog assumes
//! roles from (per site and partition), the request bodies, the ownership mark (account tags)
//! and how Datadog's answers map to [`VendorError`].

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
/// Source: Datadog's organisation template (`Mappings.DdAccountIdBySite`) and docs; see
/// `shared/reference/datadog.md` §1.2. `template.yaml` carries the same table, and a test keeps
/// the two equal.
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

use super::{Desired, Owner, Registration, Removal, Vendor, VendorError, VendorKind};
use crate::http::{Answer, VendorHttp};
use crate::props::{Properties, PropertyError, one_of};
use crate::secrets::{SecretError, SecretJson};

/// The tag every registration Registrar makes carries.
const MANAGED_TAG: &str = "managed_by:registrar";
/// The prefix of the tag naming the stack that owns a registration.
const STACK_TAG_PREFIX: &str = "registrar_stack:";
/// The prefix of the tag naming the request that created a registration (set on POST only, so
/// a later PATCH drops it): lets a failed Create's cleanup find exactly what it made.
const REQUEST_TAG_PREFIX: &str = "registrar_request:";
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
            _ => Err(self.refused("GET accounts", &answer)),
        }
    }

    async fn create(&self) -> Result<Registration, VendorError> {
        let answer = self
            .call(Method::POST, self.url(ACCOUNTS_PATH), Some(self.body(true)))
            .await?;
        match answer.status {
            200 | 201 => self.registration(
                self.json(&answer, "POST accounts")?
                    .get("data")
                    .unwrap_or(&Value::Null),
                "POST accounts",
            ),
            409 => Err(VendorError::AlreadyExists { vendor: "Datadog" }),
            _ => Err(self.refused("POST accounts", &answer)),
        }
    }

    async fn update(&self, id: &str) -> Result<Option<Registration>, VendorError> {
        let answer = self
            .call(Method::PATCH, self.account_url(id), Some(self.body(false)))
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
            _ => Err(self.refused("PATCH account", &answer)),
        }
    }

    async fn delete(&self, id: &str) -> Result<Removal, VendorError> {
        let answer = self
            .call(Method::DELETE, self.account_url(id), None)
            .await?;
        match answer.status {
            200 | 202 | 204 => Ok(Removal::Removed),
            _ if is_not_found(&answer) => Ok(Removal::AlreadyGone),
            _ => Err(self.refused("DELETE account", &answer)),
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

    /// The account's desired state, as POST (`creating`) and PATCH send it: the settings
    /// Datadog's own template sends, plus the ownership mark in the account tags.
    fn body(&self, creating: bool) -> Value {
        let account = self.desired.identity.account.as_str();
        let mut tags: Vec<String> = match &self.settings.account_tags {
            Some(tags) => tags.iter().filter(|t| !is_mark(t)).cloned().collect(),
            None => vec![format!("aws_account:{account}")],
        };
        tags.push(MANAGED_TAG.to_owned());
        tags.push(self.stack_tag());
        if creating && !self.desired.request_id.is_empty() {
            tags.push(format!("{REQUEST_TAG_PREFIX}{}", self.desired.request_id));
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

    /// `registrar_stack:<region>/<stack name>`, lower-case as Datadog stores tags.
    fn stack_tag(&self) -> String {
        format!("{STACK_TAG_PREFIX}{}", self.desired.stack).to_ascii_lowercase()
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

    fn refused(&self, call: &str, answer: &Answer) -> VendorError {
        let hint = match answer.status {
            401 | 403 => format!(
                " Check that the api_key and app_key in the secret belong to the Datadog organisation on {} and are not revoked, and that the application key may manage the AWS integration (aws_configuration_read, aws_configurations_manage).",
                self.settings.site.as_str()
            ),
            400 | 422 => " Check the resource's properties (RoleName, AccountTags and the collection settings).".to_owned(),
            _ => String::new(),
        };
        VendorError::Refused {
            vendor: "Datadog",
            call: call.to_owned(),
            status: answer.status,
            message: error_message(&answer.body),
            hint,
        }
    }
}

/// Reads an account config (`data` of a Datadog answer) and judges its owner by the tags:
/// `this_stack_tag` is this stack's `registrar_stack:` tag.
fn read_registration(data: &Value, this_stack_tag: &str) -> Result<Registration, &'static str> {
    let id = data
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or("no account id")?;
    let external_id = data
        .pointer("/attributes/auth_config/external_id")
        .and_then(Value::as_str)
        .ok_or(
            "no auth_config.external_id: is the registration using access keys instead of a role?",
        )?;
    let tags: Vec<&str> = data
        .pointer("/attributes/account_tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let owner = if tags.iter().any(|t| t.eq_ignore_ascii_case(this_stack_tag)) {
        Owner::ThisStack
    } else if let Some(other) = tags.iter().find_map(|t| t.strip_prefix(STACK_TAG_PREFIX)) {
        Owner::OtherStack(other.to_owned())
    } else if tags.iter().any(|t| t.eq_ignore_ascii_case(MANAGED_TAG)) {
        Owner::OtherStack("a Registrar stack that left no name".to_owned())
    } else {
        Owner::Someone
    };
    let created_by = tags
        .iter()
        .find_map(|t| t.strip_prefix(REQUEST_TAG_PREFIX))
        .map(str::to_ascii_lowercase);
    Ok(Registration {
        id: id.to_owned(),
        external_id: external_id.to_owned(),
        owner,
        created_by,
    })
}

fn sensitive(key: &SecretString) -> HeaderValue {
    let mut value = HeaderValue::from_str(key.expose_secret())
        .unwrap_or_else(|_| HeaderValue::from_static("invalid-key"));
    value.set_sensitive(true);
    value
}

fn is_mark(tag: &str) -> bool {
    let tag = tag.to_ascii_lowercase();
    tag == MANAGED_TAG || tag.starts_with(STACK_TAG_PREFIX) || tag.starts_with(REQUEST_TAG_PREFIX)
}

/// "Not found" comes back as 404, or as a 400 whose error says "does not exist" (seen in
/// Datadog's own CloudFormation resource provider).
fn is_not_found(answer: &Answer) -> bool {
    answer.status == 404
        || (answer.status == 400
            && error_message(&answer.body)
                .to_ascii_lowercase()
                .contains("does not exist"))
}

/// The errors of a Datadog error body. The spec says `{"errors": ["…"]}`; recorded v2 answers
/// are JSON:API objects `{"errors": [{"status", "title", "detail"}]}`. Both are read.
fn error_message(body: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        return if text.is_empty() {
            "no error details".to_owned()
        } else {
            text.chars().take(300).collect()
        };
    };
    let errors = json
        .get("errors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let messages: Vec<String> = errors
        .iter()
        .map(|error| match error {
            Value::String(text) => text.clone(),
            Value::Object(fields) => {
                let title = fields
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let detail = fields
                    .get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match (title.is_empty(), detail.is_empty()) {
                    (false, false) => format!("{title}: {detail}"),
                    (false, true) => title.to_owned(),
                    _ => detail.to_owned(),
                }
            }
            other => other.to_string(),
        })
        .filter(|m| !m.is_empty())
        .collect();
    if messages.is_empty() {
        "no error details".to_owned()
    } else {
        messages.join("; ")
    }
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

    #[test]
    fn error_bodies_in_both_shapes_are_read() {
        let recorded = br#"{"errors":[{"status":"409","title":"Account already exists","detail":"AWS account with provided id already exists"}]}"#;
        assert_eq!(
            error_message(recorded),
            "Account already exists: AWS account with provided id already exists"
        );
        assert_eq!(error_message(br#"{"errors":["Forbidden"]}"#), "Forbidden");
        assert_eq!(
            error_message(b"<html>Bad gateway</html>"),
            "<html>Bad gateway</html>"
        );
        assert_eq!(error_message(b""), "no error details");
    }

    #[test]
    fn owners_are_judged_by_the_tags() {
        let config = |tags: &[&str]| json!({"id": "u1", "attributes": {"account_tags": tags, "auth_config": {"external_id": "e1"}}});
        let this = "registrar_stack:us-east-1/stackset-dd-1";
        let owner = |tags: &[&str]| read_registration(&config(tags), this).unwrap().owner;
        assert_eq!(owner(&["managed_by:registrar", this]), Owner::ThisStack);
        assert_eq!(
            owner(&[
                "managed_by:registrar",
                "registrar_stack:eu-west-1/stackset-dd-1"
            ]),
            Owner::OtherStack("eu-west-1/stackset-dd-1".into())
        );
        assert_eq!(owner(&["aws_account:123456789012"]), Owner::Someone);
        let made = read_registration(
            &config(&["managed_by:registrar", this, "registrar_request:req-7"]),
            this,
        )
        .unwrap();
        assert_eq!(made.created_by.as_deref(), Some("req-7"));
        assert_eq!(
            read_registration(&config(&[this]), this)
                .unwrap()
                .created_by,
            None
        );
        assert_eq!(
            read_registration(&json!({"id": "u1", "attributes": {}}), this).unwrap_err(),
            "no auth_config.external_id: is the registration using access keys instead of a role?"
        );
    }

    #[test]
    fn not_found_is_404_or_a_400_that_says_so() {
        let answer = |status, body: &str| Answer {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        };
        assert!(is_not_found(&answer(404, "")));
        assert!(is_not_found(&answer(
            400,
            r#"{"errors":[{"status":"400","title":"Bad Request","detail":"Account 1234 does not exist"}]}"#
        )));
        assert!(!is_not_found(&answer(
            400,
            r#"{"errors":["aws_account_id is required"]}"#
        )));
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
