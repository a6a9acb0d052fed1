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
pub struct One {
    pub data: AccountConfig,
}

/// An answer listing account configs (GET with `aws_account_id`).
#[derive(Debug, Clone, Deserialize)]
pub struct Listed {
    pub data: Vec<AccountConfig>,
}

/// An account config as answered (`AWSAccountResponseData`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccountConfig {
    /// Datadog's id for it (a UUID).
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub attributes: Attributes,
}

/// The attributes Registrar reads (`AWSAccountResponseAttributes`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Attributes {
    #[serde(default)]
    pub aws_account_id: Option<String>,
    /// `null` in the recorded answer to a create sent without tags.
    #[serde(default)]
    pub account_tags: Option<Vec<String>>,
    #[serde(default)]
    pub auth_config: Option<AuthConfig>,
}

/// How Datadog reaches the account: a role (`AWSAuthConfigRole`: `role_name`, `external_id`)
/// or access keys (`AWSAuthConfigKeys`: `access_key_id`; the secret key is never answered).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthConfig {
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
}

/// A request body: `{"data": {"type": "account", "attributes": …}}`.
#[derive(Debug, Clone, Serialize)]
pub struct Request<A> {
    pub data: RequestData<A>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestData<A> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub attributes: A,
}

impl<A> Request<A> {
    pub fn account(attributes: A) -> Request<A> {
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
pub struct Desired {
    pub aws_account_id: String,
    pub aws_partition: &'static str,
    pub account_tags: Vec<String>,
    pub auth_config: RoleAuth,
    pub metrics_config: Enabled,
    pub resources_config: ResourcesConfig,
}

/// `AWSAuthConfigRole` as sent: Datadog generates the external id.
#[derive(Debug, Clone, Serialize)]
pub struct RoleAuth {
    pub role_name: String,
}

/// `AWSMetricsConfig`, the part Registrar sets.
#[derive(Debug, Clone, Serialize)]
pub struct Enabled {
    pub enabled: bool,
}

/// `AWSResourcesConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct ResourcesConfig {
    pub cloud_security_posture_management_collection: bool,
    pub extended_collection: bool,
}

/// A PATCH that rewrites the account tags alone.
#[derive(Debug, Clone, Serialize)]
pub struct TagsOnly {
    pub aws_account_id: String,
    pub account_tags: Vec<String>,
}
