//! The calls of Datadog's v2 AWS-integration API for one account: list, create, update
//! (PATCH), delete, and the PATCH that removes a claim, each answer read as the recordings show
//! it.

use reqwest::Method;
use reqwest::header::HeaderName;
use secrecy::SecretString;

use super::Settings;
use super::account::{
    AccountConfig, AuthSent, Desired as DesiredAccount, Held, LambdaForwarder,
    Listed as ListedConfigs, LogSourceConfig, LogsConfig, MetricsConfig, One, Request,
    ResourcesConfig, TagsOnly, TracesConfig,
};
use super::answers::{error_message, is_auth_switch, is_not_found, refusal_hint};
use super::auth::{AccessKey, Auth};
use super::marks::{self, claim_tag, is_mark, stack_tag};
use super::overlay;
use crate::http::{Answer, Api, Dialect, VendorHttp};
use crate::integrations::{
    Desired, Integration, Listed, Owner, Registration, Removal, VendorError,
};
use crate::secrets::{SecretError, SecretJson};

const ACCOUNTS_PATH: &str = "/api/v2/integration/aws/accounts";

/// The Datadog v2 API, for one account.
pub struct Datadog {
    settings: Settings,
    desired: Desired,
    api: Api,
    /// The IAM user's key, for an access-key registration.
    access_key: Option<AccessKey>,
}

impl Datadog {
    /// The client, with the keys from the secret (`api_key`, `app_key`) and, for an access-key
    /// registration, the IAM user's key from the member account's secret.
    pub(super) fn new(
        settings: Settings,
        keys: &SecretJson,
        member: Option<&SecretJson>,
        desired: Desired,
        http: VendorHttp,
    ) -> Result<Datadog, SecretError> {
        let access_key = match (&settings.auth, member) {
            (Auth::Role, _) => None,
            (Auth::AccessKeys { secret, key_id }, Some(member)) => {
                Some(AccessKey::read(member, &secret.arn, key_id.as_deref())?)
            }
            // Removing a registration needs no key: it is not read (see
            // `lifecycle::Connector::connect_to_remove`), and nothing is registered without it.
            (Auth::AccessKeys { .. }, None) => None,
        };
        let api = api(&settings, keys, http)?;
        Ok(Datadog {
            settings,
            desired,
            api,
            access_key,
        })
    }

    /// The account's registration: this stack's first if several are listed.
    pub(super) async fn find_account(&self) -> Result<Option<Registration>, VendorError> {
        let call = "GET accounts";
        let account = self.desired.identity.account.as_str();
        let mut url = self.api.url(ACCOUNTS_PATH);
        url.query_pairs_mut().append_pair("aws_account_id", account);
        let answer = self.api.send(Method::GET, url, None::<&()>).await?;
        match answer.status {
            200 => {
                let listed: ListedConfigs = self.api.read(&answer, call)?;
                let mut registrations = listed
                    .data
                    .iter()
                    .filter(|config| config.attributes.aws_account_id.as_deref() == Some(account))
                    .map(|config| self.registration(config, call))
                    .collect::<Result<Vec<_>, _>>()?;
                registrations.sort_by_key(|r| r.owner != Owner::ThisStack);
                Ok(registrations.into_iter().next())
            }
            _ if is_not_found(&answer) => Ok(None),
            _ => Err(self.refused(&Method::GET, call, &answer)),
        }
    }

    pub(super) async fn create_account(&self) -> Result<Registration, VendorError> {
        self.has_key()?;
        let call = "POST accounts";
        let url = self.api.url(ACCOUNTS_PATH);
        let body = self.body();
        let answer = self.api.send(Method::POST, url, Some(&body)).await?;
        match answer.status {
            200 | 201 => self.registration(&self.api.read::<One>(&answer, call)?.data, call),
            409 => Err(VendorError::AlreadyExists { vendor: "Datadog" }),
            _ => Err(self.refused(&Method::POST, call, &answer)),
        }
    }

    pub(super) async fn update_account(
        &self,
        id: &str,
    ) -> Result<Option<Registration>, VendorError> {
        self.has_key()?;
        let call = "PATCH account";
        let Some(held) = self.held_attributes(id).await? else {
            return Ok(None);
        };
        let body = self.patch_body(&held);
        let url = self.api.object_url(ACCOUNTS_PATH, id);
        let answer = self.api.send(Method::PATCH, url, Some(&body)).await?;
        match answer.status {
            200 | 201 => Ok(Some(
                self.registration(&self.api.read::<One>(&answer, call)?.data, call)?,
            )),
            _ if is_not_found(&answer) => Ok(None),
            400 if is_auth_switch(&answer) => self.replace_account(id).await.map(Some),
            _ => Err(self.refused(&Method::PATCH, call, &answer)),
        }
    }

