//! What the StackSet told its stacks: its parameters read as the template hands them to the
//! custom resource (template.yaml, `VendorRegistration` / `DynatraceRegistration`), so that the
//! audit compares the vendor with exactly what the stacks were asked to register.

use std::collections::BTreeMap;

use registrar::props::Properties;
use serde_json::{Map, Value};

/// Template parameters whose resource property has another name.
const RENAMED: [(&str, &str); 2] = [("DatadogSite", "Site"), ("IAMRoleName", "RoleName")];

/// The role an empty `IAMRoleName` stands for, per vendor (template.yaml,
/// `Mappings.DefaultRoleName`).
fn default_role(vendor: &str) -> &'static str {
    if vendor.eq_ignore_ascii_case("dynatrace") {
        "DynatraceMonitoringRole"
    } else {
        "DatadogIntegrationRole"
    }
}

/// The resource properties the StackSet's parameters make, with `overrides` (flag values)
/// replacing parameters of the same property name.
pub fn properties(
    parameters: &BTreeMap<String, String>,
    overrides: &[(&str, Option<String>)],
) -> Properties {
    let mut map = Map::new();
    for (name, value) in parameters {
        let name = RENAMED
            .iter()
            .find(|(parameter, _)| parameter == name)
            .map_or(name.as_str(), |(_, property)| property);
        map.insert(name.to_owned(), Value::String(value.clone()));
    }
    for (name, value) in overrides {
        if let Some(value) = value {
            map.insert((*name).to_owned(), Value::String(value.clone()));
        }
    }
    let vendor = map
        .get("Vendor")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let role_is_empty = map
        .get("RoleName")
        .and_then(Value::as_str)
        .is_none_or(|r| r.trim().is_empty());
    if role_is_empty {
        map.insert(
            "RoleName".to_owned(),
            Value::String(default_role(&vendor).to_owned()),
        );
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
    }
}
