//! The member templates (`templates/datadog.yaml`, `templates/dynatrace.yaml`) and the Rust code
//! must name the same vendor principals.
//!
//! Datadog: the IAM role's trust policy takes Datadog's AWS account from
//! `Mappings.DatadogPrincipalAccount` (by site, then by partition through `Mappings.PartitionKey`),
//! while the function answers `PrincipalAccountId` from
//! [`registrar::integrations::datadog::principal_account_id`]. The test reads the template and fails
//! as soon as the two tables differ for any site and partition, including the combinations
//! Datadog cannot serve (`None` in Rust, `none` in the template, rejected there by `Rules`).
//!
//! Dynatrace: the role's trust policy picks `Mappings.DynatracePrincipalAccount.Production` or
//! `.NonProduction` with `Conditions.DynatraceProductionEnvironment`, computed from the
//! `EnvironmentUrl` parameter with `Fn::Split`/`Fn::Select`, while the function answers
//! [`registrar::integrations::dynatrace::principal_account_id`] of the host it accepted. The test
//! evaluates the template's own expressions (condition, mapping, `Fn::Sub` of the trust policy)
//! for the sample URLs in `tests/template/dynatrace_environment_urls.json` (which the pytest
//! checks share) and compares, and checks that the Rules refuse the partitions the function
//! refuses. The ingest template (`templates/dynatrace-ingest.yaml`) reads the environment the same
//! way and refuses the same partitions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use registrar::identity::Partition;
use registrar::integrations::Integration;
use registrar::integrations::datadog::{Site, principal_account_id};
use registrar::integrations::dynatrace::{
    self, Dynatrace, NON_PRODUCTION_PRINCIPAL, PRODUCTION_PRINCIPAL, environment_host,
};
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value, json};

/// The template's marker for "Datadog has no principal for this site and partition".
const NO_PRINCIPAL: &str = "none";

/// `templates/<name>.yaml`.
fn template(name: &str) -> Yaml<'static> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("templates")
        .join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut docs =
        Yaml::load_from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    assert_eq!(
        docs.len(),
        1,
        "{} must hold exactly one YAML document",
        path.display()
    );
    docs.remove(0)
}

/// A string scalar, or a panic naming what was expected where.
fn string<'a>(node: &'a Yaml<'static>, what: &str) -> &'a str {
    node.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {node:?}"))
}

/// The keys of a YAML mapping, as strings.
fn keys(node: &Yaml<'static>, what: &str) -> BTreeSet<String> {
    let mapping = node
        .as_mapping()
        .unwrap_or_else(|| panic!("{what}: expected a mapping, found {node:?}"));
    mapping
        .keys()
        .map(|key| string(key, what).to_owned())
        .collect()
}

fn all_sites() -> BTreeSet<String> {
    Site::ALL
        .iter()
        .map(|site| site.as_str().to_owned())
        .collect()
}

#[test]
fn principal_mapping_equals_the_rust_table_for_every_site_and_partition() {
    let template = template("datadog");
    let mappings = &template["Mappings"];
    let principals = &mappings["DatadogPrincipalAccount"];
    let partition_keys = &mappings["PartitionKey"];

    assert_eq!(
        keys(principals, "Mappings.DatadogPrincipalAccount"),
        all_sites(),
        "Mappings.DatadogPrincipalAccount must have one row per Datadog site, exactly Site::ALL"
    );
    let partitions: BTreeSet<String> = Partition::ALL
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    assert_eq!(
        keys(partition_keys, "Mappings.PartitionKey"),
        partitions,
        "Mappings.PartitionKey must have one entry per partition, exactly Partition::ALL"
    );

    let mut checked = 0;
    for site in Site::ALL {
        let row = &principals[site.as_str()];
        let mut columns_used = BTreeSet::new();
        for partition in Partition::ALL {
            let column = string(
                &partition_keys[partition.as_str()]["Key"],
                &format!("Mappings.PartitionKey.{}.Key", partition.as_str()),
            );
            columns_used.insert(column.to_owned());
            let what = format!(
                "Mappings.DatadogPrincipalAccount.{}.{column}",
                site.as_str()
            );
            let in_template = string(&row[column], &what);
            match principal_account_id(site, partition) {
                Some(account) => assert_eq!(
                    in_template,
                    account,
                    "{what}: the template trusts {in_template}, the function reports {account} \
                     for site {} in partition {}",
                    site.as_str(),
                    partition.as_str()
                ),
                None => assert_eq!(
                    in_template,
                    NO_PRINCIPAL,
                    "{what}: Rust has no Datadog principal for site {} in partition {}, so the \
                     template must say '{NO_PRINCIPAL}' (and its Rules must reject the combination)",
                    site.as_str(),
                    partition.as_str()
                ),
            }
            checked += 1;
        }
        assert_eq!(
            keys(
                row,
                &format!("Mappings.DatadogPrincipalAccount.{}", site.as_str())
            ),
            columns_used,
            "row {} must have exactly one column per partition",
            site.as_str()
        );
    }
    assert_eq!(checked, Site::ALL.len() * Partition::ALL.len());
}

