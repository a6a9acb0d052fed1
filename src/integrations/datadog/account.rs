//! The account config as Datadog's v2 AWS-integration API exchanges it: the bodies Registrar
//! sends (POST and PATCH) and the `data` of the answers.
//!
//! The shapes are the API's models (DataDog/datadog-api-client-python,
//! `src/datadog_api_client/v2/model/`: `aws_account_create_request*`,
//! `aws_account_update_request*`, `aws_account_response*`, `aws_accounts_response`,
//! `aws_auth_config_role`, `aws_auth_config_keys`) and the recorded answers in
//! `tests/data/datadog/`. Only the fields Registrar uses are named; an Update sends back the
//! rest of each object it touches as Datadog answered it ([`super::overlay`]). What a registration needs from an answer (an id, an external id) is
//! checked where it is read ([`super::marks::read_registration`]).

use serde::{Deserialize, Serialize};

/// The type of every account config object.
const ACCOUNT: &str = "account";

/// An answer holding one account config (POST, PATCH, GET of one).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct One {
    pub(crate) data: AccountConfig,
}

/// An answer holding one account config, its attributes as answered: every field, those
/// Registrar has no type for too (an Update lays its body over them, [`super::overlay`]).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Held {
    pub(crate) data: HeldData,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HeldData {
    #[serde(default)]
    pub(crate) attributes: serde_json::Map<String, serde_json::Value>,
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
    /// Read by the audit only (`AWSLogsConfig`).
    #[serde(default)]
    pub(crate) logs_config: Option<LogsRead>,
    /// Read by the audit only (`AWSAccountResponseAttributes.aws_partition`).
    #[serde(default)]
    pub(crate) aws_partition: Option<String>,
    /// Read by the audit only (`AWSMetricsConfig`).
    #[serde(default)]
    pub(crate) metrics_config: Option<MetricsRead>,
    /// Read by the audit only (`AWSResourcesConfig`).
    #[serde(default)]
    pub(crate) resources_config: Option<ResourcesRead>,
    /// Read by the audit only (`AWSRegions`), as answered: a shape Registrar does not expect
    /// must not make the answer unreadable to the Lambda.
    #[serde(default)]
    pub(crate) aws_regions: Option<serde_json::Value>,
    /// Read by the audit only (`AWSTracesConfig`), as answered.
    #[serde(default)]
    pub(crate) traces_config: Option<serde_json::Value>,
}

/// `logs_config` as answered.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LogsRead {
    #[serde(default)]
    pub(crate) lambda_forwarder: Option<ForwarderRead>,
}

/// `AWSLambdaForwarderConfig` as answered, the part the audit compares.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ForwarderRead {
    #[serde(default)]
    pub(crate) lambdas: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) sources: Option<Vec<String>>,
    /// As answered (see `aws_regions`).
    #[serde(default)]
    pub(crate) log_source_config: Option<serde_json::Value>,
}

/// `AWSMetricsConfig` as answered, the part the audit compares.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct MetricsRead {
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
    #[serde(default)]
    pub(crate) automute_enabled: Option<bool>,
    #[serde(default)]
    pub(crate) collect_cloudwatch_alarms: Option<bool>,
    #[serde(default)]
    pub(crate) collect_custom_metrics: Option<bool>,
    /// As answered (see `aws_regions`).
    #[serde(default)]
    pub(crate) namespace_filters: Option<serde_json::Value>,
    /// As answered (see `aws_regions`).
    #[serde(default)]
    pub(crate) tag_filters: Option<serde_json::Value>,
    /// As answered (see `aws_regions`).
    #[serde(default)]
    pub(crate) metric_name_filters: Option<serde_json::Value>,
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
/// template sends, with the account tags carrying Registrar's marks, and the collection
/// settings the stack manages. A setting left out (`None`) is not sent: a PATCH keeps what
/// Datadog holds (see [`super::client`]), a POST gets Datadog's default.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Desired {
    pub(crate) aws_account_id: String,
    pub(crate) aws_partition: &'static str,
    pub(crate) account_tags: Vec<String>,
    pub(crate) auth_config: AuthSent,
    /// `AWSRegions` (`aws_regions.py`); Datadog's default is `{"include_all": true}`
    /// (recorded answer to a create without it, `create_200`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) aws_regions: Option<Regions>,
    #[serde(skip_serializing_if = "MetricsConfig::is_empty")]
    pub(crate) metrics_config: MetricsConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) logs_config: Option<LogsConfig>,
    #[serde(skip_serializing_if = "ResourcesConfig::is_empty")]
    pub(crate) resources_config: ResourcesConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) traces_config: Option<TracesConfig>,
}

