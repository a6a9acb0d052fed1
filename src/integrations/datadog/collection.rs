//! What Datadog collects from the account beyond the organisation template's switches:
//! regions, metric namespace, tag and name filters, the metric options, log forwarding (with
//! its per-source tag filters) and X-Ray traces; read from the resource's properties and
//! checked before any key is read.
//!
//! **Who owns a setting.** The stack manages a setting exactly when its property is present.
//! A managed setting is sent on every POST and PATCH, so an Update brings back whatever was
//! changed in Datadog meanwhile. An unmanaged one is kept as Datadog holds it: an Update reads
//! the account config and sends each object it touches whole, the unmanaged keys as Datadog
//! answered them ([`super::overlay`]), so a console edit survives whether Datadog's PATCH
//! merges or replaces; a new account gets Datadog's default. Removing a property stops
//! managing the setting; the value stays.
//!
//! Lists: `Regions` empty or `all` is every region (`include_all`); `ExcludeNamespaces` empty
//! excludes nothing; `IncludeNamespaces` must name at least one namespace; `MetricTagFilters`,
//! `MetricNameFilters` and `LogSourceTagFilters` empty are no filter; `XRayServices` `all` is
//! every service, empty is none (Datadog's default); `LogForwarderArns` / `LogSources` empty
//! is none. The entry formats are in [`super::filters`].

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::account::{
    Attributes, LogSourceTagFilter, MetricNameFilter, NamespaceFilters, Regions, TagFilter,
    XRayServices,
};
use super::filters::{is_name, log_source_tag_filters, metric_name_filters, tag_filters};
use super::regions;
use crate::identity::Partition;
use crate::props::{Properties, PropertyError};

/// The collection settings the stack manages (`None`: not managed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collection {
    /// `Regions` → `aws_regions`.
    pub regions: Option<Regions>,
    /// `IncludeNamespaces` / `ExcludeNamespaces` → `metrics_config.namespace_filters`.
    pub namespaces: Option<NamespaceFilters>,
    /// `MetricTagFilters` → `metrics_config.tag_filters`.
    pub tag_filters: Option<Vec<TagFilter>>,
    /// `MetricNameFilters` → `metrics_config.metric_name_filters`.
    pub metric_name_filters: Option<Vec<MetricNameFilter>>,
    /// `AutomuteEnabled` → `metrics_config.automute_enabled`.
    pub automute: Option<bool>,
    /// `CollectCustomMetrics` → `metrics_config.collect_custom_metrics`.
    pub custom_metrics: Option<bool>,
    /// `CollectCloudWatchAlarms` → `metrics_config.collect_cloudwatch_alarms`.
    pub cloudwatch_alarms: Option<bool>,
    /// `LogForwarderArns` → `logs_config.lambda_forwarder.lambdas`.
    pub log_forwarders: Option<Vec<String>>,
    /// `LogSources` → `logs_config.lambda_forwarder.sources`.
    pub log_sources: Option<Vec<String>>,
    /// `LogSourceTagFilters` → `logs_config.lambda_forwarder.log_source_config.tag_filters`.
    pub log_source_tag_filters: Option<Vec<LogSourceTagFilter>>,
    /// `XRayServices` → `traces_config.xray_services`.
    pub xray_services: Option<XRayServices>,
}

/// The word that means "every region / every service".
const ALL: &str = "all";

