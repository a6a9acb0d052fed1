//! A monitoring configuration as the extensions API holds it, and the edits Registrar makes
//! to its value: the account's own configuration made from a template, a connection's
//! credential attached or detached, and the binding's scope that names the configuration.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Marks the scope of a binding whose account has a configuration of its own.
const OWN_PREFIX: &str = "own~";

/// The monitoring configuration a role binding answers for: the scope in its PhysicalResourceId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BindingScope {
    /// None: the connection is bound to its role, no configuration is touched.
    Nothing,
    /// The account's own configuration (`own~<id>`), which the binding's Delete deletes.
    Own(String),
    /// A configuration shared with other accounts that an earlier release joined (its bare id).
    Shared(String),
}

impl BindingScope {
    /// The scope of a binding's PhysicalResourceId (`None`: it has none).
    pub(crate) fn parse(scope: Option<&str>) -> BindingScope {
        match scope {
            None | Some("") => BindingScope::Nothing,
            Some(text) => match text.strip_prefix(OWN_PREFIX) {
                Some(id) if !id.is_empty() => BindingScope::Own(id.to_owned()),
                _ => BindingScope::Shared(text.to_owned()),
            },
        }
    }

    /// The scope to write into the binding's PhysicalResourceId.
    pub(crate) fn into_scope(self) -> Option<String> {
        match self {
            BindingScope::Nothing => None,
            BindingScope::Own(id) => Some(format!("{OWN_PREFIX}{id}")),
            BindingScope::Shared(id) => Some(id),
        }
    }
}

/// A monitoring configuration, as GET and the list answer it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct MonitoringConfig {
    #[serde(rename = "objectId", default)]
    pub(super) object_id: Option<String>,
    #[serde(default)]
    pub(super) scope: Option<String>,
    pub(super) value: ConfigValue,
}

/// A configuration's `value`. Registrar writes the description and, under `aws`, the
/// credentials and the deployment scope; every other field (of the value, of `aws` and of each
/// credential) is kept as it was read: the configuration is the user's to customise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct ConfigValue {
    /// Whether Dynatrace polls with this configuration at all: the organisation blueprint is
    /// documented as created disabled, and enabling is setting it `true` together with the
    /// credentials (docs/dynatrace-api.md, "Monitoring configurations").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
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
pub(super) struct ConfigPage {
    pub(super) items: Vec<MonitoringConfig>,
    #[serde(rename = "next-page-key", alias = "nextPageKey", default)]
    pub(super) next_page_key: Option<String>,
}

/// The body of a POST: the new configuration.
#[derive(Debug, Serialize)]
pub(super) struct NewConfig<'a> {
    pub(super) scope: &'a str,
    pub(super) value: &'a ConfigValue,
}

/// The body of a PUT: the whole value (the documented PUT overwrites).
#[derive(Debug, Serialize)]
pub(super) struct Overwrite<'a> {
    pub(super) value: &'a ConfigValue,
}

/// The answer to a POST: the new object, or a list holding it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Created {
    One(ObjectId),
    Listed(Vec<ObjectId>),
}

#[derive(Debug, Deserialize)]
pub(super) struct ObjectId {
    #[serde(rename = "objectId", default)]
    object_id: Option<String>,
}

