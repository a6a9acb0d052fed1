//! `templates/newrelic.yaml` and the code agree: the role trusts exactly the New Relic account
//! `NewRelic::principal_account_id` names for each partition the function serves, the Rules
//! refuse the partition it refuses, the role's external id is `NewRelicAccountId`, and the
//! template's default role name and properties are the descriptor's.

use std::path::Path;

use registrar::identity::Partition;
use registrar::integrations::newrelic::{NewRelic, Settings};
use registrar::integrations::{Descriptor, Integration};
use registrar::props::Properties;
use saphyr::{LoadableYamlNode, Yaml};

fn template() -> (String, Yaml<'static>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/newrelic.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut docs = Yaml::load_from_str(&text).unwrap();
    assert_eq!(docs.len(), 1);
    (text, docs.remove(0))
}

fn settings() -> Settings {
    let props = serde_json::json!({"NewRelicAccountId": "1234567"});
    NewRelic::settings(&Properties::new(props.as_object().unwrap().clone())).unwrap()
}

#[test]
fn the_principal_mapping_is_the_functions() {
    let (_, template) = template();
    let mapping = &template["Mappings"]["NewRelicPrincipalAccount"];
    let account = |row: &str| mapping[row]["AccountId"].as_str().unwrap().to_owned();
    let s = settings();
    assert_eq!(
        account("Commercial"),
        NewRelic::principal_account_id(&s, Partition::Aws).unwrap()
    );
    assert_eq!(
        account("GovCloud"),
        NewRelic::principal_account_id(&s, Partition::AwsUsGov).unwrap()
    );
    assert!(NewRelic::principal_account_id(&s, Partition::AwsCn).is_err());
    assert_eq!(
        mapping.as_mapping().unwrap().len(),
        2,
        "one row per partition served"
    );
}

#[test]
fn the_rules_refuse_china_and_the_role_trusts_the_account_id() {
    let (text, template) = template();
    assert!(
        template["Rules"]["NewRelicNotInChina"]
            .as_mapping()
            .is_some(),
        "a Rule refuses aws-cn, as the function does"
    );
    assert!(text.contains("aws-cn"));
    assert!(
        text.contains("sts:ExternalId: !Ref NewRelicAccountId"),
        "the external id is the New Relic account id"
    );
}

#[test]
fn the_template_passes_the_descriptors_properties_and_default_role() {
    let (_, template) = template();
    let descriptor = Descriptor::named("newrelic").unwrap();
    let props = &template["Resources"]["NewRelicRegistration"]["Properties"];
    for property in descriptor.properties {
        assert!(!props[*property].is_badvalue(), "{property} is passed");
    }
    let (text, _) = self::template();
    assert!(text.contains(&format!(
        "!If [UsesDefaultRoleName, {}, !Ref IAMRoleName]",
        descriptor.default_role
    )));
}