    /// This stack's registration `id` is of the other auth type (the stack's `AuthType`
    /// changed): Datadog refuses to switch it in place (400 "cannot switch between role and key
    /// based auth", cassette
    /// `test_aws_integration_patch_account_config_returns_bad_request_response`) and holds one
    /// registration per account, so it is deleted and the account registered again, under a
    /// new id. Datadog collects nothing from the account between the two calls.
    async fn replace_account(&self, id: &str) -> Result<Registration, VendorError> {
        tracing::warn!(
            registration = id,
            auth_type = self.auth_type(),
            "Datadog cannot switch a registration between a role and access keys: deleting it and registering the account again (a short gap in monitoring)"
        );
        self.delete_account(id).await?;
        self.create_account().await
    }

    /// An access-key registration is written only with the key in hand.
    fn has_key(&self) -> Result<(), VendorError> {
        match (&self.settings.auth, &self.access_key) {
            (Auth::AccessKeys { .. }, None) => Err(VendorError::Unsupported(
                "Registrar did not read the access key's secret for this step, so it cannot register the account; this is a bug in Registrar.".into(),
            )),
            _ => Ok(()),
        }
    }

    /// `role` or `access-keys`.
    pub(super) fn auth_type(&self) -> &'static str {
        self.settings.auth.as_str()
    }

    pub(super) async fn delete_account(&self, id: &str) -> Result<Removal, VendorError> {
        let url = self.api.object_url(ACCOUNTS_PATH, id);
        let answer = self.api.send(Method::DELETE, url, None::<&()>).await?;
        match answer.status {
            200 | 202 | 204 => Ok(Removal::Removed),
            _ if is_not_found(&answer) => Ok(Removal::AlreadyGone),
            _ => Err(self.refused(&Method::DELETE, "DELETE account", &answer)),
        }
    }

    /// The attributes Datadog holds for account config `id`, as answered (every field, those
    /// Registrar has no type for too); `None` when it is gone.
    async fn held_attributes(
        &self,
        id: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, VendorError> {
        let url = self.api.object_url(ACCOUNTS_PATH, id);
        let answer = self.api.send(Method::GET, url, None::<&()>).await?;
        match answer.status {
            200 => Ok(Some(
                self.api
                    .read::<Held>(&answer, "GET account")?
                    .data
                    .attributes,
            )),
            _ if is_not_found(&answer) => Ok(None),
            _ => Err(self.refused(&Method::GET, "GET account", &answer)),
        }
    }

    /// The PATCH body: [`Self::body`] laid over what Datadog holds ([`overlay`]), so that
    /// settings set in Datadog's console and fields Registrar does not know survive whether the
    /// PATCH merges or replaces the objects it is sent.
    fn patch_body(&self, held: &serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
        let mut body = serde_json::to_value(self.body()).expect("the body serializes");
        if let Some(serde_json::Value::Object(sent)) = body["data"].get_mut("attributes") {
            *sent = overlay::over_held(std::mem::take(sent), held);
        }
        body
    }

    /// GETs the account config and PATCHes its tags without the claim, keeping every other tag
    /// and setting: a PATCH leaves out what it does not name (the recorded PATCH in cassette
    /// `test_aws_integration_patch_account_config_returns_aws_account_object_response` omits
    /// `aws_regions` and `namespace_filters`, and the answer still has them).
    pub(super) async fn remove_claim(&self, id: &str) -> Result<(), VendorError> {
        let url = self.api.object_url(ACCOUNTS_PATH, id);
        let answer = self.api.send(Method::GET, url.clone(), None::<&()>).await?;
        let config = match answer.status {
            200 => self.api.read::<One>(&answer, "GET account")?.data,
            _ if is_not_found(&answer) => return Ok(()),
            _ => return Err(self.refused(&Method::GET, "GET account", &answer)),
        };
        let tags = marks::tags(&config);
        let kept: Vec<String> = tags
            .iter()
            .filter(|t| !t.to_ascii_lowercase().starts_with(marks::CLAIM_TAG_PREFIX))
            .map(|t| (*t).to_owned())
            .collect();
        if kept.len() == tags.len() {
            return Ok(());
        }
        let body = Request::account(TagsOnly {
            aws_account_id: self.desired.identity.account.as_str().to_owned(),
            account_tags: kept,
        });
        let answer = self.api.send(Method::PATCH, url, Some(&body)).await?;
        match answer.status {
            200 | 201 => Ok(()),
            _ if is_not_found(&answer) => Ok(()),
            _ => Err(self.refused(&Method::PATCH, "PATCH account", &answer)),
        }
    }

    /// The account's desired state, as POST and PATCH send it: the settings Datadog's own
    /// template sends, the collection settings the stack manages (see [`super::collection`]),
    /// and the ownership mark (and, when this event takes over an unconfirmed-Create marker,
    /// the claim) in the account tags. A PATCH sends the tags whole, so it also rewrites the
    /// marks of the previous release to this one's; it lays this over what Datadog holds
    /// ([`Self::patch_body`]).
    fn body(&self) -> Request<DesiredAccount> {
        let account = self.desired.identity.account.as_str();
        let mut tags: Vec<String> = match &self.settings.account_tags {
            Some(tags) => tags.iter().filter(|t| !is_mark(t)).cloned().collect(),
            None => vec![format!("aws_account:{account}")],
        };
        tags.push(stack_tag(&self.desired.stack));
        if let Some(request) = self.desired.claims.as_deref().filter(|r| !r.is_empty()) {
            tags.push(claim_tag(request));
        }
        let c = &self.settings.collection;
        let forwarder = LambdaForwarder {
            lambdas: c.log_forwarders.clone(),
            sources: c.log_sources.clone(),
            log_source_config: c
                .log_source_tag_filters
                .clone()
                .map(|tag_filters| LogSourceConfig { tag_filters }),
        };
        let logs_config = (forwarder != LambdaForwarder::default()).then_some(LogsConfig {
            lambda_forwarder: forwarder,
        });
        Request::account(DesiredAccount {
            aws_account_id: account.to_owned(),
            aws_partition: self.desired.identity.partition.as_str(),
            account_tags: tags,
            auth_config: match &self.access_key {
                Some(key) => AuthSent::Keys {
                    access_key_id: key.id.clone(),
                    secret_access_key: key.secret.clone(),
                },
                None => AuthSent::Role {
                    role_name: self.desired.role_name.clone(),
                },
            },
            aws_regions: c.regions.clone(),
            metrics_config: MetricsConfig {
                enabled: self.settings.disable_metric_collection.map(|d| !d),
                automute_enabled: c.automute,
                collect_cloudwatch_alarms: c.cloudwatch_alarms,
                collect_custom_metrics: c.custom_metrics,
                namespace_filters: c.namespaces.clone(),
                tag_filters: c.tag_filters.clone(),
                metric_name_filters: c.metric_name_filters.clone(),
            },
            logs_config,
            resources_config: ResourcesConfig {
                cloud_security_posture_management_collection: self
                    .settings
                    .cloud_security_posture_management,
                extended_collection: self.settings.disable_resource_collection.map(|d| !d),
            },
            traces_config: c
                .xray_services
                .clone()
                .map(|xray_services| TracesConfig { xray_services }),
        })
    }

    fn registration(
        &self,
        config: &AccountConfig,
        call: &str,
    ) -> Result<Registration, VendorError> {
        marks::read_for(
            config,
            &stack_tag(&self.desired.stack),
            matches!(self.settings.auth, Auth::AccessKeys { .. }),
        )
        .map_err(|detail| self.api.unreadable(call, detail))
    }

    fn refused(&self, method: &Method, call: &str, answer: &Answer) -> VendorError {
        let hint = refusal_hint(method, answer.status, self.settings.site);
        self.api.refused(call, answer, hint)
    }
}

