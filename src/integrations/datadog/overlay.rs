//! An Update's body laid over what Datadog holds, so that it is right whether Datadog's PATCH
//! merges the objects it is sent or replaces them.
//!
//! No recording shows one rule for every field. The official client's recorded PATCH
//! (DataDog/datadog-api-client-python cassette
//! `test_aws_integration_patch_account_config_returns_aws_account_object_response`, 2024-10-28)
//! leaves `metrics_config.namespace_filters` and `traces_config.xray_services` out and the
//! answer keeps them (a merge); the Terraform provider's recording
//! (DataDog/terraform-provider-datadog cassette `TestAccIntegrationAwsAccount_RoleBased`,
//! 2025-08-22) leaves `metrics_config.metric_name_filters` out and the answer has lost them (a
//! replace). So an Update reads the account config first (one GET) and sends every object it
//! touches whole: what Datadog holds, with the stack's managed settings written over it. Keys
//! Registrar has no type for travel as the JSON Datadog answered. Top-level attributes the
//! stack does not touch are left out (both recordings keep those).

use serde_json::{Map, Value};

/// Values that are one of several shapes (`oneOf` in the spec: `AWSRegions`,
/// `AWSNamespaceFilters`, `XRayServicesList`): the stack's value replaces Datadog's whole, or
/// `{"include_all": true}` laid over `{"include_only": [..]}` would hold both.
const ONE_OF: [&[&str]; 3] = [
    &["aws_regions"],
    &["metrics_config", "namespace_filters"],
    &["traces_config", "xray_services"],
];

/// The attributes to PATCH: each of `sent`'s attributes, with every object in it completed
/// from the same object in `held` (recursively; lists and scalars are the stack's).
/// `auth_config` keeps what Datadog holds (the generated `external_id`) only when both sides
/// are a role: switching to access keys sends the keys alone.
pub(crate) fn over_held(sent: Map<String, Value>, held: &Map<String, Value>) -> Map<String, Value> {
    sent.into_iter()
        .map(|(key, value)| {
            let merged = match (key.as_str(), held.get(&key)) {
                ("auth_config", Some(Value::Object(stored))) => {
                    let both_roles = value.get("role_name").is_some()
                        && stored.get("access_key_id").is_none_or(Value::is_null);
                    if both_roles {
                        merge(&[key.as_str()], value, stored)
                    } else {
                        value
                    }
                }
                (_, Some(Value::Object(stored))) => merge(&[key.as_str()], value, stored),
                _ => value,
            };
            (key, merged)
        })
        .collect()
}

fn merge(path: &[&str], sent: Value, held: &Map<String, Value>) -> Value {
    let Value::Object(sent) = sent else {
        return sent;
    };
    if ONE_OF.contains(&path) {
        return Value::Object(sent);
    }
    let mut out = held.clone();
    for (key, value) in sent {
        let mut inner: Vec<&str> = path.to_vec();
        inner.push(&key);
        let value = match held.get(&key) {
            Some(Value::Object(stored)) => merge(&inner, value, stored),
            _ => value,
        };
        out.insert(key, value);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn what_the_console_set_and_fields_registrar_does_not_know_are_sent_back() {
        // As Datadog holds it after a console edit (shapes of the recorded answers, plus a field
        // no model names).
        let held = object(json!({
            "aws_account_id": "123456789012",
            "auth_config": {"role_name": "DatadogIntegrationRole", "external_id": "abc"},
            "aws_regions": {"include_only": ["us-east-1"]},
            "metrics_config": {"enabled": true, "automute_enabled": false,
                "metric_name_filters": [{"namespace": "AWS/EC2", "include_only": ["aws.ec2.cpu*"]}],
                "namespace_filters": {"include_only": ["AWS/EC2"]}, "some_future_field": {"x": 1}},
            "logs_config": {"lambda_forwarder": {"lambdas": ["arn:ui"], "sources": ["s3"],
                "log_source_config": {"tag_filters": [{"source": "s3", "tags": ["env:ui"]}]}}},
            "resources_config": {"extended_collection": false, "cloud_security_posture_management_collection": false},
            "traces_config": {"xray_services": {"include_only": ["AWS/AppSync"]}}
        }));
        let sent = object(json!({
            "aws_account_id": "123456789012",
            "auth_config": {"role_name": "DatadogIntegrationRole"},
            "aws_regions": {"include_all": true},
            "metrics_config": {"enabled": false, "namespace_filters": {"exclude_only": ["AWS/SQS"]}},
            "logs_config": {"lambda_forwarder": {"sources": ["elb"]}},
            "resources_config": {"cloud_security_posture_management_collection": true}
        }));
        let out = Value::Object(over_held(sent, &held));
        assert_eq!(
            out["auth_config"],
            json!({"role_name": "DatadogIntegrationRole", "external_id": "abc"})
        );
        assert_eq!(
            out["aws_regions"],
            json!({"include_all": true}),
            "one of several shapes: replaced"
        );
        assert_eq!(
            out["metrics_config"],
            json!({"enabled": false, "automute_enabled": false,
                "metric_name_filters": [{"namespace": "AWS/EC2", "include_only": ["aws.ec2.cpu*"]}],
                "namespace_filters": {"exclude_only": ["AWS/SQS"]}, "some_future_field": {"x": 1}})
        );
        assert_eq!(
            out["logs_config"],
            json!({"lambda_forwarder": {"lambdas": ["arn:ui"], "sources": ["elb"],
                "log_source_config": {"tag_filters": [{"source": "s3", "tags": ["env:ui"]}]}}})
        );
        assert_eq!(
            out["resources_config"],
            json!({"extended_collection": false, "cloud_security_posture_management_collection": true})
        );
        assert!(
            out.get("traces_config").is_none(),
            "an untouched attribute is not sent"
        );
    }

    #[test]
    fn switching_to_access_keys_sends_the_keys_alone() {
        let held = object(json!({"auth_config": {"role_name": "R", "external_id": "abc"}}));
        let sent =
            object(json!({"auth_config": {"access_key_id": "AKIA", "secret_access_key": "s"}}));
        let out = over_held(sent, &held);
        assert_eq!(
            out["auth_config"],
            json!({"access_key_id": "AKIA", "secret_access_key": "s"})
        );
        let held = object(json!({"auth_config": {"access_key_id": "AKIA"}}));
        let sent = object(json!({"auth_config": {"role_name": "R"}}));
        assert_eq!(
            over_held(sent, &held)["auth_config"],
            json!({"role_name": "R"})
        );
    }
}
