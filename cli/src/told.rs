//! What the StackSet told its stacks: its parameters read as the template hands them to the
//! custom resource (`templates/<vendor>.yaml`, `VendorRegistration` / `DynatraceRegistration`),
//! so that the audit compares the vendor with exactly what the stacks were asked to register.
//!
//! Each member template is one vendor's and has no `Vendor` parameter: the vendor is the one
//! whose own parameter the StackSet has ([`vendor_of`]). A StackSet still on the single
//! template of earlier releases names it in its `Vendor` parameter, which wins.

use std::collections::BTreeMap;

use registrar::integrations::{Descriptor, Passed, template_parameters};
use registrar::props::Properties;
use serde_json::{Map, Value};

/// The parameter that makes the template register an IAM user's access key instead of a role:
/// the template then passes no `RoleName`, and the audit expects none.
const AUTH_TYPE: &str = "DatadogAuthType";

/// The vendor of a StackSet of these parameters: its `Vendor` parameter (the single template of
/// earlier releases), else the vendor one of whose own parameters it has (each vendor's
/// descriptor names them: its renamed template parameters and its properties, which its
/// template takes under their own names). `None`: neither.
fn vendor_of(parameters: &BTreeMap<String, String>) -> Option<String> {
    if let Some(vendor) = parameters.get("Vendor") {
        return Some(vendor.clone());
    }
    Descriptor::all()
        .find(|d| {
            d.parameters
                .iter()
                .map(|p| p.parameter)
                .chain(d.properties.iter().copied())
                .any(|name| parameters.contains_key(name))
        })
        .map(|d| d.name.to_owned())
}

/// The role an empty `IAMRoleName` stands for: the vendor's own default (its descriptor);
/// none for a vendor Registrar does not know.
fn default_role(vendor: &str) -> Option<&'static str> {
    Descriptor::named(vendor).map(|d| d.default_role)
}

/// The resource properties the StackSet's parameters make, with `overrides` (flag values)
/// replacing parameters of the same property name.
pub fn properties(
    parameters: &BTreeMap<String, String>,
    overrides: &[(&str, Option<String>)],
) -> Properties {
    let mut map = Map::new();
    for (name, value) in parameters {
        // Template parameters whose property has another name, and how each is passed (each
        // vendor's descriptor says, `template_parameters`); any other is passed as it is.
        let (property, passed) = template_parameters()
            .find(|p| p.parameter == name)
            .map_or((name.as_str(), Passed::Always), |p| (p.property, p.passed));
        let empty_list = value.split(',').all(|item| item.trim().is_empty());
        if passed == Passed::Always || !empty_list {
            map.insert(property.to_owned(), Value::String(value.clone()));
        }
    }
    for (name, value) in overrides {
        if let Some(value) = value {
            map.insert((*name).to_owned(), Value::String(value.clone()));
        }
    }
    // The member templates pass their vendor as a literal `Vendor` property.
    let vendor = vendor_of(parameters).unwrap_or_default();
    if !vendor.is_empty() {
        map.insert("Vendor".to_owned(), Value::String(vendor.clone()));
    }
    let role_is_empty = map
        .get("RoleName")
        .and_then(Value::as_str)
        .is_none_or(|r| r.trim().is_empty());
    let access_keys = map
        .get(AUTH_TYPE)
        .and_then(Value::as_str)
        .is_some_and(|auth| auth.eq_ignore_ascii_case("access-keys"));
    if access_keys {
        map.remove("RoleName");
    } else if role_is_empty && let Some(role) = default_role(&vendor) {
        map.insert("RoleName".to_owned(), Value::String(role.to_owned()));
    }
    Properties::new(map)
}