/// The v2 API of the site `settings` name, with the keys from the secret (`api_key`, `app_key`).
fn api(settings: &Settings, keys: &SecretJson, http: VendorHttp) -> Result<Api, SecretError> {
    let authorization: Vec<(HeaderName, SecretString)> = vec![
        (
            HeaderName::from_static("dd-api-key"),
            keys.field("api_key", Datadog::SECRET_SHAPE)?,
        ),
        (
            HeaderName::from_static("dd-application-key"),
            keys.field("app_key", Datadog::SECRET_SHAPE)?,
        ),
    ];
    Ok(http.api(
        &settings.site.api_base_url(),
        Dialect {
            authorization,
            body_type: "application/json",
            error_message,
        },
    ))
}

/// Every account config of the organisation, read-only. The list without `aws_account_id`
/// answers all of them at once: the operation has no paging parameters ("If not provided, all
/// accounts are returned": `list_aws_accounts` in DataDog/datadog-api-client-python,
/// `src/datadog_api_client/v2/api/aws_integration_api.py`).
pub(super) async fn list_all_accounts(
    settings: &Settings,
    keys: &SecretJson,
    http: VendorHttp,
) -> Result<Vec<Listed>, VendorError> {
    let call = "GET accounts";
    let api = api(settings, keys, http).map_err(|e| VendorError::Unsupported(e.to_string()))?;
    let answer = api
        .send(Method::GET, api.url(ACCOUNTS_PATH), None::<&()>)
        .await?;
    if answer.status != 200 {
        let hint = refusal_hint(&Method::GET, answer.status, settings.site);
        return Err(api.refused(call, &answer, hint));
    }
    let listed: ListedConfigs = api.read(&answer, call)?;
    Ok(listed.data.iter().filter_map(marks::read_listed).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{AccountId, Identity, Partition};
    use crate::integrations::StackMark;
    use crate::integrations::datadog::Site;

    fn client(account_tags: Option<Vec<String>>, claims: Option<&str>) -> Datadog {
        with_collection(account_tags, claims, Default::default())
    }

    pub(super) fn with_collection(
        account_tags: Option<Vec<String>>,
        claims: Option<&str>,
        collection: crate::integrations::datadog::Collection,
    ) -> Datadog {
        let secret = SecretJson::parse(
            "arn:x",
            SecretString::from(r#"{"api_key": "a", "app_key": "b"}"#.to_owned()),
            Datadog::SECRET_SHAPE,
        )
        .unwrap();
        let settings = Settings {
            site: Site::Us1,
            account_tags,
            disable_metric_collection: Some(false),
            disable_resource_collection: Some(false),
            cloud_security_posture_management: Some(false),
            collection,
            auth: Auth::Role,
        };
        let desired = Desired {
            identity: Identity {
                account: AccountId::parse("123456789012").unwrap(),
                partition: Partition::Aws,
            },
            role_name: "DatadogIntegrationRole".into(),
            stack: StackMark {
                region: "eu-west-1".into(),
                stack_name: "StackSet-Registrar-ABC".into(),
            },
            claims: claims.map(str::to_owned),
        };
        let http = VendorHttp::new(
            reqwest::Client::new(),
            "Datadog",
            tokio::time::Instant::now(),
            Default::default(),
        );
        Datadog::connect(settings, &secret, desired, http).unwrap()
    }

    fn sent_tags(client: &Datadog) -> Vec<String> {
        client.body().data.attributes.account_tags
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

    #[tokio::test]
    async fn the_body_is_the_one_datadogs_template_sends() {
        let body = serde_json::to_value(client(None, None).body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"data": {"type": "account", "attributes": {
                "aws_account_id": "123456789012",
                "aws_partition": "aws",
                "account_tags": ["aws_account:123456789012", "registrar_stack:eu-west-1/stackset-registrar-abc"],
                "auth_config": {"role_name": "DatadogIntegrationRole"},
                "metrics_config": {"enabled": true},
                "resources_config": {"cloud_security_posture_management_collection": false, "extended_collection": true}
            }}})
        );
    }
}

#[cfg(test)]
mod collection_tests {
    //! The collection settings in the body: managed ones sent, unmanaged ones left out; an
    //! Update's body laid over what Datadog holds.

    use super::tests::with_collection;
    use crate::integrations::datadog::Collection;
    use crate::props::Properties;
    use serde_json::json;

    fn collection(props: serde_json::Value) -> Collection {
        Collection::parse(&Properties::new(props.as_object().unwrap().clone())).unwrap()
    }

    #[tokio::test]
    async fn managed_settings_are_sent_in_the_recorded_shapes() {
        let c = collection(json!({
            "Regions": ["eu-west-1"],
            "IncludeNamespaces": ["AWS/EC2", "AWS/Lambda"],
            "MetricTagFilters": ["AWS/EC2:env:prod"],
            "MetricNameFilters": ["AWS/EC2:aws.ec2.network_in", "AWS/RDS:!aws.rds.aurora*"],
            "AutomuteEnabled": "false",
            "CollectCustomMetrics": "true",
            "CollectCloudWatchAlarms": "true",
            "LogForwarderArns": ["arn:aws:lambda:eu-west-1:123456789012:function:fwd"],
            "LogSources": ["s3"],
            "LogSourceTagFilters": ["s3:env:prod"],
            "XRayServices": "all"
        }));
        let body = serde_json::to_value(with_collection(None, None, c).body()).unwrap();
        let a = &body["data"]["attributes"];
        assert_eq!(a["aws_regions"], json!({"include_only": ["eu-west-1"]}));
        assert_eq!(
            a["metrics_config"],
            json!({"enabled": true, "automute_enabled": false, "collect_cloudwatch_alarms": true,
                   "collect_custom_metrics": true,
                   "namespace_filters": {"include_only": ["AWS/EC2", "AWS/Lambda"]},
                   "tag_filters": [{"namespace": "AWS/EC2", "tags": ["env:prod"]}],
                   "metric_name_filters": [{"namespace": "AWS/EC2", "include_only": ["aws.ec2.network_in"]},
                                           {"namespace": "AWS/RDS", "exclude_only": ["aws.rds.aurora*"]}]})
        );
        assert_eq!(
            a["logs_config"],
            json!({"lambda_forwarder": {"lambdas": ["arn:aws:lambda:eu-west-1:123456789012:function:fwd"], "sources": ["s3"],
                   "log_source_config": {"tag_filters": [{"source": "s3", "tags": ["env:prod"]}]}}})
        );
        assert_eq!(
            a["traces_config"],
            json!({"xray_services": {"include_all": true}})
        );
    }

    #[tokio::test]
    async fn unmanaged_settings_are_left_out_and_an_update_keeps_what_datadog_holds() {
        let body = serde_json::to_value(with_collection(None, None, Collection::default()).body())
            .unwrap();
        let a = body["data"]["attributes"].as_object().unwrap();
        for absent in ["aws_regions", "logs_config", "traces_config"] {
            assert!(!a.contains_key(absent), "{absent}");
        }
        assert_eq!(a["metrics_config"], json!({"enabled": true}));

        // An Update of a stack that manages one forwarder key: the console's keys come back.
        let held = json!({
            "auth_config": {"role_name": "DatadogIntegrationRole", "external_id": "e"},
            "metrics_config": {"enabled": true, "automute_enabled": false,
                "metric_name_filters": [{"namespace": "AWS/EC2", "include_only": ["aws.ec2.cpu*"]}]},
            "logs_config": {"lambda_forwarder": {"lambdas": ["arn:aws:lambda:eu-west-1:123456789012:function:ui"],
                "sources": ["elb"], "log_source_config": {"tag_filters": [{"source": "elb", "tags": ["a:b"]}]}}},
            "resources_config": {"extended_collection": true, "cloud_security_posture_management_collection": false},
            "traces_config": {"xray_services": {"include_all": true}}
        });
        let client = with_collection(None, None, collection(json!({"LogSources": ["s3"]})));
        let body = client.patch_body(held.as_object().unwrap());
        let a = &body["data"]["attributes"];
        assert_eq!(
            a["logs_config"],
            json!({"lambda_forwarder": {"lambdas": ["arn:aws:lambda:eu-west-1:123456789012:function:ui"], "sources": ["s3"],
                   "log_source_config": {"tag_filters": [{"source": "elb", "tags": ["a:b"]}]}}})
        );
        assert_eq!(a["metrics_config"], held["metrics_config"]);
        assert_eq!(a["auth_config"], held["auth_config"]);
        assert!(a.get("traces_config").is_none());
    }
}

#[cfg(test)]
mod fuzz {
    //! Any answer body: reading errors and registrations never panics.

    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        #[test]
        fn arbitrary_error_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..400), status in 100u16..600) {
            let message = error_message(&body);
            prop_assert!(!message.is_empty());
            let _ = is_not_found(&Answer { status, body });
        }

        #[test]
        fn arbitrary_account_configs_never_panic(id in prop::option::of(".{0,20}"), external in prop::option::of(".{0,20}"), tags in prop::collection::vec(".{0,30}", 0..5)) {
            let mut data = json!({"type": "account", "attributes": {"account_tags": tags, "auth_config": {}}});
            if let Some(id) = id { data["id"] = json!(id); }
            if let Some(external) = external { data["attributes"]["auth_config"]["external_id"] = json!(external); }
            for value in [data.clone(), json!([data])] {
                if let Ok(config) = serde_json::from_value::<AccountConfig>(value) {
                    let _ = marks::read_registration(&config, "registrar_stack:us-east-1/s");
                }
            }
        }

        #[test]
        fn arbitrary_json_error_bodies_never_panic(title in ".{0,30}", detail in ".{0,60}", plain in ".{0,30}") {
            let body = json!({"errors": [{"title": title, "detail": detail}, plain, 7, null]}).to_string();
            prop_assert!(!error_message(body.as_bytes()).is_empty());
        }
    }
}
