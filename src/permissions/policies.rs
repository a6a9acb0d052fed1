//! The policies the permissions step writes: their names (all under our prefix), their
//! documents, and how a list of actions is cut into managed policies that fit IAM's limits.
//!
//! As Datadog's organisation template does (DataDog/cloudformation-template,
//! `aws_organizations/attach_integration_permissions.py`): the standard list is one inline
//! policy of the role, and each chunk of the resource-collection list one customer-managed
//! policy attached to it. A user's inline policies may total only 2,048 characters (IAM and
//! AWS STS quotas, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html;
//! Datadog's standard list alone is 2,698), so a user gets its standard list as managed
//! policies too. The names are ours: `registrar-<vendor>-standard` (inline; inline names are
//! per role), and `registrar-<holder>-<vendor>-standard-<n>` and
//! `registrar-<holder>-<vendor>-resource-collection-<n>` at IAM path `/registrar/` (managed
//! policy names are per account).

use serde_json::json;

/// The IAM path of every managed policy the step creates.
pub const POLICY_PATH: &str = "/registrar/";
/// IAM's limit on one customer-managed policy document, whitespace not counted (IAM and AWS STS
/// quotas, "IAM and STS character limits").
pub const MANAGED_POLICY_LIMIT: usize = 6144;

/// Which of the vendor's lists a managed policy holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Standard,
    ResourceCollection,
}

impl ListKind {
    const ALL: [ListKind; 2] = [ListKind::Standard, ListKind::ResourceCollection];

    fn slug(self) -> &'static str {
        match self {
            ListKind::Standard => "standard",
            ListKind::ResourceCollection => "resource-collection",
        }
    }
}

/// The role's inline policy holding the vendor's standard list.
pub fn inline_policy_name(vendor: &str) -> String {
    format!("registrar-{vendor}-standard")
}

/// The prefix of every managed policy of ours for `holder` (a role's or a user's name); the
/// policy names are the prefix, the list's name and a number from 1.
pub fn managed_policy_prefix(vendor: &str, holder: &str) -> String {
    format!("registrar-{holder}-{vendor}-")
}

/// A customer-managed policy to write and attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicy {
    pub name: String,
    pub description: String,
    pub document: String,
}

/// The policy document allowing `actions` on every resource, compact (IAM counts characters).
pub fn document(actions: &[String]) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]
    })
    .to_string()
}

/// `chunks` as given, except that a chunk whose document would not fit `limit` is cut into
/// consecutive runs that do (a vendor's chunks are meant to fit; nothing here relies on it).
pub fn fit(chunks: &[Vec<String>], limit: usize) -> Vec<Vec<String>> {
    let mut fitted = Vec::new();
    for chunk in chunks.iter().filter(|c| !c.is_empty()) {
        let mut run: Vec<String> = Vec::new();
        for action in chunk {
            run.push(action.clone());
            if document(&run).len() > limit && run.len() > 1 {
                let last = run.pop().expect("the run has two or more actions");
                fitted.push(std::mem::replace(&mut run, vec![last]));
            }
        }
        if !run.is_empty() {
            fitted.push(run);
        }
    }
    fitted
}

/// The managed policies for the chunks of `vendor`'s `kind` list on `holder`.
pub fn managed_policies(
    vendor: &str,
    holder: &str,
    kind: ListKind,
    chunks: &[Vec<String>],
) -> Vec<ManagedPolicy> {
    let prefix = managed_policy_prefix(vendor, holder);
    let total = chunks.len();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| ManagedPolicy {
            name: format!("{prefix}{}-{}", kind.slug(), i + 1),
            description: format!(
                "Registrar: {vendor}'s {} permissions for {holder} (part {} of {total})",
                kind.slug(),
                i + 1
            ),
            document: document(chunk),
        })
        .collect()
}

/// Whether `name` is one of our managed policies for the holder whose prefix is `prefix`
/// (the prefix, a list's name and a number, nothing else: a role named
/// `x-datadog-resource-collection` does not make another role's policies look like its own).
pub fn is_managed_policy(prefix: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    ListKind::ALL.iter().any(|kind| {
        rest.strip_prefix(kind.slug())
            .and_then(|n| n.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("service{i:03}:DescribeSomethingLong{i:03}"))
            .collect()
    }

    #[test]
    fn chunks_that_fit_are_kept_and_the_others_cut() {
        let small = vec![actions(3)];
        assert_eq!(fit(&small, MANAGED_POLICY_LIMIT), small);
        let big = vec![actions(400)];
        let fitted = fit(&big, MANAGED_POLICY_LIMIT);
        assert!(fitted.len() > 1);
        assert!(
            fitted
                .iter()
                .all(|c| document(c).len() <= MANAGED_POLICY_LIMIT)
        );
        assert_eq!(fitted.concat(), big.concat(), "nothing lost, order kept");
        assert_eq!(
            fit(&[vec![], actions(1)], 10),
            vec![actions(1)],
            "an action alone stays"
        );
    }

    #[test]
    fn names_are_under_our_prefix_and_never_another_roles() {
        let prefix = managed_policy_prefix("datadog", "DatadogIntegrationRole");
        assert_eq!(prefix, "registrar-DatadogIntegrationRole-datadog-");
        let policies = managed_policies(
            "datadog",
            "DatadogIntegrationRole",
            ListKind::ResourceCollection,
            &[actions(1), actions(2)],
        );
        assert_eq!(policies[1].name, format!("{prefix}resource-collection-2"));
        let standard = managed_policies(
            "datadog",
            "DatadogIntegrationRole",
            ListKind::Standard,
            &[actions(1)],
        );
        assert_eq!(standard[0].name, format!("{prefix}standard-1"));
        assert!(is_managed_policy(&prefix, &standard[0].name));
        assert!(!is_managed_policy(&prefix, &format!("{prefix}standard-")));
        assert!(!is_managed_policy(&prefix, &format!("{prefix}other-1")));
        assert!(
            policies
                .iter()
                .all(|p| is_managed_policy(&prefix, &p.name) && p.name.len() <= 128)
        );
        let other = managed_policy_prefix(
            "datadog",
            "DatadogIntegrationRole-datadog-resource-collection",
        );
        assert!(!is_managed_policy(
            &prefix,
            &format!("{other}resource-collection-1")
        ));
        assert!(!is_managed_policy(&prefix, &prefix));
        assert_eq!(inline_policy_name("datadog"), "registrar-datadog-standard");
    }
}
