//! Datadog's ownership mark: the account tags that say which Registrar stack a registration
//! belongs to, and how an account config (`data` of an answer) is judged by them.
//!
//! Datadog applies an account's tags to every metric and host it collects from the account
//! (`account_tags`: "Tags to apply to all hosts and metrics reporting for this account", the v2
//! model `AWSAccountUpdateRequestAttributes` in DataDog/datadog-api-client-python). So a
//! registration carries exactly one tag of ours, stable and one per account:
//! `registrar_stack:<region>/<stack name>`. Nothing request-level stays on it, except the
//! transient claim `registrar_claims:<request>` that an Update of an unconfirmed-Create marker
//! writes and the marker's Delete removes (see `crate::lifecycle`).
//!
//! Registrations made by the previous release carry `managed_by:registrar`, the stack tag and,
//! when a POST made them, `registrar_request:<request>`. They are still recognised, and any
//! PATCH rewrites their tags to the scheme above (the customer's own tags are kept).

use std::collections::BTreeMap;

use super::account::AccountConfig;
use crate::integrations::{Listed, MadeBy, Owner, Registration, Unusable};

/// The prefix of the tag naming the stack that owns a registration.
pub(crate) const STACK_TAG_PREFIX: &str = "registrar_stack:";
/// The prefix of the transient tag naming the unconfirmed-Create marker a registration was
/// claimed from.
pub(crate) const CLAIM_TAG_PREFIX: &str = "registrar_claims:";
/// Written by the previous release on every registration; recognised, never written.
pub(crate) const LEGACY_MANAGED_TAG: &str = "managed_by:registrar";
/// Written by the previous release on a POST: the request that created the registration.
/// Recognised (its exact cleanup rule still applies), never written.
pub(crate) const LEGACY_REQUEST_TAG_PREFIX: &str = "registrar_request:";

/// `registrar_stack:<region>/<stack name>`, lower-case as Datadog stores tags.
pub(crate) fn stack_tag(stack: &impl std::fmt::Display) -> String {
    format!("{STACK_TAG_PREFIX}{stack}").to_ascii_lowercase()
}

/// `registrar_claims:<request>`.
pub(crate) fn claim_tag(request_id: &str) -> String {
    format!("{CLAIM_TAG_PREFIX}{request_id}").to_ascii_lowercase()
}

/// Whether a tag is one of Registrar's marks (current or previous release), which the account
/// tags a customer asks for never keep.
pub(crate) fn is_mark(tag: &str) -> bool {
    let tag = tag.to_ascii_lowercase();
    tag == LEGACY_MANAGED_TAG
        || tag.starts_with(STACK_TAG_PREFIX)
        || tag.starts_with(CLAIM_TAG_PREFIX)
        || tag.starts_with(LEGACY_REQUEST_TAG_PREFIX)
}

/// The account tags of an account config; `null` or missing reads as none (the recorded answer
/// to a create without tags has `"account_tags": null`: cassette
/// `test_aws_integration_create_account_with_valid_config_returns_aws_account_object_response`).
pub(crate) fn tags(config: &AccountConfig) -> Vec<&str> {
    config
        .attributes
        .account_tags
        .iter()
        .flatten()
        .map(String::as_str)
        .collect()
}

/// Reads an account config and judges its owner by the tags: `this_stack_tag` is this stack's
/// [`stack_tag`]. For a stack that registers with a role.
pub fn read_registration(
    config: &AccountConfig,
    this_stack_tag: &str,
) -> Result<Registration, &'static str> {
    read_for(config, this_stack_tag, false)
}

/// [`read_registration`] for a stack that registers with a role (`wants_keys` false) or with
/// access keys. Datadog cannot switch a registration between the two: someone else's
/// registration of the other kind is unusable; this stack's is replaced by an Update (see
/// [`super::client`]).
pub(crate) fn read_for(
    config: &AccountConfig,
    this_stack_tag: &str,
    wants_keys: bool,
) -> Result<Registration, &'static str> {
    let id = config
        .id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or("no account id")?;
    let auth = config.attributes.auth_config.as_ref();
    let external_id = auth.and_then(|a| a.external_id.as_deref());
    // An account registered with access keys lists `auth_config: {access_key_id}` and no
    // external ID (cassette `test_aws_integration_get_all_account_configs_returns_aws_accounts_list_object_response`),
    // and Datadog refuses a PATCH that switches between role and keys with 400 "cannot switch
    // between role and key based auth" (`test_aws_integration_patch_account_config_returns_bad_request_response`).
    let access_key = auth.and_then(|a| a.access_key_id.as_deref());
    let holds_keys = match (external_id, access_key) {
        (Some(_), _) => false,
        (None, Some(_)) => true,
        (None, None) => return Err("no auth_config.external_id (and no access_key_id)"),
    };
    let tags = tags(config);
    let owner = if tags.iter().any(|t| t.eq_ignore_ascii_case(this_stack_tag)) {
        Owner::ThisStack
    } else if let Some(other) = tags.iter().find_map(|t| strip_prefix(t, STACK_TAG_PREFIX)) {
        Owner::OtherStack(other.to_owned())
    } else if tags
        .iter()
        .any(|t| t.eq_ignore_ascii_case(LEGACY_MANAGED_TAG))
    {
        Owner::OtherStack("a Registrar stack that left no name".to_owned())
    } else {
        Owner::Someone
    };
    let value_of = |prefix: &str| {
        tags.iter()
            .find_map(|t| strip_prefix(t, prefix))
            .map(str::to_ascii_lowercase)
    };
    let unusable = match (holds_keys, wants_keys) {
        (held, wanted) if held == wanted || owner == Owner::ThisStack => None,
        (true, _) => Some(access_keys()),
        (false, _) => Some(role_instead()),
    };
    Ok(Registration {
        id: id.to_owned(),
        external_id: external_id.unwrap_or_default().to_owned(),
        owner,
        created_by: value_of(LEGACY_REQUEST_TAG_PREFIX),
        claimed_by: value_of(CLAIM_TAG_PREFIX),
        unusable,
    })
}