#[test]
fn datadog_site_parameter_offers_exactly_the_rust_sites() {
    let template = template("datadog");
    let allowed = &template["Parameters"]["DatadogSite"]["AllowedValues"];
    let values = allowed.as_vec().unwrap_or_else(|| {
        panic!("Parameters.DatadogSite.AllowedValues: expected a list, found {allowed:?}")
    });
    let offered: BTreeSet<String> = values
        .iter()
        .map(|value| string(value, "Parameters.DatadogSite.AllowedValues").to_owned())
        .collect();
    assert_eq!(
        offered.len(),
        values.len(),
        "DatadogSite.AllowedValues has duplicates"
    );
    assert_eq!(
        offered,
        all_sites(),
        "DatadogSite.AllowedValues must be exactly Site::ALL"
    );
}

// ------------------------------------------------------------------------------------ Dynatrace

/// The template as JSON, with CloudFormation's short tags in their long form (`!Ref X` becomes
/// `{"Ref": "X"}`, `!GetAtt A.B` becomes `{"Fn::GetAtt": ["A", "B"]}`, `!Sub` becomes
/// `{"Fn::Sub": ...}`), as CloudFormation reads it.
fn template_json(name: &str) -> Value {
    to_json(&template(name))
}

fn to_json(node: &Yaml<'_>) -> Value {
    match node {
        Yaml::Value(Scalar::String(s)) => Value::String(s.to_string()),
        Yaml::Value(Scalar::Integer(i)) => json!(i),
        Yaml::Value(Scalar::FloatingPoint(f)) => json!(f.into_inner()),
        Yaml::Value(Scalar::Boolean(b)) => json!(b),
        Yaml::Value(Scalar::Null) => Value::Null,
        Yaml::Representation(text, _, _) => Value::String(text.to_string()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(mapping) => Value::Object(
            mapping
                .iter()
                .map(|(k, v)| (scalar_text(k), to_json(v)))
                .collect(),
        ),
        Yaml::Tagged(tag, inner) => {
            assert_eq!(tag.handle, "!", "unexpected YAML tag {tag:?}");
            let inner = to_json(inner);
            match tag.suffix.as_str() {
                "Ref" => json!({ "Ref": inner }),
                "Condition" => json!({ "Condition": inner }),
                "GetAtt" => match inner {
                    Value::String(text) => {
                        let (resource, attribute) = text.split_once('.').unwrap_or_else(|| {
                            panic!("!GetAtt {text}: expected Resource.Attribute")
                        });
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                name => json!({ format!("Fn::{name}"): inner }),
            }
        }
        other => panic!("unexpected YAML node {other:?}"),
    }
}

fn scalar_text(node: &Yaml<'_>) -> String {
    match to_json(node) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// One stack's parameter and pseudo-parameter values, and just enough of CloudFormation's
/// intrinsic functions to evaluate the Dynatrace principal choice and the Rules.
struct Stack<'t> {
    template: &'t Value,
    values: BTreeMap<String, String>,
}

impl<'t> Stack<'t> {
    fn new(template: &'t Value, partition: &str, parameters: &[(&str, &str)]) -> Stack<'t> {
        let mut values: BTreeMap<String, String> = template["Parameters"]
            .as_object()
            .expect("Parameters")
            .iter()
            .filter_map(|(name, spec)| Some((name.clone(), text(spec.get("Default")?))))
            .collect();
        for (name, value) in parameters {
            assert!(
                values.contains_key(*name) || template["Parameters"].get(*name).is_some(),
                "unknown parameter {name}"
            );
            values.insert((*name).to_owned(), (*value).to_owned());
        }
        values.insert("AWS::Partition".into(), partition.into());
        values.insert("AWS::AccountId".into(), "444455556666".into());
        Stack { template, values }
    }

    fn condition(&self, name: &str) -> bool {
        let node = self.template["Conditions"]
            .get(name)
            .unwrap_or_else(|| panic!("no condition {name}"));
        self.truth(node)
    }

    fn truth(&self, node: &Value) -> bool {
        let (function, argument) = single(node);
        let items = || {
            argument
                .as_array()
                .unwrap_or_else(|| panic!("{function}: expected a list"))
        };
        match function {
            "Fn::Equals" => self.scalar(&items()[0]) == self.scalar(&items()[1]),
            "Fn::Not" => !self.truth(&items()[0]),
            "Fn::And" => items().iter().all(|c| self.truth(c)),
            "Fn::Or" => items().iter().any(|c| self.truth(c)),
            "Fn::Contains" => {
                let needle = self.scalar(&items()[1]);
                items()[0]
                    .as_array()
                    .expect("Fn::Contains list")
                    .iter()
                    .any(|item| self.scalar(item) == needle)
            }
            "Fn::EachMemberEquals" => {
                let value = self.scalar(&items()[1]);
                self.resolve(&items()[0])
                    .as_array()
                    .expect("Fn::EachMemberEquals list")
                    .iter()
                    .all(|member| member.as_str() == Some(value.as_str()))
            }
            "Condition" => self.condition(argument.as_str().expect("condition name")),
            other => panic!("this test does not evaluate {other} in a condition or rule; teach it"),
        }
    }

    fn scalar(&self, node: &Value) -> String {
        match self.resolve(node) {
            Value::String(s) => s,
            other => panic!("expected a string, got {other}"),
        }
    }

    fn resolve(&self, node: &Value) -> Value {
        match node {
            Value::String(_) => node.clone(),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Array(items) => Value::Array(items.iter().map(|i| self.resolve(i)).collect()),
            Value::Object(map) if map.len() == 1 => {
                let (function, argument) = single(node);
                let args = || {
                    argument
                        .as_array()
                        .unwrap_or_else(|| panic!("{function}: expected a list"))
                };
                match function {
                    "Ref" => {
                        let name = argument.as_str().expect("Ref name");
                        let value = self
                            .values
                            .get(name)
                            .unwrap_or_else(|| {
                                panic!("Ref {name}: not a parameter this test knows")
                            })
                            .clone();
                        // A CommaDelimitedList is a list ("" is [""], as CloudFormation has it).
                        if self.template["Parameters"][name]["Type"] == "CommaDelimitedList" {
                            Value::Array(value.split(',').map(|v| json!(v)).collect())
                        } else {
                            Value::String(value)
                        }
                    }
                    "Fn::If" => {
                        let name = args()[0].as_str().expect("Fn::If condition");
                        self.resolve(&args()[if self.condition(name) { 1 } else { 2 }])
                    }
                    "Fn::FindInMap" => {
                        let [map, first, second] = [0, 1, 2].map(|i| self.scalar(&args()[i]));
                        let cell = &self.template["Mappings"][&map][&first][&second];
                        assert!(
                            !cell.is_null(),
                            "Fn::FindInMap [{map}, {first}, {second}]: no such cell"
                        );
                        Value::String(text(cell))
                    }
                    "Fn::Join" => {
                        let separator = args()[0].as_str().expect("Fn::Join separator");
                        let items = self.resolve(&args()[1]);
                        let parts: Vec<String> = items
                            .as_array()
                            .expect("Fn::Join list")
                            .iter()
                            .map(|v| v.as_str().expect("Fn::Join item").to_owned())
                            .collect();
                        Value::String(parts.join(separator))
                    }
                    "Fn::Split" => {
                        let separator = args()[0].as_str().expect("Fn::Split separator");
                        Value::Array(
                            self.scalar(&args()[1])
                                .split(separator)
                                .map(|part| Value::String(part.to_owned()))
                                .collect(),
                        )
                    }
                    "Fn::Select" => {
                        let index: usize =
                            self.scalar(&args()[0]).parse().expect("Fn::Select index");
                        let list = self.resolve(&args()[1]);
                        list.as_array()
                            .expect("Fn::Select list")
                            .get(index)
                            .unwrap_or_else(|| panic!("Fn::Select: no item {index} in {list}: CloudFormation would fail"))
                            .clone()
                    }
                    "Fn::Sub" => {
                        let (pattern, variables) = match argument {
                            Value::String(pattern) => (pattern.clone(), Map::new()),
                            Value::Array(parts) => (
                                parts[0].as_str().expect("Fn::Sub pattern").to_owned(),
                                parts[1].as_object().expect("Fn::Sub variables").clone(),
                            ),
                            other => panic!("Fn::Sub {other}"),
                        };
                        let mut out = String::new();
                        let mut rest = pattern.as_str();
                        while let Some(start) = rest.find("${") {
                            out.push_str(&rest[..start]);
                            let end =
                                rest[start..].find('}').expect("Fn::Sub: unclosed ${") + start;
                            let name = &rest[start + 2..end];
                            out.push_str(&match variables.get(name) {
                                Some(value) => self.scalar(value),
                                None => self
                                    .values
                                    .get(name)
                                    .unwrap_or_else(|| panic!("Fn::Sub: unknown variable {name}"))
                                    .clone(),
                            });
                            rest = &rest[end + 1..];
                        }
                        out.push_str(rest);
                        Value::String(out)
                    }
                    _ => node.clone(),
                }
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The AssertDescription of every rule assertion this stack violates.
    fn rule_failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for rule in self.template["Rules"].as_object().expect("Rules").values() {
            if let Some(condition) = rule.get("RuleCondition")
                && !self.truth(condition)
            {
                continue;
            }
            for assertion in rule["Assertions"].as_array().expect("Assertions") {
                if !self.truth(&assertion["Assert"]) {
                    failures.push(text(&assertion["AssertDescription"]));
                }
            }
        }
        failures
    }
}

/// The one `function: argument` pair of an intrinsic function node.
fn single(node: &Value) -> (&str, &Value) {
    let map = node
        .as_object()
        .filter(|m| m.len() == 1)
        .unwrap_or_else(|| panic!("expected an intrinsic function, found {node}"));
    let (function, argument) = map.iter().next().expect("one entry");
    (function.as_str(), argument)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The EnvironmentUrl samples shared with tests/template/test_dynatrace.py.
fn accepted_urls() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/template/dynatrace_environment_urls.json");
    let samples: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
    )
    .expect("the samples are JSON");
    samples["accepted"]
        .as_array()
        .expect("accepted samples")
        .iter()
        .map(|s| (text(&s["url"]), text(&s["principal"])))
        .collect()
}

/// The trust policy principal of the template's Dynatrace role, evaluated for one stack.
fn dynatrace_trusted_principal(stack: &Stack<'_>) -> String {
    let role = &stack.template["Resources"]["DynatraceMonitoringRole"];
    assert_eq!(role["Condition"], "IsHomeRegion");
    let statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        .as_array()
        .expect("trust statements");
    assert_eq!(statements.len(), 1, "one trust statement");
    stack.scalar(&statements[0]["Principal"]["AWS"])
}

#[test]
fn dynatrace_principal_mapping_equals_the_rust_constants() {
    let template = template_json("dynatrace");
    assert_eq!(
        template["Mappings"]["DynatracePrincipalAccount"],
        json!({
            "Production": {"AccountId": PRODUCTION_PRINCIPAL},
            "NonProduction": {"AccountId": NON_PRODUCTION_PRINCIPAL},
        }),
        "Mappings.DynatracePrincipalAccount must hold exactly the accounts of src/integrations/dynatrace/environment.rs"
    );
}

#[test]
fn dynatrace_principal_choice_equals_the_rust_function_for_every_sample_url() {
    let template = template_json("dynatrace");
    let samples = accepted_urls();
    let production = samples
        .iter()
        .filter(|(_, p)| p == PRODUCTION_PRINCIPAL)
        .count();
    assert!(
        production >= 2 && samples.len() - production >= 2,
        "the samples must cover both production and non-production environments"
    );
    for stage in [
        "apps.dynatrace",
        "live.dynatrace",
        "sprint.apps.dynatracelabs",
        "sprint.dynatracelabs",
        "dev.apps.dynatracelabs",
        "dev.dynatracelabs",
    ] {
        assert!(
            samples
                .iter()
                .any(|(url, _)| url.contains(&format!(".{stage}.com"))),
            "no sample URL on .{stage}.com"
        );
    }
    for (url, expected) in &samples {
        let host = environment_host(url).unwrap_or_else(|why| {
            panic!("the template accepts EnvironmentUrl {url}, the function refuses it: {why}")
        });
        let in_rust = dynatrace::principal_account_id(&host);
        assert_eq!(
            in_rust, expected,
            "{url} (host {host}): the function says {in_rust}, the samples say {expected}"
        );

        let stack = Stack::new(&template, "aws", &[("EnvironmentUrl", url)]);
        assert_eq!(
            stack.rule_failures(),
            Vec::<String>::new(),
            "{url}: the Rules refuse it"
        );
        let row = if stack.condition("DynatraceProductionEnvironment") {
            "Production"
        } else {
            "NonProduction"
        };
        let in_mapping = text(&template["Mappings"]["DynatracePrincipalAccount"][row]["AccountId"]);
        assert_eq!(
            in_mapping, in_rust,
            "{url}: the template chooses {row} ({in_mapping}), the function reports {in_rust} for host {host}"
        );
        assert_eq!(
            dynatrace_trusted_principal(&stack),
            format!("arn:aws:iam::{in_rust}:root"),
            "{url}: the role's trust policy names another account than the function reports"
        );
        let settings = dynatrace::Settings {
            environment_host: host.clone(),
            monitoring_config_id: None,
        };
        assert_eq!(
            Dynatrace::principal_account_id(&settings, Partition::Aws).unwrap(),
            in_rust
        );
    }
}

#[test]
fn dynatrace_partitions_refused_by_the_function_are_refused_by_the_rules() {
    let settings = dynatrace::Settings {
        environment_host: "abc12345.apps.dynatrace.com".into(),
        monitoring_config_id: None,
    };
    let member = template_json("dynatrace");
    let ingest = template_json("dynatrace-ingest");
    let ingest_parameters = [
        ("EnvironmentUrl", "https://abc12345.apps.dynatrace.com"),
        ("LogIngest", "true"),
        (
            "IngestSecretArn",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registrar/dynatrace-ingest-AbCdEf",
        ),
        (
            "SecretKmsKeyArn",
            "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
        ),
    ];
    for (template, parameters) in [
        (&member, &ingest_parameters[..1]),
        (&ingest, &ingest_parameters[..]),
    ] {
        check_partitions(template, parameters, &settings);
    }
}

fn check_partitions(template: &Value, parameters: &[(&str, &str)], settings: &dynatrace::Settings) {
    for partition in Partition::ALL {
        let stack = Stack::new(template, partition.as_str(), parameters);
        let failures = stack.rule_failures();
        match Dynatrace::principal_account_id(settings, partition) {
            Ok(_) => assert_eq!(
                failures,
                Vec::<String>::new(),
                "{}: the function serves it, the Rules refuse it",
                partition.as_str()
            ),
            Err(_) => assert!(
                failures.iter().any(|m| m.contains(partition.as_str())),
                "{}: the function refuses Dynatrace there, so the Rules must too (and say so): {failures:?}",
                partition.as_str()
            ),
        }
    }
}

#[test]
fn the_ingest_template_tells_production_from_non_production_as_the_function_does() {
    // Its ingest endpoints are chosen by the same condition as the member template's principal.
    let ingest = template_json("dynatrace-ingest");
    for (url, expected) in accepted_urls() {
        let stack = Stack::new(&ingest, "aws", &[("EnvironmentUrl", &url)]);
        assert_eq!(
            stack.condition("DynatraceProductionEnvironment"),
            expected == PRODUCTION_PRINCIPAL,
            "{url}: the ingest template reads the environment otherwise than the function"
        );
    }
}
