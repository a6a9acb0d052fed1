//! What a vendor holds, read without changing anything: every registration with the account it
//! is for and who made it, for tools that compare the vendor with the organisation
//! (`registrar audit`). The Lambda never lists.

use std::collections::BTreeMap;
use std::fmt;

/// One registration as the vendor lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The vendor's id for it: what [`crate::integrations::Integration::delete`] takes.
    pub id: String,
    /// The AWS account it is for (12 digits), as the vendor records it.
    pub account: String,
    /// The AWS partition it is for, when the vendor records one.
    pub partition: Option<String>,
    /// The IAM role the vendor assumes, when the registration names one yet.
    pub role_name: Option<String>,
    /// Who made it, judged by Registrar's ownership mark.
    pub made_by: MadeBy,
    /// The scope of the role binding that completes it, as [`crate::integrations::Integration::unbind`]
    /// takes it, for vendors with a binding step (Dynatrace: the monitoring configuration
    /// paired with the connection); deleting the registration undoes the binding first.
    pub binding_scope: Option<String>,
    /// The settings Registrar manages, named as [`crate::integrations::Integration::managed_settings`]
    /// names them, as the vendor holds them.
    pub settings: BTreeMap<String, String>,
    /// Why the vendor says it does not work, when it says so (Dynatrace: the monitoring
    /// configuration is disabled or its latest status is not `OK`); `None` when healthy or
    /// when the vendor reports no health.
    pub unhealthy: Option<String>,
}

/// Who made a listed registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MadeBy {
    /// A Registrar stack; the mark names it (`<region>/<stack name>`, lower case for Datadog),
    /// or `None` when a registration of the previous release left no name.
    Registrar(Option<String>),
    /// Someone else: a console user, Terraform, the vendor's own template.
    Someone,
}

impl MadeBy {
    /// Whether the mark names a stack of the StackSet `stack_set` (whose stacks are named
    /// `StackSet-<stack set name>-<uuid>`).
    pub fn is_stack_set(&self, stack_set: &str) -> bool {
        let MadeBy::Registrar(Some(mark)) = self else {
            return false;
        };
        let stack = mark
            .split_once('/')
            .map_or(mark.as_str(), |(_, stack)| stack);
        let prefix = format!("stackset-{}-", stack_set.to_ascii_lowercase());
        let stack = stack.to_ascii_lowercase();
        stack.strip_prefix(&prefix).is_some_and(is_uuid)
    }
}

/// `8-4-4-4-12` hex digits: the suffix CloudFormation gives a StackSet's stacks.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl fmt::Display for MadeBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MadeBy::Registrar(Some(stack)) => write!(f, "Registrar stack {stack}"),
            MadeBy::Registrar(None) => f.write_str("a Registrar stack that left no name"),
            MadeBy::Someone => f.write_str("someone else"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_set_stacks_are_recognised_by_their_name() {
        let made = |mark: &str| MadeBy::Registrar(Some(mark.to_owned()));
        let uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        assert!(made(&format!("us-east-1/stackset-registrar-{uuid}")).is_stack_set("Registrar"));
        assert!(
            !made(&format!("us-east-1/stackset-registrar-dev-{uuid}")).is_stack_set("registrar"),
            "another StackSet whose name starts the same"
        );
        assert!(
            made(&format!("us-east-1/stackset-registrar-dev-{uuid}")).is_stack_set("registrar-dev")
        );
        assert!(!made("us-east-1/my-stack").is_stack_set("registrar"));
        assert!(!MadeBy::Registrar(None).is_stack_set("registrar"));
        assert!(!MadeBy::Someone.is_stack_set("registrar"));
    }
}
