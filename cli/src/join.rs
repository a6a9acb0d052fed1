//! The audit's one decision: the organisation's accounts, the StackSet's stack instances and the
//! vendor's registrations joined into one verdict per account (and one per registration of an
//! account outside the organisation). A pure function: no I/O, tested over every verdict.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use registrar::integrations::{Listed, MadeBy};
use serde::Serialize;

/// An account of the organisation, as Organizations lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED` or `PENDING_CLOSURE`.
    pub status: String,
}

impl Account {
    fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// A stack instance of the StackSet, as ListStackInstances summarises it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub account: String,
    pub region: String,
    /// `CURRENT`, `OUTDATED` or `INOPERABLE`.
    pub status: String,
    /// `SUCCEEDED`, `FAILED`, `RUNNING`, `PENDING`, `CANCELLED`, `INOPERABLE`, `SKIPPED_SUSPENDED_ACCOUNT`…
    pub detailed_status: Option<String>,
    pub reason: Option<String>,
}

impl Instance {
    /// An instance whose last operation left it as the StackSet says.
    fn is_current(&self) -> bool {
        self.status == "CURRENT"
            && self
                .detailed_status
                .as_deref()
                .is_none_or(|d| d == "SUCCEEDED")
    }

    fn describe(&self) -> String {
        let detailed = self
            .detailed_status
            .as_deref()
            .map(|d| format!("/{d}"))
            .unwrap_or_default();
        match self.reason.as_deref().filter(|r| !r.is_empty()) {
            Some(reason) => format!(
                "stack instance in {} is {}{detailed}: {reason}",
                self.region, self.status
            ),
            None => format!(
                "stack instance in {} is {}{detailed}",
                self.region, self.status
            ),
        }
    }
}

/// What every registration should be: what the StackSet's parameters tell its stacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub stack_set: String,
    /// The region whose instance registers the account (`HomeRegion`, or the only region);
    /// `None`: every instance counts.
    pub home_region: Option<String>,
    pub partition: String,
    pub role_name: String,
    /// The managed settings, by the integration's names.
    pub settings: BTreeMap<String, String>,
}

/// Everything the audit joins.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The accounts audited (all of the organisation's, or those under the given OUs).
    pub accounts: Vec<Account>,
    /// Every account id of the organisation, audited or not: a registration of an account
    /// outside it is an orphan or foreign; one of an account outside the audited OUs is not
    /// this audit's business.
    pub organisation: HashSet<String>,
    pub instances: Vec<Instance>,
    pub registrations: Vec<Listed>,
    /// The management account: service-managed StackSets never deploy to it ("StackSets
    /// doesn't deploy stack instances to the organization management account": the
    /// CloudFormation API reference, `DeploymentTargets`,
    /// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html),
    /// so it is not missing when nothing registers it.
    pub management: Option<String>,
}

/// The verdict on one account or registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Registered by Registrar as the StackSet says, its stack instance current.
    Ok,
    /// In the organisation, not registered.
    Missing,
    /// The stack instance is not current (its status reason says why).
    Failed,
    /// Registered by someone else.
    Foreign,
    /// Registered by Registrar, the account closed, suspended or gone from the organisation.
    Orphan,
    /// Registered by Registrar, but not as the StackSet says (role, partition, settings, a
    /// second registration).
    Drift,
    /// Registered by Registrar as the StackSet says, but the vendor says it does not work
    /// (Dynatrace: its monitoring configuration is disabled or reports a status other than OK).
    Unhealthy,
}