/// A property's text, if set and not empty.
pub fn text(props: &Properties, name: &'static str) -> Option<String> {
    props.text(name).ok().flatten().filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameters(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parameters_become_the_properties_the_template_passes() {
        let props = properties(
            &parameters(&[
                ("Vendor", "datadog"),
                ("DatadogSite", "datadoghq.eu"),
                ("IAMRoleName", ""),
                ("SecretArn", "arn:a"),
            ]),
            &[("SecretArn", Some("arn:b".into())), ("SecretRoleArn", None)],
        );
        assert_eq!(text(&props, "Site").as_deref(), Some("datadoghq.eu"));
        assert_eq!(
            text(&props, "RoleName").as_deref(),
            Some("DatadogIntegrationRole")
        );
        assert_eq!(
            text(&props, "SecretArn").as_deref(),
            Some("arn:b"),
            "a flag wins"
        );
        assert_eq!(text(&props, "SecretRoleArn"), None);
        let dynatrace = properties(&parameters(&[("Vendor", "dynatrace")]), &[]);
        assert_eq!(
            text(&dynatrace, "RoleName").as_deref(),
            Some("DynatraceMonitoringRole")
        );
        let named = properties(
            &parameters(&[("Vendor", "dynatrace"), ("IAMRoleName", "Mine")]),
            &[],
        );
        assert_eq!(text(&named, "RoleName").as_deref(), Some("Mine"));
        // Every vendor's default is its own, never another's.
        for vendor in registrar::integrations::Descriptor::all() {
            let props = properties(&parameters(&[("Vendor", vendor.name)]), &[]);
            assert_eq!(
                text(&props, "RoleName").as_deref(),
                Some(vendor.default_role)
            );
        }
        let unknown = properties(&parameters(&[("Vendor", "sumo")]), &[]);
        assert_eq!(
            text(&unknown, "RoleName"),
            None,
            "no guess for an unknown vendor"
        );
    }

    #[test]
    fn list_parameters_become_lists_and_empty_ones_manage_nothing() {
        let props = properties(
            &parameters(&[
                ("Vendor", "datadog"),
                ("DatadogRegions", "us-east-1, eu-west-1"),
                ("DatadogExcludeNamespaces", ""),
                ("DatadogXRayServices", "all"),
                ("DatadogAutomuteEnabled", "false"),
                ("DatadogCollectCustomMetrics", ""),
            ]),
            &[],
        );
        let list = |name| props.list(name).unwrap();
        assert_eq!(
            list("Regions"),
            Some(vec!["us-east-1".to_owned(), "eu-west-1".to_owned()])
        );
        assert_eq!(list("XRayServices"), Some(vec!["all".to_owned()]));
        assert_eq!(list("ExcludeNamespaces"), None);
        assert_eq!(text(&props, "AutomuteEnabled").as_deref(), Some("false"));
        assert_eq!(text(&props, "CollectCustomMetrics"), None);
    }

    #[test]
    fn a_member_templates_stack_set_is_the_vendor_whose_parameters_it_has() {
        let datadog = properties(
            &parameters(&[
                ("DatadogSite", "datadoghq.eu"),
                ("IAMRoleName", ""),
                ("SecretArn", "arn:a"),
            ]),
            &[],
        );
        assert_eq!(text(&datadog, "Vendor").as_deref(), Some("datadog"));
        assert_eq!(
            text(&datadog, "RoleName").as_deref(),
            Some("DatadogIntegrationRole")
        );
        let dynatrace = properties(
            &parameters(&[
                ("EnvironmentUrl", "https://abc12345.apps.dynatrace.com"),
                ("IAMRoleName", ""),
                ("MonitoringConfigId", ""),
            ]),
            &[],
        );
        assert_eq!(text(&dynatrace, "Vendor").as_deref(), Some("dynatrace"));
        assert_eq!(
            text(&dynatrace, "RoleName").as_deref(),
            Some("DynatraceMonitoringRole")
        );
        // The single template of earlier releases: its Vendor parameter says it, although
        // every StackSet of it has EnvironmentUrl and DatadogSite.
        let legacy = properties(
            &parameters(&[
                ("Vendor", "datadog"),
                ("EnvironmentUrl", ""),
                ("DatadogSite", "datadoghq.com"),
            ]),
            &[],
        );
        assert_eq!(text(&legacy, "Vendor").as_deref(), Some("datadog"));
        assert_eq!(text(&properties(&parameters(&[]), &[]), "Vendor"), None);
    }

    #[test]
    fn an_access_key_stack_set_names_no_role() {
        let props = properties(
            &parameters(&[
                ("Vendor", "datadog"),
                ("DatadogAuthType", "access-keys"),
                ("IAMRoleName", ""),
            ]),
            &[],
        );
        assert_eq!(text(&props, "RoleName"), None);
    }
}