/// Reads an account config as the audit lists it: the account, partition and role it names,
/// who made it (any Registrar stack's mark), and the managed settings
/// ([`super::managed_settings`]'s names) the answer has. `None` without an id or account.
pub(crate) fn read_listed(config: &AccountConfig) -> Option<Listed> {
    let id = config.id.as_deref().filter(|id| !id.is_empty())?;
    let attributes = &config.attributes;
    let account = attributes.aws_account_id.as_deref()?;
    let tags = tags(config);
    let made_by = if let Some(stack) = tags.iter().find_map(|t| strip_prefix(t, STACK_TAG_PREFIX)) {
        MadeBy::Registrar(Some(stack.to_ascii_lowercase()))
    } else if tags
        .iter()
        .any(|t| t.eq_ignore_ascii_case(LEGACY_MANAGED_TAG))
    {
        MadeBy::Registrar(None)
    } else {
        MadeBy::Someone
    };
    let mut settings = BTreeMap::new();
    let mut note = |name: &str, value: Option<bool>| {
        if let Some(value) = value {
            settings.insert(name.to_owned(), value.to_string());
        }
    };
    let metrics = attributes.metrics_config.as_ref();
    let resources = attributes.resources_config.as_ref();
    note(super::METRIC_COLLECTION, metrics.and_then(|m| m.enabled));
    note(
        super::RESOURCE_COLLECTION,
        resources.and_then(|r| r.extended_collection),
    );
    note(
        super::CSPM,
        resources.and_then(|r| r.cloud_security_posture_management_collection),
    );
    settings.extend(super::collection::held(attributes));
    let auth = attributes.auth_config.as_ref();
    Some(Listed {
        id: id.to_owned(),
        account: account.to_owned(),
        partition: attributes.aws_partition.clone(),
        role_name: auth.and_then(|a| a.role_name.clone()),
        made_by,
        binding_scope: None,
        settings,
        unhealthy: None,
    })
}

fn access_keys() -> Unusable {
    Unusable {
        how: "with AWS access keys instead of a role".to_owned(),
        remedy: "Datadog cannot switch a registration between access keys and a role, so OnConflict=adopt cannot take it over either. To manage the account with this stack, remove that registration in Datadog (Integrations > Amazon Web Services) and retry; to keep it, remove this account's stack instance.".to_owned(),
    }
}

fn role_instead() -> Unusable {
    Unusable {
        how: "with a role instead of AWS access keys".to_owned(),
        remedy: "Datadog cannot switch a registration between a role and access keys, so OnConflict=adopt cannot take it over either. To register the account with access keys, remove that registration in Datadog (Integrations > Amazon Web Services) and retry; to keep it, set AuthType to role.".to_owned(),
    }
}

