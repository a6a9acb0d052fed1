//! The calls of Datadog's v2 AWS-integration API for one account: list, create, update
//! (PATCH), delete, and the PATCH that removes a claim, each answer read as the recordings show
//! it.

use reqwest::Method;
use reqwest::header::HeaderName;
use secrecy::SecretString;

use super::Settings;
use super::account::{
    AccountConfig, Desired as DesiredAccount, Enabled, Listed as ListedConfigs, One, Request,
    ResourcesConfig, RoleAuth, TagsOnly,
};
use super::answers::{error_message, is_not_found, refusal_hint};
use super::marks::{self, claim_tag, is_mark, read_registration, stack_tag};
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
}

impl Datadog {
    /// The client, with the keys from the secret (`api_key`, `app_key`).
    pub(super) fn new(
        settings: Settings,
        keys: &SecretJson,
        desired: Desired,
        http: VendorHttp,
    ) -> Result<Datadog, SecretError> {
        let api = api(&settings, keys, http)?;
        Ok(Datadog {
            settings,
            desired,
            api,
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
        let call = "POST accounts";
        let url = self.api.url(ACCOUNTS_PATH);
        let answer = self.api.send(Method::POST, url, Some(&self.body())).await?;
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
        let call = "PATCH account";
        let url = self.api.object_url(ACCOUNTS_PATH, id);
        let answer = self
            .api
            .send(Method::PATCH, url, Some(&self.body()))
            .await?;
        match answer.status {
            200 | 201 => Ok(Some(
                self.registration(&self.api.read::<One>(&answer, call)?.data, call)?,
            )),
            _ if is_not_found(&answer) => Ok(None),
            _ => Err(self.refused(&Method::PATCH, call, &answer)),
        }
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
    /// template sends, plus the ownership mark (and, when this event takes over an
    /// unconfirmed-Create marker, the claim) in the account tags. A PATCH sends the tags whole,
    /// so it also rewrites the marks of the previous release to this one's.
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
        Request::account(DesiredAccount {
            aws_account_id: account.to_owned(),
            aws_partition: self.desired.identity.partition.as_str(),
            account_tags: tags,
            auth_config: RoleAuth {
                role_name: self.desired.role_name.clone(),
            },
            metrics_config: Enabled {
                enabled: !self.settings.disable_metric_collection,
            },
            resources_config: ResourcesConfig {
                cloud_security_posture_management_collection: self
                    .settings
                    .cloud_security_posture_management,
                extended_collection: !self.settings.disable_resource_collection,
            },
        })
    }

    fn registration(
        &self,
        config: &AccountConfig,
        call: &str,
    ) -> Result<Registration, VendorError> {
        read_registration(config, &stack_tag(&self.desired.stack))
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
                    let _ = read_registration(&config, "registrar_stack:us-east-1/s");
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