impl Collection {
    /// Reads the properties; what needs the account's partition is [`Collection::check`].
    pub fn parse(props: &Properties) -> Result<Collection, PropertyError> {
        let include = props.list("IncludeNamespaces")?;
        let exclude = props.list("ExcludeNamespaces")?;
        let namespaces = match (include, exclude) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "IncludeNamespaces",
                    "set",
                    "left out while ExcludeNamespaces is set: Datadog takes either the namespaces to collect or those to skip, not both",
                ));
            }
            (Some(include), None) => {
                if include.is_empty() {
                    return Err(invalid(
                        "IncludeNamespaces",
                        "",
                        "at least one namespace such as AWS/EC2 (to collect no metrics, set DisableMetricCollection to true)",
                    ));
                }
                names("IncludeNamespaces", &include)?;
                Some(NamespaceFilters::IncludeOnly {
                    include_only: include,
                })
            }
            (None, Some(exclude)) => {
                names("ExcludeNamespaces", &exclude)?;
                Some(NamespaceFilters::ExcludeOnly {
                    exclude_only: exclude,
                })
            }
            (None, None) => None,
        };
        let log_forwarders = props.list("LogForwarderArns")?;
        if let Some(arns) = &log_forwarders {
            for arn in arns {
                LambdaArn::parse(arn).ok_or_else(|| {
                    invalid(
                        "LogForwarderArns",
                        arn,
                        "a list of Lambda function ARNs (arn:<partition>:lambda:<region>:<account>:function:<name>) of Datadog log forwarders",
                    )
                })?;
            }
        }
        let log_sources = props.list("LogSources")?;
        if let Some(sources) = &log_sources {
            names("LogSources", sources)?;
        }
        Ok(Collection {
            regions: props.list("Regions")?.map(regions_of).transpose()?,
            namespaces,
            tag_filters: props
                .list("MetricTagFilters")?
                .map(|entries| tag_filters(&entries))
                .transpose()?,
            metric_name_filters: props
                .list("MetricNameFilters")?
                .map(|entries| metric_name_filters(&entries))
                .transpose()?,
            automute: props.optional_flag("AutomuteEnabled")?,
            custom_metrics: props.optional_flag("CollectCustomMetrics")?,
            cloudwatch_alarms: props.optional_flag("CollectCloudWatchAlarms")?,
            log_forwarders,
            log_sources,
            log_source_tag_filters: props
                .list("LogSourceTagFilters")?
                .map(|entries| log_source_tag_filters(&entries))
                .transpose()?,
            xray_services: props.list("XRayServices")?.map(xray_of).transpose()?,
        })
    }

    /// What only the member account's partition makes wrong: a region or a forwarder ARN of
    /// another partition.
    pub fn check(&self, partition: Partition) -> Result<(), PropertyError> {
        if let Some(Regions::IncludeOnly { include_only }) = &self.regions {
            for region in include_only {
                if !regions::exists(partition, region) {
                    return Err(invalid(
                        "Regions",
                        region,
                        &format!(
                            "regions of the account's partition {partition} ({}), or empty for all regions; a region AWS opened after this Registrar release needs a Registrar update",
                            regions::of(partition).join(", ")
                        ),
                    ));
                }
            }
        }
        for arn in self.log_forwarders.iter().flatten() {
            if LambdaArn::parse(arn).is_some_and(|a| a.partition != partition.as_str()) {
                return Err(invalid(
                    "LogForwarderArns",
                    arn,
                    &format!(
                        "Lambda function ARNs in the account's partition (arn:{partition}:lambda:…)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `Regions`: empty or `all` → every region; else exactly these (checked per partition later).
fn regions_of(list: Vec<String>) -> Result<Regions, PropertyError> {
    if list.is_empty() || is_all("Regions", &list)? {
        return Ok(Regions::IncludeAll { include_all: true });
    }
    for region in &list {
        if !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "Regions",
                region,
                "AWS region names such as eu-west-1, or empty for all regions",
            ));
        }
    }
    Ok(Regions::IncludeOnly { include_only: list })
}

/// `XRayServices`: `all` → every service; else exactly these (empty: none).
fn xray_of(list: Vec<String>) -> Result<XRayServices, PropertyError> {
    if is_all("XRayServices", &list)? {
        return Ok(XRayServices::IncludeAll { include_all: true });
    }
    names("XRayServices", &list)?;
    Ok(XRayServices::IncludeOnly { include_only: list })
}

/// Whether a list is the word `all` alone; `all` next to other entries is refused.
fn is_all(name: &'static str, list: &[String]) -> Result<bool, PropertyError> {
    let has_all = list.iter().any(|item| item.eq_ignore_ascii_case(ALL));
    if has_all && list.len() > 1 {
        return Err(invalid(
            name,
            &list.join(","),
            "either all alone, or a list without all",
        ));
    }
    Ok(has_all)
}

/// Every entry is a plain name (no spaces, no commas, no `:`).
fn names(name: &'static str, list: &[String]) -> Result<(), PropertyError> {
    match list.iter().find(|item| !is_name(item)) {
        Some(bad) => Err(invalid(
            name,
            bad,
            "a list of names without spaces, commas or colons",
        )),
        None => Ok(()),
    }
}

pub(super) fn invalid(name: &'static str, value: &str, expected: &str) -> PropertyError {
    PropertyError::Invalid {
        name,
        value: value.chars().take(120).collect(),
        expected: expected.to_owned(),
    }
}

/// The parts of a Lambda function ARN that are checked.
struct LambdaArn<'a> {
    partition: &'a str,
}

impl<'a> LambdaArn<'a> {
    /// `arn:<partition>:lambda:<region>:<12 digits>:function:<name>[:<qualifier>]`.
    fn parse(arn: &'a str) -> Option<LambdaArn<'a>> {
        let parts: Vec<&str> = arn.split(':').collect();
        let ok = (7..=8).contains(&parts.len())
            && parts[0] == "arn"
            && Partition::parse(parts[1]).is_some()
            && parts[2] == "lambda"
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && parts[5] == "function"
            && !parts[6].is_empty();
        ok.then(|| LambdaArn {
            partition: parts[1],
        })
    }
}

/// The managed collection settings as the audit compares them, each under its API field's name
/// and as JSON: what the stack manages ([`Collection::managed`]) against what an account
/// config holds ([`held`]). Both sides go through the same models, so equal settings read
/// equal.
impl Collection {
    pub(crate) fn managed(&self) -> BTreeMap<String, String> {
        let mut settings = BTreeMap::new();
        note(&mut settings, "aws_regions", self.regions.as_ref());
        note(&mut settings, "namespace_filters", self.namespaces.as_ref());
        note(&mut settings, "tag_filters", self.tag_filters.as_ref());
        note(
            &mut settings,
            "metric_name_filters",
            self.metric_name_filters.as_ref(),
        );
        note(&mut settings, "automute_enabled", self.automute.as_ref());
        note(
            &mut settings,
            "collect_custom_metrics",
            self.custom_metrics.as_ref(),
        );
        note(
            &mut settings,
            "collect_cloudwatch_alarms",
            self.cloudwatch_alarms.as_ref(),
        );
        note(
            &mut settings,
            "lambda_forwarder.lambdas",
            self.log_forwarders.as_ref(),
        );
        note(
            &mut settings,
            "lambda_forwarder.sources",
            self.log_sources.as_ref(),
        );
        note(
            &mut settings,
            LOG_SOURCE_TAG_FILTERS,
            self.log_source_tag_filters.as_ref(),
        );
        note(&mut settings, "xray_services", self.xray_services.as_ref());
        settings
    }
}

/// The audit's name of `LogSourceTagFilters`.
const LOG_SOURCE_TAG_FILTERS: &str = "lambda_forwarder.log_source_config.tag_filters";

/// The collection settings an account config holds, named as [`Collection::managed`] names
/// them. A value of a shape the models do not read is noted as answered (it then differs).
pub(crate) fn held(attributes: &Attributes) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    let metrics = attributes.metrics_config.as_ref();
    let forwarder = attributes
        .logs_config
        .as_ref()
        .and_then(|l| l.lambda_forwarder.as_ref());
    let xray = attributes
        .traces_config
        .as_ref()
        .and_then(|t| t.get("xray_services"));
    note_answered::<Regions>(
        &mut settings,
        "aws_regions",
        attributes.aws_regions.as_ref(),
    );
    note_answered::<NamespaceFilters>(
        &mut settings,
        "namespace_filters",
        metrics.and_then(|m| m.namespace_filters.as_ref()),
    );
    note_answered::<Vec<TagFilter>>(
        &mut settings,
        "tag_filters",
        metrics.and_then(|m| m.tag_filters.as_ref()),
    );
    note(
        &mut settings,
        "automute_enabled",
        metrics.and_then(|m| m.automute_enabled.as_ref()),
    );
    note(
        &mut settings,
        "collect_custom_metrics",
        metrics.and_then(|m| m.collect_custom_metrics.as_ref()),
    );
    note(
        &mut settings,
        "collect_cloudwatch_alarms",
        metrics.and_then(|m| m.collect_cloudwatch_alarms.as_ref()),
    );
    note_answered::<Vec<MetricNameFilter>>(
        &mut settings,
        "metric_name_filters",
        metrics.and_then(|m| m.metric_name_filters.as_ref()),
    );
    note(
        &mut settings,
        "lambda_forwarder.lambdas",
        forwarder.and_then(|f| f.lambdas.as_ref()),
    );
    note(
        &mut settings,
        "lambda_forwarder.sources",
        forwarder.and_then(|f| f.sources.as_ref()),
    );
    note_answered::<Vec<LogSourceTagFilter>>(
        &mut settings,
        LOG_SOURCE_TAG_FILTERS,
        forwarder
            .and_then(|f| f.log_source_config.as_ref())
            .and_then(|c| c.get("tag_filters")),
    );
    note_answered::<XRayServices>(&mut settings, "xray_services", xray);
    settings
}

fn note<T: Serialize>(settings: &mut BTreeMap<String, String>, name: &str, value: Option<&T>) {
    if let Some(json) = value.and_then(|v| serde_json::to_string(v).ok()) {
        settings.insert(name.to_owned(), json);
    }
}

/// Notes an answered value through model `T` (so it reads as the stack's value would), or as
/// answered when `T` cannot read it; `null` is not noted.
fn note_answered<T: DeserializeOwned + Serialize>(
    settings: &mut BTreeMap<String, String>,
    name: &str,
    value: Option<&Value>,
) {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return;
    };
    let json = serde_json::from_value::<T>(value.clone())
        .ok()
        .and_then(|typed| serde_json::to_string(&typed).ok())
        .unwrap_or_else(|| value.to_string());
    settings.insert(name.to_owned(), json);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_the_stack_manages_reads_equal_to_what_datadog_holds_after_it() {
        let collection = parse(json!({
            "Regions": ["eu-west-1"], "ExcludeNamespaces": ["AWS/SQS"],
            "MetricTagFilters": ["AWS/EC2:env:prod"], "AutomuteEnabled": "false",
            "LogSources": ["s3"], "XRayServices": ["all"],
            "MetricNameFilters": ["AWS/EC2:aws.ec2.cpu*"], "LogSourceTagFilters": ["s3:env:prod"]
        }))
        .unwrap();
        let managed = collection.managed();
        assert_eq!(managed.len(), 8, "{managed:?}");
        // As Datadog answers it (the recorded answer's shapes, with other fields around).
        let held_json = json!({
            "aws_account_id": "123456789012",
            "aws_regions": {"include_only": ["eu-west-1"]},
            "metrics_config": {"enabled": true, "automute_enabled": false,
                "collect_custom_metrics": false, "collect_cloudwatch_alarms": false,
                "namespace_filters": {"exclude_only": ["AWS/SQS"]},
                "tag_filters": [{"namespace": "AWS/EC2", "tags": ["env:prod"]}],
                "metric_name_filters": [{"namespace": "AWS/EC2", "include_only": ["aws.ec2.cpu*"]}]},
            "logs_config": {"lambda_forwarder": {"lambdas": [], "sources": ["s3"],
                "log_source_config": {"tag_filters": [{"source": "s3", "tags": ["env:prod"]}]}}},
            "traces_config": {"xray_services": {"include_all": true}}
        });
        let attributes: Attributes = serde_json::from_value(held_json.clone()).unwrap();
        let answered = held(&attributes);
        for (name, want) in &managed {
            assert_eq!(answered.get(name), Some(want), "{name}");
        }
        let mut changed = held_json.clone();
        changed["logs_config"]["lambda_forwarder"]["log_source_config"]["tag_filters"][0]["tags"] =
            json!(["env:console"]);
        let attributes: Attributes = serde_json::from_value(changed).unwrap();
        assert_ne!(
            held(&attributes).get(LOG_SOURCE_TAG_FILTERS),
            managed.get(LOG_SOURCE_TAG_FILTERS)
        );
        let mut changed = held_json;
        changed["aws_regions"] = json!({"include_all": true});
        let attributes: Attributes = serde_json::from_value(changed).unwrap();
        assert_ne!(
            held(&attributes).get("aws_regions"),
            managed.get("aws_regions")
        );
        assert!(Collection::default().managed().is_empty());

        // The recorded answer's `"tags": null` reads as no tags; a shape no model reads is
        // noted as answered, never an unreadable account.
        let odd: Attributes = serde_json::from_value(json!({
            "metrics_config": {"tag_filters": [{"namespace": "AWS/EC2", "tags": null}]},
            "aws_regions": {"something_new": 1}
        }))
        .unwrap();
        let answered = held(&odd);
        assert_eq!(
            answered["tag_filters"],
            r#"[{"namespace":"AWS/EC2","tags":[]}]"#
        );
        assert_eq!(answered["aws_regions"], r#"{"something_new":1}"#);
    }

    fn parse(v: Value) -> Result<Collection, PropertyError> {
        Collection::parse(&Properties::new(v.as_object().unwrap().clone()))
    }

    fn error(v: Value) -> String {
        parse(v).unwrap_err().to_string()
    }

    #[test]
    fn nothing_given_manages_nothing() {
        assert_eq!(parse(json!({})).unwrap(), Collection::default());
    }

    #[test]
    fn each_property_maps_to_its_api_field() {
        let c = parse(json!({
            "Regions": ["eu-west-1", "us-east-1"],
            "ExcludeNamespaces": "AWS/SQS, AWS/Usage",
            "MetricTagFilters": ["AWS/EC2:env:prod", "AWS/RDS:team:db", "AWS/EC2:!region:us-east-1"],
            "AutomuteEnabled": "false",
            "CollectCustomMetrics": "true",
            "CollectCloudWatchAlarms": "TRUE",
            "LogForwarderArns": ["arn:aws:lambda:eu-west-1:123456789012:function:DatadogForwarder"],
            "LogSources": ["s3", "lambda"],
            "XRayServices": "all"
        }))
        .unwrap();
        assert_eq!(
            c.regions,
            Some(Regions::IncludeOnly {
                include_only: vec!["eu-west-1".into(), "us-east-1".into()]
            })
        );
        assert_eq!(
            c.namespaces,
            Some(NamespaceFilters::ExcludeOnly {
                exclude_only: vec!["AWS/SQS".into(), "AWS/Usage".into()]
            })
        );
        assert_eq!(
            c.tag_filters.unwrap(),
            [
                TagFilter {
                    namespace: "AWS/EC2".into(),
                    tags: vec!["env:prod".into(), "!region:us-east-1".into()]
                },
                TagFilter {
                    namespace: "AWS/RDS".into(),
                    tags: vec!["team:db".into()]
                }
            ]
        );
        assert_eq!(
            (c.automute, c.custom_metrics, c.cloudwatch_alarms),
            (Some(false), Some(true), Some(true))
        );
        assert_eq!(c.log_sources.unwrap(), ["s3", "lambda"]);
        assert_eq!(
            c.xray_services,
            Some(XRayServices::IncludeAll { include_all: true })
        );
    }

    #[test]
    fn empty_lists_and_all_say_what_datadog_calls_them() {
        let c = parse(json!({"Regions": [], "XRayServices": [], "ExcludeNamespaces": [], "MetricTagFilters": []})).unwrap();
        assert_eq!(c.regions, Some(Regions::IncludeAll { include_all: true }));
        assert_eq!(
            c.xray_services,
            Some(XRayServices::IncludeOnly {
                include_only: vec![]
            })
        );
        assert_eq!(
            c.namespaces,
            Some(NamespaceFilters::ExcludeOnly {
                exclude_only: vec![]
            })
        );
        assert_eq!(c.tag_filters, Some(vec![]));
        let c = parse(json!({"Regions": "ALL"})).unwrap();
        assert_eq!(c.regions, Some(Regions::IncludeAll { include_all: true }));
    }

    #[test]
    fn bad_values_name_their_property() {
        let cases = [
            (
                json!({"IncludeNamespaces": ["AWS/EC2"], "ExcludeNamespaces": ["AWS/SQS"]}),
                "IncludeNamespaces",
            ),
            (json!({"IncludeNamespaces": []}), "IncludeNamespaces"),
            (json!({"MetricTagFilters": ["AWS/EC2"]}), "MetricTagFilters"),
            (
                json!({"MetricTagFilters": [":env:prod"]}),
                "MetricTagFilters",
            ),
            (
                json!({"MetricTagFilters": ["AWS/EC2:"]}),
                "MetricTagFilters",
            ),
            (json!({"Regions": ["eu-west-1", "all"]}), "Regions"),
            (json!({"Regions": ["EU West 1"]}), "Regions"),
            (
                json!({"XRayServices": ["all", "AWS/Lambda"]}),
                "XRayServices",
            ),
            (
                json!({"LogForwarderArns": ["arn:aws:s3:::bucket"]}),
                "LogForwarderArns",
            ),
            (
                json!({"LogForwarderArns": ["arn:aws:lambda:eu-west-1:12345:function:f"]}),
                "LogForwarderArns",
            ),
            (json!({"LogSources": ["s3 bucket"]}), "LogSources"),
            (json!({"AutomuteEnabled": "yes"}), "AutomuteEnabled"),
        ];
        for (props, name) in cases {
            let err = error(props.clone());
            assert!(
                err.starts_with(&format!("The {name} property ")),
                "{props}: {err}"
            );
        }
        // An entry splits at its first colon: the tag keeps its own.
        let c = parse(json!({"MetricTagFilters": ["AWS/EC2:env:prod"]})).unwrap();
        assert_eq!(c.tag_filters.unwrap()[0].tags, ["env:prod"]);
    }

    #[test]
    fn regions_and_forwarders_must_be_of_the_accounts_partition() {
        let c = parse(json!({"Regions": ["cn-north-1"], "LogForwarderArns": ["arn:aws-cn:lambda:cn-north-1:123456789012:function:f"]})).unwrap();
        assert!(c.check(Partition::AwsCn).is_ok());
        let err = c.check(Partition::Aws).unwrap_err().to_string();
        assert!(
            err.starts_with("The Regions property is \"cn-north-1\""),
            "{err}"
        );
        let c = parse(
            json!({"LogForwarderArns": ["arn:aws:lambda:us-east-1:123456789012:function:f:live"]}),
        )
        .unwrap();
        assert!(c.check(Partition::Aws).is_ok());
        let err = c.check(Partition::AwsUsGov).unwrap_err().to_string();
        assert!(err.starts_with("The LogForwarderArns property"), "{err}");
        let c = parse(json!({"Regions": ["us-east-9"]})).unwrap();
        assert!(
            c.check(Partition::Aws)
                .unwrap_err()
                .to_string()
                .contains("Registrar update")
        );
        let all = parse(json!({"Regions": "all"})).unwrap();
        assert!(Partition::ALL.iter().all(|p| all.check(*p).is_ok()));
    }
}