/// `tag` without `prefix`, matched case-insensitively.
fn strip_prefix<'a>(tag: &'a str, prefix: &str) -> Option<&'a str> {
    let head = tag.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &tag[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const THIS: &str = "registrar_stack:us-east-1/stackset-dd-1";

    fn parsed(value: Value) -> AccountConfig {
        serde_json::from_value(value).unwrap()
    }

    fn config(tags: &[&str]) -> AccountConfig {
        parsed(
            json!({"id": "u1", "attributes": {"account_tags": tags, "auth_config": {"external_id": "e1"}}}),
        )
    }

    #[test]
    fn owners_are_judged_by_the_tags_of_both_releases() {
        let owner = |tags: &[&str]| read_registration(&config(tags), THIS).unwrap().owner;
        assert_eq!(owner(&[THIS]), Owner::ThisStack);
        assert_eq!(owner(&["managed_by:registrar", THIS]), Owner::ThisStack);
        assert_eq!(
            owner(&["registrar_stack:eu-west-1/stackset-dd-1"]),
            Owner::OtherStack("eu-west-1/stackset-dd-1".into())
        );
        assert_eq!(
            owner(&[
                "managed_by:registrar",
                "registrar_stack:eu-west-1/stackset-dd-1"
            ]),
            Owner::OtherStack("eu-west-1/stackset-dd-1".into())
        );
        assert_eq!(
            owner(&["managed_by:registrar"]),
            Owner::OtherStack("a Registrar stack that left no name".into())
        );
        assert_eq!(owner(&["aws_account:123456789012"]), Owner::Someone);
    }

    #[test]
    fn the_previous_releases_request_tag_and_the_claim_are_read() {
        let made = read_registration(
            &config(&["managed_by:registrar", THIS, "registrar_request:req-7"]),
            THIS,
        )
        .unwrap();
        assert_eq!(made.created_by.as_deref(), Some("req-7"));
        assert_eq!(made.claimed_by, None);
        let claimed = read_registration(&config(&[THIS, "registrar_claims:Req-0"]), THIS).unwrap();
        assert_eq!(claimed.claimed_by.as_deref(), Some("req-0"));
        assert_eq!(claimed.created_by, None);
    }

    #[test]
    fn access_key_registrations_are_read_as_unusable() {
        let keys = parsed(
            json!({"id": "u2", "attributes": {"account_tags": [], "auth_config": {"access_key_id": "AKIA514950102505"}}}),
        );
        let registration = read_registration(&keys, THIS).unwrap();
        assert_eq!(registration.owner, Owner::Someone);
        assert!(registration.unusable.unwrap().how.contains("access keys"));
        assert!(read_registration(&parsed(json!({"id": "u1", "attributes": {}})), THIS).is_err());
        // A stack registering with keys uses it; this stack's own of the other kind is replaced.
        assert_eq!(read_for(&keys, THIS, true).unwrap().unusable, None);
        let role = config(&["aws_account:123456789012"]);
        assert!(
            read_for(&role, THIS, true)
                .unwrap()
                .unusable
                .unwrap()
                .how
                .contains("role instead")
        );
        assert_eq!(
            read_for(&config(&[THIS]), THIS, true).unwrap().unusable,
            None
        );
        let null_tags = parsed(
            json!({"id": "u3", "attributes": {"account_tags": null, "auth_config": {"role_name": "r", "external_id": "e"}}}),
        );
        assert_eq!(
            read_registration(&null_tags, THIS).unwrap().owner,
            Owner::Someone
        );
    }

    #[test]
    fn listed_registrations_name_their_maker_account_and_settings() {
        let listed = read_listed(&parsed(json!({"id": "u1", "attributes": {
            "aws_account_id": "123456789012", "aws_partition": "aws",
            "account_tags": ["aws_account:123456789012", "Registrar_Stack:US-East-1/StackSet-R-1"],
            "auth_config": {"role_name": "DatadogIntegrationRole", "external_id": "e"},
            "metrics_config": {"enabled": true},
            "resources_config": {"cloud_security_posture_management_collection": false, "extended_collection": true}
        }})))
        .unwrap();
        assert_eq!(
            listed.made_by,
            MadeBy::Registrar(Some("us-east-1/stackset-r-1".into()))
        );
        assert_eq!(
            (
                listed.account.as_str(),
                listed.partition.as_deref(),
                listed.role_name.as_deref()
            ),
            ("123456789012", Some("aws"), Some("DatadogIntegrationRole"))
        );
        assert_eq!(listed.settings.len(), 3);
        let legacy = read_listed(&config(&["managed_by:registrar"]));
        assert_eq!(
            legacy, None,
            "no aws_account_id: not an account's registration"
        );
        let legacy = read_listed(&parsed(json!({"id": "u2", "attributes": {
            "aws_account_id": "123456789012", "account_tags": ["managed_by:registrar"]}})))
        .unwrap();
        assert_eq!(legacy.made_by, MadeBy::Registrar(None));
        assert!(legacy.settings.is_empty() && legacy.role_name.is_none());
        let keys = read_listed(&parsed(json!({"id": "u3", "attributes": {
            "aws_account_id": "123456789012", "account_tags": null,
            "auth_config": {"access_key_id": "AKIA514950102505"}}})))
        .unwrap();
        assert_eq!(keys.made_by, MadeBy::Someone);
    }

    #[test]
    fn marks_of_both_releases_are_recognised() {
        for tag in [
            "managed_by:registrar",
            "Registrar_Stack:x/y",
            "registrar_claims:r",
            "registrar_request:r",
        ] {
            assert!(is_mark(tag), "{tag}");
        }
        assert!(!is_mark("team:registrar"));
        assert_eq!(
            stack_tag(&"US-East-1/Stack"),
            "registrar_stack:us-east-1/stack"
        );
        assert_eq!(strip_prefix("é", "registrar_stack:"), None);
    }
}
