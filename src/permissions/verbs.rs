//! Which actions a vendor's role or user may be given at all: read-only verbs, and the few
//! other actions Datadog's published lists name, each by its exact name. Anything else a
//! vendor's list holds (a write, `iam:PassRole`, `ec2:*`, `*`) is refused and logged by the
//! permissions step, and the permissions boundary the template sets on every vendor principal
//! (`DatadogPermissionsBoundary`) allows the same and no more, so even a policy written
//! around the step cannot grant more. `tests/template/data_reading_actions.json` holds the
//! same two lists for the template tests; a test keeps them equal.
//!
//! An action is accepted when its service is named (no wildcard) and its action name starts
//! with one of [`READ_ONLY_VERBS`] (IAM compares action names case-insensitively, so
//! `apigateway:GET` is a `Get`), or when it is one of [`DOCUMENTED_OTHERS`]. A wildcard after
//! the verb (`ec2:Describe*`) stays within the verb.

/// The verbs of AWS's read-only API actions: what every action of Datadog's published lists
/// starts with, apart from [`DOCUMENTED_OTHERS`] (the lists of
/// `src/integrations/datadog/bundled/`: List, Get, Describe, BatchGet, Lookup, View, Search).
pub const READ_ONLY_VERBS: [&str; 7] = [
    "Describe", "Get", "List", "BatchGet", "Lookup", "View", "Search",
];

/// The actions of Datadog's standard list that are not read-only verbs, accepted by exact name
/// only. Datadog publishes them (GET /api/v2/integration/aws/iam_permissions/standard; the bundled
/// copy): a log group's subscriptions and a bucket's notifications (how logs reach a forwarder),
/// reading log events and testing metric filters, creating an EventBridge event bus, publishing
/// to SNS, refreshing Trusted Advisor checks (docs/permissions.md).
pub const DOCUMENTED_OTHERS: [&str; 8] = [
    "events:CreateEventBus",
    "logs:DeleteSubscriptionFilter",
    "logs:FilterLogEvents",
    "logs:PutSubscriptionFilter",
    "logs:TestMetricFilter",
    "s3:PutBucketNotification",
    "sns:Publish",
    "support:RefreshTrustedAdvisorCheck",
];

/// Whether `action` (a name or a pattern) stays within the read-only verbs or is one of the
/// documented others.
pub fn is_accepted(action: &str) -> bool {
    if DOCUMENTED_OTHERS
        .iter()
        .any(|other| other.eq_ignore_ascii_case(action))
    {
        return true;
    }
    let Some((service, name)) = action.split_once(':') else {
        return false;
    };
    let literal = |text: &str| !text.is_empty() && !text.contains(['*', '?']);
    literal(service)
        && READ_ONLY_VERBS.iter().any(|verb| {
            name.len() >= verb.len()
                && name.is_char_boundary(verb.len())
                && literal(&name[..verb.len()])
                && name[..verb.len()].eq_ignore_ascii_case(verb)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::datadog::permission_lists::{
        bundled_resource_collection, bundled_standard,
    };

    #[test]
    fn read_only_verbs_and_the_documented_others_only() {
        for accepted in [
            "ec2:Describe*",
            "ec2:DescribeInstances",
            "apigateway:GET",
            "codedeploy:BatchGet*",
            "cloudtrail:LookupEvents",
            "budgets:ViewBudget",
            "servicecatalog:SearchProducts",
            "logs:PutSubscriptionFilter",
            "LOGS:putsubscriptionfilter",
            "s3:GetObject", // a read verb: the deny list refuses it, not this one
        ] {
            assert!(is_accepted(accepted), "{accepted}");
        }
        for refused in [
            "iam:PassRole",
            "iam:*",
            "*",
            "ec2:*",
            "ec2:D*",
            "ec2:*Describe*",
            "*:Describe*",
            "s3:PutObject",
            "logs:PutSubscriptionFilter*",
            "sns:PublishBatch",
            "lambda:InvokeFunction",
            "sqs:ReceiveMessage",
            "cassandra:Select",
            "Describe",
            ":Describe",
        ] {
            assert!(!is_accepted(refused), "{refused}");
        }
        assert!(
            is_accepted("ec2:Get?x"),
            "a wildcard after the verb stays within it"
        );
    }

    #[test]
    fn every_action_datadog_publishes_is_accepted() {
        let (_, standard) = bundled_standard();
        let (_, resource_collection) = bundled_resource_collection();
        for action in standard.iter().chain(resource_collection.concat().iter()) {
            assert!(
                is_accepted(action) || action == "cassandra:Select",
                "{action}"
            );
        }
        // Each documented other is really in Datadog's standard list.
        for other in DOCUMENTED_OTHERS {
            assert!(standard.iter().any(|a| a == other), "{other}");
        }
    }

    #[test]
    fn the_template_tests_lists_are_these() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/template/data_reading_actions.json"
        );
        let listed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let strings = |key: &str| -> Vec<String> {
            listed[key]
                .as_array()
                .unwrap_or_else(|| panic!("{key}"))
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(strings("read_only_verbs"), READ_ONLY_VERBS);
        assert_eq!(strings("documented_others"), DOCUMENTED_OTHERS);
    }
}