impl Created {
    pub(super) fn object_id(self) -> Option<String> {
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

/// The value of the account's own configuration: the template's value, enabled whatever the
/// template says (the blueprint is documented as disabled), with this account's connection as
/// the only credential, `description` (the display name) this stack's connection name, and the
/// single-account deployment scope.
pub(super) fn own_value(
    template: &ConfigValue,
    connection: &str,
    account: &str,
    name: &str,
) -> ConfigValue {
    let mut value = template.clone();
    value.enabled = Some(true);
    value.description = Some(name.to_owned());
    let aws = value.aws.get_or_insert_with(AwsSection::default);
    aws.credentials = Some(vec![credential(connection, account, name)]);
    aws.deployment_scope = Some("SINGLE_ACCOUNT".to_owned());
    value
}

/// What a binding does to a configuration's `value.aws.credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Membership {
    /// Exactly one enabled entry for the connection.
    Attach,
    /// No entry for the connection.
    Detach,
}

/// The configuration's value with `membership` applied (`Attach`: exactly one entry whose
/// `connectionId` is `connection`, enabled, for `account`; `Detach`: none), every other entry
/// untouched and in place; `None` when it already is so.
pub(super) fn edit_credentials(
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

/// The account's own configuration made right, keeping what the user customised: enabled, and
/// exactly one credential, this account's connection, enabled (another account's entry is
/// dropped: a connection is paired with one configuration, and this one is the account's own);
/// `None` when it already is so.
pub(super) fn own_repaired(
    value: &ConfigValue,
    connection: &str,
    account: &str,
    description: &str,
) -> Option<ConfigValue> {
    let mut repaired =
        edit_credentials(value, Membership::Attach, connection, account, description)
            .unwrap_or_else(|| value.clone());
    repaired.enabled = Some(true);
    if let Some(credentials) = repaired
        .aws
        .as_mut()
        .and_then(|aws| aws.credentials.as_mut())
    {
        credentials.retain(|c| c.connection_id.as_deref() == Some(connection));
    }
    (repaired != *value).then_some(repaired)
}

/// Whether the configuration is enabled (`value.enabled`; absent reads as not enabled).
pub(super) fn is_enabled(config: &MonitoringConfig) -> bool {
    config.value.enabled == Some(true)
}

/// The answer of `GET …/monitoring-configurations/{id}/status` (`ExtensionStatus`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ConfigStatus {
    #[serde(default)]
    pub(super) status: Option<String>,
}

/// The answer of `GET …/monitoring-configurations/statuses` (`ExtensionStatusWithIdList`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct StatusList {
    #[serde(default)]
    pub(super) items: Vec<StatusItem>,
}

/// One configuration's latest status (`ExtensionStatusWithId`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct StatusItem {
    #[serde(rename = "configurationId", default)]
    pub(super) configuration_id: Option<String>,
    #[serde(default)]
    pub(super) status: Option<String>,
}

/// The connection ids of a configuration's credentials.
pub(super) fn connections_of(config: &MonitoringConfig) -> Vec<&str> {
    config
        .value
        .aws
        .iter()
        .flat_map(|aws| aws.credentials.iter().flatten())
        .filter_map(|c| c.connection_id.as_deref())
        .collect()
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

    pub(super) fn own_repaired(value: &Value, connection: &str, account: &str) -> Option<Value> {
        let value: ConfigValue = serde_json::from_value(value.clone()).ok()?;
        super::own_repaired(&value, connection, account, "d")
            .map(|v| serde_json::to_value(v).unwrap())
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
        assert_eq!(value["enabled"], true);
        let disabled = json!({"enabled": false, "aws": {"credentials": []}});
        assert_eq!(
            own_value(&disabled, "A", "111111111111", "n").unwrap()["enabled"],
            true,
            "a disabled blueprint makes an enabled configuration"
        );
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
    fn an_own_configuration_is_repaired_to_enabled_with_this_account_alone() {
        use super::on_json::own_repaired;
        let ours = json!({"description": "mine", "enabled": true, "connectionId": "A", "accountId": "111111111111"});
        let good = json!({"enabled": true, "aws": {"credentials": [ours], "regionFiltering": ["eu-west-1"]}});
        assert_eq!(own_repaired(&good, "A", "111111111111"), None);
        let disabled = json!({"enabled": false, "aws": {"credentials": [ours], "regionFiltering": ["eu-west-1"]}});
        assert_eq!(
            own_repaired(&disabled, "A", "111111111111"),
            Some(good.clone())
        );
        let crowded = json!({"aws": {"credentials": [{"connectionId": "B", "enabled": true}, ours], "regionFiltering": ["eu-west-1"]}});
        assert_eq!(own_repaired(&crowded, "A", "111111111111"), Some(good));
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