/// `auth_config` as sent: a role (`AWSAuthConfigRole`, `aws_auth_config_role.py`: Datadog
/// generates the external id) or access keys (`AWSAuthConfigKeys`, `aws_auth_config_keys.py`:
/// `access_key_id`, `secret_access_key`). The secret key is serialised only into the request
/// body; its `Debug` is redacted.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum AuthSent {
    Role {
        role_name: String,
    },
    Keys {
        access_key_id: String,
        #[serde(serialize_with = "expose")]
        secret_access_key: secrecy::SecretString,
    },
}

fn expose<S: serde::Serializer>(
    secret: &secrecy::SecretString,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    serializer.serialize_str(secret.expose_secret())
}

/// `AWSRegions`: `AWSRegionsIncludeAll` (`aws_regions_include_all.py`: `include_all`) or
/// `AWSRegionsIncludeOnly` (`aws_regions_include_only.py`: `include_only`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Regions {
    IncludeAll { include_all: bool },
    IncludeOnly { include_only: Vec<String> },
}

/// `AWSMetricsConfig` (`aws_metrics_config.py`): each key only when the stack manages it
/// (Datadog's template always sends `enabled`, and Registrar's template always gives
/// `DisableMetricCollection`). Datadog's defaults, from the model's docstrings: `enabled` true,
/// `automute_enabled` true, `collect_cloudwatch_alarms` false, `collect_custom_metrics` false,
/// `namespace_filters` `exclude_only`, `tag_filters` `[]`; `metric_name_filters` none.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct MetricsConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) automute_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) collect_cloudwatch_alarms: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) collect_custom_metrics: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) namespace_filters: Option<NamespaceFilters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tag_filters: Option<Vec<TagFilter>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) metric_name_filters: Option<Vec<MetricNameFilter>>,
}

/// `AWSMetricNameFilters` (`aws_metric_name_filters.py`): for one namespace, exactly one of
/// `AWSMetricNameFiltersIncludeOnly` (`include_only`) or `AWSMetricNameFiltersExcludeOnly`
/// (`exclude_only`), both with `namespace` and a list of metric-name patterns, both required.
/// Recorded as `{"namespace": "AWS/EC2", "include_only": ["aws.ec2.network_in"]}` and
/// `{"namespace": "AWS/RDS", "exclude_only": ["aws.rds.aurora*"]}` (DataDog/terraform-provider-datadog
/// cassette `TestAccIntegrationAwsAccount_RoleBased`). The model states no default; an account
/// created without it answers none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetricNameFilter {
    IncludeOnly {
        namespace: String,
        include_only: Vec<String>,
    },
    ExcludeOnly {
        namespace: String,
        exclude_only: Vec<String>,
    },
}

impl MetricNameFilter {
    pub(crate) fn namespace(&self) -> &str {
        match self {
            MetricNameFilter::IncludeOnly { namespace, .. }
            | MetricNameFilter::ExcludeOnly { namespace, .. } => namespace,
        }
    }
}