impl Verdict {
    pub const ALL: [Verdict; 7] = [
        Verdict::Ok,
        Verdict::Missing,
        Verdict::Failed,
        Verdict::Foreign,
        Verdict::Orphan,
        Verdict::Drift,
        Verdict::Unhealthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Missing => "missing",
            Verdict::Failed => "failed",
            Verdict::Foreign => "foreign",
            Verdict::Orphan => "orphan",
            Verdict::Drift => "drift",
            Verdict::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub account: String,
    /// The account's name and status, when it is in the organisation.
    pub account_name: Option<String>,
    pub account_status: Option<String>,
    pub verdict: Verdict,
    /// What was found, in words.
    pub detail: String,
    /// The registration the verdict is about, if any.
    pub registration: Option<Listed>,
    /// The stack instance the verdict looked at, if any.
    pub instance: Option<Instance>,
}

impl Finding {
    /// Whether `--prune-orphans` deletes its registration: a Registrar-made registration of
    /// an account that is gone, never anyone else's.
    pub fn is_prunable(&self) -> bool {
        self.verdict == Verdict::Orphan
            && self
                .registration
                .as_ref()
                .is_some_and(|r| matches!(r.made_by, MadeBy::Registrar(_)))
    }
}

/// The verdicts: one per audited account (in the accounts' order), then one per registration
/// of an account outside the organisation (by account id).
pub fn audit(inputs: &Inputs, expected: &Expected) -> Vec<Finding> {
    let mut by_account: HashMap<&str, Vec<&Listed>> = HashMap::new();
    for registration in &inputs.registrations {
        by_account
            .entry(registration.account.as_str())
            .or_default()
            .push(registration);
    }
    for registrations in by_account.values_mut() {
        // This StackSet's first, then another Registrar stack's, then anyone's.
        registrations.sort_by_key(|r| (rank(&r.made_by, &expected.stack_set), r.id.clone()));
    }
    let mut instances_of: HashMap<&str, Vec<&Instance>> = HashMap::new();
    for instance in &inputs.instances {
        if expected
            .home_region
            .as_deref()
            .is_none_or(|home| instance.region == home)
        {
            instances_of
                .entry(instance.account.as_str())
                .or_default()
                .push(instance);
        }
    }
    let mut findings = Vec::new();
    for account in &inputs.accounts {
        let registrations = by_account.get(account.id.as_str()).map_or(&[][..], |r| r);
        let instances = instances_of.get(account.id.as_str()).map_or(&[][..], |i| i);
        findings.extend(judge_account(
            account,
            instances,
            registrations,
            expected,
            inputs.management.as_ref(),
        ));
    }
    let mut outside: Vec<&Listed> = inputs
        .registrations
        .iter()
        .filter(|r| !inputs.organisation.contains(&r.account))
        .collect();
    outside.sort_by(|a, b| (&a.account, &a.id).cmp(&(&b.account, &b.id)));
    for registration in outside {
        let (verdict, detail) = match &registration.made_by {
            MadeBy::Someone => (
                Verdict::Foreign,
                "not an account of the organisation; registered by someone else".to_owned(),
            ),
            maker => (
                Verdict::Orphan,
                format!("not an account of the organisation; registered by {maker}"),
            ),
        };
        findings.push(Finding {
            account: registration.account.clone(),
            account_name: None,
            account_status: None,
            verdict,
            detail,
            registration: Some(registration.clone()),
            instance: None,
        });
    }
    findings
}

/// Sort key of a registration's maker: this StackSet's, another Registrar stack's, anyone's.
fn rank(made_by: &MadeBy, stack_set: &str) -> u8 {
    match made_by {
        _ if made_by.is_stack_set(stack_set) => 0,
        MadeBy::Registrar(_) => 1,
        MadeBy::Someone => 2,
    }
}

/// The findings of one account of the organisation: its verdict, then a line for each further
/// registration of it.
fn judge_account(
    account: &Account,
    instances: &[&Instance],
    registrations: &[&Listed],
    expected: &Expected,
    management: Option<&String>,
) -> Vec<Finding> {
    let primary = registrations.first().copied();
    let failing = instances.iter().find(|i| !i.is_current()).copied();
    let instance = failing.or(instances.first().copied());
    let (verdict, detail) = if !account.is_active() {
        let status = account.status.as_str();
        match primary.map(|r| &r.made_by) {
            Some(MadeBy::Someone) => (
                Verdict::Foreign,
                format!("account {status}; registered by someone else"),
            ),
            Some(maker) => (
                Verdict::Orphan,
                format!("account {status}; registered by {maker}"),
            ),
            None => (Verdict::Ok, format!("account {status}; nothing registered")),
        }
    } else if let Some(failing) = failing {
        (Verdict::Failed, failing.describe())
    } else {
        match primary {
            None if Some(&account.id) == management => (
                Verdict::Ok,
                "the management account, which service-managed StackSets never deploy to; nothing registered".to_owned(),
            ),
            None if instances.is_empty() => (
                Verdict::Missing,
                "not registered, and no stack instance of the StackSet".to_owned(),
            ),
            None => (
                Verdict::Missing,
                "not registered, though its stack instance is current".to_owned(),
            ),
            Some(r) if r.made_by == MadeBy::Someone => {
                (Verdict::Foreign, "registered by someone else".to_owned())
            }
            Some(r) => {
                let mut differences = differences(r, expected);
                if instances.is_empty() {
                    differences.push("no stack instance of the StackSet".to_owned());
                }
                if let (true, Some(why)) = (differences.is_empty(), &r.unhealthy) {
                    (Verdict::Unhealthy, format!("registered by {}, but {why}", r.made_by))
                } else if differences.is_empty() {
                    (Verdict::Ok, format!("registered by {}", r.made_by))
                } else {
                    (Verdict::Drift, differences.join("; "))
                }
            }
        }
    };
    let mut findings = vec![Finding {
        account: account.id.clone(),
        account_name: Some(account.name.clone()),
        account_status: Some(account.status.clone()),
        verdict,
        detail,
        registration: primary.cloned(),
        instance: instance.cloned(),
    }];
    for extra in registrations.iter().skip(1) {
        let (verdict, detail) = match (&extra.made_by, account.is_active()) {
            (MadeBy::Someone, _) => (
                Verdict::Foreign,
                "a second registration, by someone else".to_owned(),
            ),
            (maker, true) => (Verdict::Drift, format!("a second registration, by {maker}")),
            (maker, false) => (
                Verdict::Orphan,
                format!("account {}; registered by {maker}", account.status),
            ),
        };
        findings.push(Finding {
            account: account.id.clone(),
            account_name: Some(account.name.clone()),
            account_status: Some(account.status.clone()),
            verdict,
            detail,
            registration: Some((*extra).clone()),
            instance: None,
        });
    }
    findings
}

/// How a Registrar registration differs from what the StackSet says, one phrase each.
fn differences(registration: &Listed, expected: &Expected) -> Vec<String> {
    let mut found = Vec::new();
    match registration.role_name.as_deref() {
        // The StackSet names no role: its accounts register with access keys.
        _ if expected.role_name.is_empty() => {}
        Some(role) if role == expected.role_name => {}
        Some(role) => found.push(format!(
            "role {role}, the StackSet says {}",
            expected.role_name
        )),
        None => found.push(format!(
            "no role bound yet, the StackSet says {}",
            expected.role_name
        )),
    }
    if let Some(partition) = registration.partition.as_deref()
        && partition != expected.partition
    {
        found.push(format!(
            "partition {partition}, the StackSet's is {}",
            expected.partition
        ));
    }
    for (name, want) in &expected.settings {
        if let Some(have) = registration.settings.get(name)
            && have != want
        {
            found.push(format!("{name} {have}, the StackSet says {want}"));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

    fn account(id: &str, status: &str) -> Account {
        Account {
            id: id.into(),
            name: format!("name-{id}"),
            status: status.into(),
        }
    }

    fn instance(account: &str, region: &str, status: &str, detailed: &str) -> Instance {
        Instance {
            account: account.into(),
            region: region.into(),
            status: status.into(),
            detailed_status: Some(detailed.into()),
            reason: (detailed == "FAILED").then(|| "Datadog refused POST accounts".into()),
        }
    }

    fn ours(account: &str) -> Listed {
        Listed {
            id: format!("r-{account}"),
            account: account.into(),
            partition: Some("aws".into()),
            role_name: Some("DatadogIntegrationRole".into()),
            made_by: MadeBy::Registrar(Some(format!("us-east-1/stackset-registrar-{UUID}"))),
            binding_scope: None,
            settings: BTreeMap::from([("metric_collection".into(), "true".into())]),
            unhealthy: None,
        }
    }

    fn someones(account: &str) -> Listed {
        Listed {
            id: format!("f-{account}"),
            made_by: MadeBy::Someone,
            ..ours(account)
        }
    }

    fn expected() -> Expected {
        Expected {
            stack_set: "registrar".into(),
            home_region: Some("us-east-1".into()),
            partition: "aws".into(),
            role_name: "DatadogIntegrationRole".into(),
            settings: BTreeMap::from([("metric_collection".into(), "true".into())]),
        }
    }

    /// The one finding of account `a` with `instances` and `registrations`.
    fn judge(a: Account, instances: Vec<Instance>, registrations: Vec<Listed>) -> Vec<Finding> {
        let inputs = Inputs {
            organisation: HashSet::from([a.id.clone()]),
            accounts: vec![a],
            instances,
            registrations,
            management: None,
        };
        audit(&inputs, &expected())
    }

    fn verdicts(findings: &[Finding]) -> Vec<Verdict> {
        findings.iter().map(|f| f.verdict).collect()
    }

    const A: &str = "111111111111";

    fn current() -> Vec<Instance> {
        vec![instance(A, "us-east-1", "CURRENT", "SUCCEEDED")]
    }

    #[test]
    fn an_account_registered_as_the_stack_set_says_is_ok() {
        let found = judge(account(A, "ACTIVE"), current(), vec![ours(A)]);
        assert_eq!(verdicts(&found), [Verdict::Ok]);
        assert!(found[0].detail.contains("stackset-registrar-"), "{found:?}");
        assert!(!found[0].is_prunable());
    }

    #[test]
    fn an_unregistered_account_is_missing_with_or_without_an_instance() {
        let found = judge(account(A, "ACTIVE"), vec![], vec![]);
        assert_eq!(verdicts(&found), [Verdict::Missing]);
        assert!(found[0].detail.contains("no stack instance"));
        let found = judge(account(A, "ACTIVE"), current(), vec![]);
        assert_eq!(verdicts(&found), [Verdict::Missing]);
        assert!(found[0].detail.contains("is current"));
    }

    #[test]
    fn the_management_account_is_not_missing_when_nothing_registers_it() {
        let inputs = Inputs {
            organisation: HashSet::from([A.to_owned()]),
            accounts: vec![account(A, "ACTIVE")],
            management: Some(A.to_owned()),
            ..Inputs::default()
        };
        let found = audit(&inputs, &expected());
        assert_eq!(verdicts(&found), [Verdict::Ok]);
        assert!(found[0].detail.contains("management account"));
        let registered = Inputs {
            registrations: vec![someones(A)],
            ..inputs
        };
        assert_eq!(
            verdicts(&audit(&registered, &expected())),
            [Verdict::Foreign]
        );
    }

    #[test]
    fn an_instance_that_is_not_current_fails_with_its_reason_whatever_is_registered() {
        for registrations in [vec![], vec![ours(A)], vec![someones(A)]] {
            let failed = vec![instance(A, "us-east-1", "OUTDATED", "FAILED")];
            let found = judge(account(A, "ACTIVE"), failed, registrations);
            assert_eq!(verdicts(&found), [Verdict::Failed]);
            assert_eq!(
                found[0].detail,
                "stack instance in us-east-1 is OUTDATED/FAILED: Datadog refused POST accounts"
            );
        }
        let inoperable = Instance {
            detailed_status: None,
            ..instance(A, "us-east-1", "INOPERABLE", "")
        };
        let found = judge(account(A, "ACTIVE"), vec![inoperable], vec![ours(A)]);
        assert_eq!(verdicts(&found), [Verdict::Failed]);
    }

    #[test]
    fn only_the_home_regions_instance_counts() {
        let instances = vec![
            instance(A, "eu-west-1", "OUTDATED", "FAILED"),
            instance(A, "us-east-1", "CURRENT", "SUCCEEDED"),
        ];
        let found = judge(account(A, "ACTIVE"), instances.clone(), vec![ours(A)]);
        assert_eq!(verdicts(&found), [Verdict::Ok]);
        let inputs = Inputs {
            organisation: HashSet::from([A.to_owned()]),
            accounts: vec![account(A, "ACTIVE")],
            instances,
            registrations: vec![ours(A)],
            management: None,
        };
        let every_region = Expected {
            home_region: None,
            ..expected()
        };
        assert_eq!(
            verdicts(&audit(&inputs, &every_region)),
            [Verdict::Failed],
            "without a home region every instance counts"
        );
    }

    #[test]
    fn someone_elses_registration_is_foreign_and_never_prunable() {
        let found = judge(account(A, "ACTIVE"), current(), vec![someones(A)]);
        assert_eq!(verdicts(&found), [Verdict::Foreign]);
        assert!(!found[0].is_prunable());
        let closed = judge(account(A, "SUSPENDED"), current(), vec![someones(A)]);
        assert_eq!(verdicts(&closed), [Verdict::Foreign]);
        assert!(!closed[0].is_prunable());
    }

    #[test]
    fn registrar_registrations_of_closed_accounts_are_prunable_orphans() {
        for status in ["SUSPENDED", "PENDING_CLOSURE"] {
            let found = judge(account(A, status), current(), vec![ours(A)]);
            assert_eq!(verdicts(&found), [Verdict::Orphan], "{status}");
            assert!(found[0].detail.contains(status));
            assert!(found[0].is_prunable());
        }
        let nothing = judge(account(A, "SUSPENDED"), vec![], vec![]);
        assert_eq!(verdicts(&nothing), [Verdict::Ok]);
        assert!(nothing[0].detail.contains("nothing registered"));
    }

    #[test]
    fn registrations_outside_the_organisation_are_orphans_or_foreign() {
        let gone = "222222222222";
        let legacy = Listed {
            made_by: MadeBy::Registrar(None),
            id: "legacy".into(),
            ..ours("333333333333")
        };
        let inputs = Inputs {
            organisation: HashSet::from([A.to_owned(), "444444444444".to_owned()]),
            accounts: vec![account(A, "ACTIVE")],
            instances: current(),
            registrations: vec![ours(gone), someones(gone), legacy, ours("444444444444")],
            management: None,
        };
        let found = audit(&inputs, &expected());
        let lines: Vec<(&str, Verdict, bool)> = found
            .iter()
            .map(|f| (f.account.as_str(), f.verdict, f.is_prunable()))
            .collect();
        assert_eq!(
            lines,
            [
                (A, Verdict::Missing, false),
                (gone, Verdict::Foreign, false),
                (gone, Verdict::Orphan, true),
                ("333333333333", Verdict::Orphan, true),
            ],
            "an account of the organisation outside the audited OUs is left alone"
        );
        assert!(
            found[1]
                .detail
                .contains("not an account of the organisation")
        );
    }

    #[test]
    fn drift_names_each_difference() {
        let mut drifted = ours(A);
        drifted.role_name = Some("OtherRole".into());
        drifted.partition = Some("aws-us-gov".into());
        drifted
            .settings
            .insert("metric_collection".into(), "false".into());
        let found = judge(account(A, "ACTIVE"), current(), vec![drifted]);
        assert_eq!(verdicts(&found), [Verdict::Drift]);
        assert_eq!(
            found[0].detail,
            "role OtherRole, the StackSet says DatadogIntegrationRole; partition aws-us-gov, the StackSet's is aws; metric_collection false, the StackSet says true"
        );
        let mut unbound = ours(A);
        unbound.role_name = None;
        unbound.settings.clear();
        let found = judge(account(A, "ACTIVE"), current(), vec![unbound]);
        assert_eq!(
            found[0].detail,
            "no role bound yet, the StackSet says DatadogIntegrationRole"
        );
        let found = judge(account(A, "ACTIVE"), vec![], vec![ours(A)]);
        assert_eq!(verdicts(&found), [Verdict::Drift]);
        assert_eq!(found[0].detail, "no stack instance of the StackSet");
    }

    #[test]
    fn a_stack_set_of_access_key_accounts_expects_no_role() {
        let mut keys = ours(A);
        keys.role_name = None;
        let inputs = Inputs {
            organisation: HashSet::from([A.to_owned()]),
            accounts: vec![account(A, "ACTIVE")],
            instances: current(),
            registrations: vec![keys],
            management: None,
        };
        let no_role = Expected {
            role_name: String::new(),
            ..expected()
        };
        assert_eq!(verdicts(&audit(&inputs, &no_role)), [Verdict::Ok]);
    }

    #[test]
    fn an_unhealthy_registration_has_its_own_verdict_and_drift_comes_first() {
        let sick = Listed {
            unhealthy: Some("monitoring configuration c reports ERROR".into()),
            ..ours(A)
        };
        let found = judge(account(A, "ACTIVE"), current(), vec![sick.clone()]);
        assert_eq!(verdicts(&found), [Verdict::Unhealthy]);
        assert!(
            found[0]
                .detail
                .ends_with("but monitoring configuration c reports ERROR"),
            "{}",
            found[0].detail
        );
        let drifted = Listed {
            role_name: Some("Other".into()),
            ..sick
        };
        let found = judge(account(A, "ACTIVE"), current(), vec![drifted]);
        assert_eq!(verdicts(&found), [Verdict::Drift]);
    }

    #[test]
    fn the_stack_sets_registration_is_judged_first_and_others_get_their_own_line() {
        let other_stack = Listed {
            id: "a-other".into(),
            made_by: MadeBy::Registrar(Some("eu-west-1/hand-deployed".into())),
            ..ours(A)
        };
        let found = judge(
            account(A, "ACTIVE"),
            current(),
            vec![someones(A), other_stack.clone(), ours(A)],
        );
        assert_eq!(
            verdicts(&found),
            [Verdict::Ok, Verdict::Drift, Verdict::Foreign]
        );
        assert_eq!(found[0].registration.as_ref().unwrap().id, ours(A).id);
        assert_eq!(found[1].registration.as_ref().unwrap().id, "a-other");
        let closed = judge(account(A, "SUSPENDED"), vec![], vec![ours(A), other_stack]);
        assert_eq!(verdicts(&closed), [Verdict::Orphan, Verdict::Orphan]);
        assert!(closed.iter().all(Finding::is_prunable));
    }
}
