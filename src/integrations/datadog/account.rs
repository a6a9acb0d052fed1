//! The account config as Datadog's v2 AWS-integration API exchanges it: the bodies Registrar
//! sends (POST and PATCH) and the `data` of the answers.
//!
//! The shapes are the API's models (DataDog/datadog-api-client-python,
//! `src/datadog_api_client/v2/model/`: `aws_account_create_request*`,
//! `aws_account_update_request*`, `aws_account_response*`, `aws_accounts_response`,
//! `aws_auth_config_role`, `aws_auth_config_keys`) and the recorded answers in
//! `tests/data/datadog/`. Only the fields Registrar uses are named: an answer's other fields
//! are ignored, and a PATCH leaves out what it does not name (see
//! [`super::client`]). What a registration needs from an answer (an id, an external id) is
//! checked where it is read ([`super::marks::read_registration`]).

use serde::{Deserialize, Serialize};

/// The type of every account config object.
const ACCOUNT: &str = "account";

/// An answer holding one account config (POST, PATCH, GET of one).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct One {
    pub(crate) data: AccountConfig,
}

/// An answer listing account configs (GET with `aws_account_id`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Listed {
    pub(crate) data: Vec<AccountConfig>,
}

/// An account config as answered (`AWSAccountResponseData`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccountConfig {
    /// Datadog's id for it (a UUID).
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) attributes: Attributes,
}

/// The attributes Registrar reads (`AWSAccountResponseAttributes`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Attributes {
    #[serde(default)]
    pub(crate) aws_account_id: Option<String>,
    /// `null` in the recorded answer to a create sent without tags.
    #[serde(default)]
    pub(crate) account_tags: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) auth_config: Option<AuthConfig>,
    /// Read by the audit only (`AWSAccountResponseAttributes.aws_partition`).
    #[serde(default)]
    pub(crate) aws_partition: Option<String>,
    /// Read by the audit only (`AWSMetricsConfig`).
    #[serde(default)]
    pub(crate) metrics_config: Option<MetricsRead>,
    /// Read by the audit only (`AWSResourcesConfig`).
    #[serde(default)]
    pub(crate) resources_config: Option<ResourcesRead>,
}

/// `AWSMetricsConfig` as answered, the part the audit compares.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct MetricsRead {
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
}

/// `AWSResourcesConfig` as answered, the part the audit compares.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ResourcesRead {
    #[serde(default)]
    pub(crate) cloud_security_posture_management_collection: Option<bool>,
    #[serde(default)]
    pub(crate) extended_collection: Option<bool>,
}

/// How Datadog reaches the account: a role (`AWSAuthConfigRole`: `role_name`, `external_id`)
/// or access keys (`AWSAuthConfigKeys`: `access_key_id`; the secret key is never answered).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct AuthConfig {
    #[serde(default)]
    pub(crate) external_id: Option<String>,
    #[serde(default)]
    pub(crate) role_name: Option<String>,
    #[serde(default)]
    pub(crate) access_key_id: Option<String>,
}

/// A request body: `{"data": {"type": "account", "attributes": …}}`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Request<A> {
    pub(crate) data: RequestData<A>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestData<A> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) attributes: A,
}

impl<A> Request<A> {
    pub(crate) fn account(attributes: A) -> Request<A> {
        Request {
            data: RequestData {
                kind: ACCOUNT,
                attributes,
            },
        }
    }
}

/// The account's desired state, as POST and PATCH send it: the settings Datadog's own
/// template sends, with the account tags carrying Registrar's marks.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Desired {
    pub(crate) aws_account_id: String,
    pub(crate) aws_partition: &'static str,
    pub(crate) account_tags: Vec<String>,
    pub(crate) auth_config: RoleAuth,
    pub(crate) metrics_config: Enabled,
    pub(crate) resources_config: ResourcesConfig,
}

/// `AWSAuthConfigRole` as sent: Datadog generates the external id.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RoleAuth {
    pub(crate) role_name: String,
}

/// `AWSMetricsConfig`, the part Registrar sets.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Enabled {
    pub(crate) enabled: bool,
}

/// `AWSResourcesConfig`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ResourcesConfig {
    pub(crate) cloud_security_posture_management_collection: bool,
    pub(crate) extended_collection: bool,
}

/// A PATCH that rewrites the account tags alone.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TagsOnly {
    pub(crate) aws_account_id: String,
    pub(crate) account_tags: Vec<String>,
}