/// `AWSNamespaceFilters`: `AWSNamespaceFiltersExcludeOnly` (`exclude_only`) or
/// `AWSNamespaceFiltersIncludeOnly` (`include_only`) (`aws_namespace_filters_*.py`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NamespaceFilters {
    ExcludeOnly { exclude_only: Vec<String> },
    IncludeOnly { include_only: Vec<String> },
}

/// `AWSNamespaceTagFilter` (`aws_namespace_tag_filter.py`): the resource tags (`key:value`,
/// with `?`, `*` and a leading `!`) that select what is collected for one namespace. Recorded
/// as `{"namespace": "AWS/EC2", "tags": ["key:value"]}` (`create_200`'s cassette).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagFilter {
    pub namespace: String,
    /// `null` in the recorded answer to a create with a filter of no tags
    /// (`create_null_tags_200`): read as none.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// `AWSLogsConfig` (`aws_logs_config.py`): `lambda_forwarder`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LogsConfig {
    pub(crate) lambda_forwarder: LambdaForwarder,
}

/// `AWSLambdaForwarderConfig` (`aws_lambda_forwarder_config.py`): `lambdas` (the forwarder
/// ARNs, default `[]`), `sources` (the services whose logs are subscribed) and
/// `log_source_config` (`AWSLambdaForwarderConfigLogSourceConfig`: `tag_filters`, default
/// `[]`). Only the keys the stack manages are set; an Update sends them over what Datadog
/// holds (see [`super::overlay`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct LambdaForwarder {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lambdas: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sources: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_source_config: Option<LogSourceConfig>,
}

/// `AWSLambdaForwarderConfigLogSourceConfig` (`aws_lambda_forwarder_config_log_source_config.py`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct LogSourceConfig {
    pub(crate) tag_filters: Vec<LogSourceTagFilter>,
}

/// `AWSLogSourceTagFilter` (`aws_log_source_tag_filter.py`): the AWS resource tags (`key:value`)
/// whose resources' logs one log source forwards. Recorded as
/// `{"source": "s3", "tags": ["tag1", "tag2"]}` (cassette `TestAccIntegrationAwsAccount_RoleBased`)
/// and `{"source": "s3", "tags": ["test:test"]}` (DataDog/datadog-api-client-python cassette
/// `test_update_an_aws_integration_returns_bad_request_response`); `tags` may be `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSourceTagFilter {
    pub source: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
}

/// `AWSTracesConfig` (`aws_traces_config.py`): `xray_services`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TracesConfig {
    pub(crate) xray_services: XRayServices,
}

/// `XRayServicesList`: `XRayServicesIncludeAll` (`include_all`) or `XRayServicesIncludeOnly`
/// (`include_only`) (`x_ray_services_*.py`); Datadog's default is `{"include_only": []}`
/// (recorded answer, `create_200`'s cassette).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum XRayServices {
    IncludeAll { include_all: bool },
    IncludeOnly { include_only: Vec<String> },
}

/// `AWSResourcesConfig` (`aws_resources_config.py`: `extended_collection` defaults to `true`,
/// `cloud_security_posture_management_collection` to `false` and needs the other). Each key
/// only when managed.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct ResourcesConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cloud_security_posture_management_collection: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) extended_collection: Option<bool>,
}

impl ResourcesConfig {
    fn is_empty(&self) -> bool {
        self.cloud_security_posture_management_collection.is_none()
            && self.extended_collection.is_none()
    }
}

impl MetricsConfig {
    fn is_empty(&self) -> bool {
        self.enabled.is_none()
            && self.automute_enabled.is_none()
            && self.collect_cloudwatch_alarms.is_none()
            && self.collect_custom_metrics.is_none()
            && self.namespace_filters.is_none()
            && self.tag_filters.is_none()
            && self.metric_name_filters.is_none()
    }
}

/// A PATCH that rewrites the account tags alone.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TagsOnly {
    pub(crate) aws_account_id: String,
    pub(crate) account_tags: Vec<String>,
}
