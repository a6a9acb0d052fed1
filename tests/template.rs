//! `template.yaml` and the Rust code must name the same vendor principal.
//!
//! The IAM role's trust policy takes Datadog's AWS account from
//! `Mappings.DatadogPrincipalAccount` (by site, then by partition through `Mappings.PartitionKey`),
//! while the function answers `PrincipalAccountId` from
//! [`registrar::vendor::datadog::principal_account_id`]. This test reads the template and fails
//! as soon as the two tables differ for any site and partition, including the combinations
//! Datadog cannot serve (`None` in Rust, `none` in the template, rejected there by `Rules`).

use std::collections::BTreeSet;
use std::path::Path;

use registrar::identity::Partition;
use registrar::vendor::datadog::{Site, principal_account_id};
use saphyr::{LoadableYamlNode, Yaml};

/// The template's marker for "Datadog has no principal for this site and partition".
const NO_PRINCIPAL: &str = "none";

fn template() -> Yaml<'static> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut docs =
        Yaml::load_from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    assert_eq!(
        docs.len(),
        1,
        "template.yaml must hold exactly one YAML document"
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
    let template = template();
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
    let template = template();
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
