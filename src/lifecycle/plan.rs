//! The plan: what an event asks Registrar to do, decided once from the request type, the
//! incoming PhysicalResourceId and the `Phase` property, before any I/O.
//!
//! - Create registers, binds or attaches permissions, per `Phase`.
//! - Update of a registration updates it (in place, or as a replacement when it moved: see
//!   [`stays`]); an Update of any other id acts as Create, and one of an unconfirmed Create's
//!   marker claims what it ends up owning (see `integrations::Desired::claims`).
//! - Delete goes by the id: a registration, binding or role's permissions are removed where
//!   the id says, whatever the properties now say; a failed Create's marker names nothing. An
//!   id Registrar never answered (missing, made up by CloudFormation, an unconfirmed Create's
//!   marker) may hide what a Create made: a sweep looks for it, and never fails the Delete
//!   ([`Plan::answer`], the one place that rule lives).

use crate::cfn::{Outcome, RequestType, Status};
use crate::identity::Identity;
use crate::integrations::Kind;
use crate::physical_id::{BindingRef, PermissionsRef, PhysicalId, RegistrationRef};
use crate::props::{Phase, PropertyError};

/// What to do for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Work on the vendor's registration or its role binding.
    Integration(Step),
    /// Work on the vendor's permission lists on its role (`Phase: role-permissions`).
    Permissions(PermissionsStep),
    /// Nothing of Registrar's to do: answer SUCCESS without a call.
    Nothing,
    /// The properties cannot say what to do: answer FAILED with why.
    Refuse(PropertyError),
}

/// A step on the vendor's registration or its role binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Make sure the account has this stack's registration. `claims`: the request of the
    /// unconfirmed Create's marker an Update takes over.
    Register { claims: Option<String> },
    /// Bring the registration the id names to the properties.
    Update(RegistrationRef),
    /// Remove the registration the id names.
    Deregister(RegistrationRef),
    /// Bind the role to `registration_id`, continuing the binding the id names, if any.
    Bind {
        registration_id: String,
        continues: Option<BindingRef>,
    },
    /// Undo the binding the id names.
    Unbind(BindingRef),
    /// Remove this stack's registration, if an unanswered Create made one. `made_by`: the
    /// request of an unconfirmed Create's marker; `None` for an id CloudFormation made up.
    Sweep { made_by: Option<String> },
}

/// A step of the role-permissions resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PermissionsStep {
    /// Write the vendor's lists on the role the properties name.
    Attach,
    /// Remove the policies of ours from the role the id names.
    Remove(PermissionsRef),
    /// Remove what an unanswered Create wrote on the role the properties name.
    Sweep,
}

/// Decides what an event does. `phase` is the `Phase` property, or why it cannot be read.
pub(crate) fn plan(
    request_type: RequestType,
    incoming: Option<&PhysicalId>,
    phase: Result<&Phase, &PropertyError>,
) -> Plan {
    use PhysicalId as Id;
    match (request_type, incoming) {
        (RequestType::Delete, Some(Id::Registration(r))) => {
            Plan::Integration(Step::Deregister(r.clone()))
        }
        (RequestType::Delete, Some(Id::Binding(b))) => Plan::Integration(Step::Unbind(b.clone())),
        (RequestType::Delete, Some(Id::Permissions(p))) => {
            Plan::Permissions(PermissionsStep::Remove(p.clone()))
        }
        (RequestType::Delete, Some(Id::CreateFailed)) => Plan::Nothing,
        (RequestType::Delete, unanswered) => {
            let made_by = match unanswered {
                Some(Id::CreateUnconfirmed { request_id }) => Some(request_id.clone()),
                _ => None,
            };
            match phase {
                Ok(Phase::Registration) => Plan::Integration(Step::Sweep { made_by }),
                Ok(Phase::RolePermissions) => Plan::Permissions(PermissionsStep::Sweep),
                // A binding's Create makes nothing before it answers, and a Create whose
                // Phase was unreadable made nothing at all.
                Ok(Phase::RoleBinding { .. }) | Err(_) => Plan::Nothing,
            }
        }
        (_, _) => match phase {
            Err(e) => Plan::Refuse(e.clone()),
            Ok(Phase::RolePermissions) => Plan::Permissions(PermissionsStep::Attach),
            Ok(Phase::RoleBinding { registration_id }) => Plan::Integration(Step::Bind {
                registration_id: registration_id.clone(),
                continues: match (request_type, incoming) {
                    (RequestType::Update, Some(Id::Binding(b))) => Some(b.clone()),
                    _ => None,
                },
            }),
            Ok(Phase::Registration) => Plan::Integration(match (request_type, incoming) {
                (RequestType::Update, Some(Id::Registration(r))) => Step::Update(r.clone()),
                (RequestType::Update, Some(Id::CreateUnconfirmed { request_id })) => {
                    Step::Register {
                        claims: Some(request_id.clone()),
                    }
                }
                _ => Step::Register { claims: None },
            }),
        },
    }
}

impl Plan {
    /// The integration the PhysicalResourceId names, for a plan that must go where the id
    /// says (a Delete); `None`: the `Vendor` property says.
    pub(crate) fn named_integration(&self) -> Option<Kind> {
        match self {
            Plan::Integration(Step::Deregister(r)) => Some(r.vendor),
            Plan::Integration(Step::Unbind(b)) => Some(b.registration.vendor),
            Plan::Permissions(PermissionsStep::Remove(p)) => Some(p.vendor),
            _ => None,
        }
    }

    /// Whether this is a Delete of an id Registrar never answered.
    fn is_sweep(&self) -> bool {
        matches!(
            self,
            Plan::Integration(Step::Sweep { .. }) | Plan::Permissions(PermissionsStep::Sweep)
        )
    }

    /// The answer to send for `outcome`. A Delete of an id Registrar never answered must not
    /// block the stack, whatever stopped the sweep (bad properties, an unreadable secret, the
    /// deadline, a panic): it is answered SUCCESS, and the log says what was left undone.
    pub(crate) fn answer(&self, outcome: Outcome) -> Outcome {
        if !self.is_sweep() || outcome.status == Status::Success {
            return outcome;
        }
        tracing::warn!(reason = ?outcome.reason, "could not finish looking for what an unanswered Create left; answering SUCCESS (if it left something, it stays)");
        Outcome::success(outcome.physical_resource_id, Default::default())
    }
}

/// Whether `registration` is where the properties want it: the same integration, location,
/// account and partition. If not, an Update is a replacement (a new registration and id;
/// CloudFormation then deletes the old one).
pub(crate) fn stays(
    registration: &RegistrationRef,
    kind: Kind,
    location: &str,
    identity: &Identity,
) -> bool {
    registration.vendor == kind
        && registration.location == location
        && registration.partition == identity.partition
        && registration.account == identity.account
}

#[cfg(test)]
mod tests {
    //! Every combination of request type, kind of incoming id and `Phase`, spelled out.

    use super::*;
    use crate::identity::{AccountId, Partition};

    fn registration() -> RegistrationRef {
        RegistrationRef {
            vendor: Kind::Dynatrace,
            location: "abc12345.apps.dynatrace.com".into(),
            partition: Partition::Aws,
            account: AccountId::parse("123456789012").unwrap(),
            id: "conn-1".into(),
        }
    }

    /// One id of each kind a PhysicalResourceId can be.
    fn incoming(kind: &str) -> Option<PhysicalId> {
        Some(match kind {
            "none" => return None,
            "registration" => PhysicalId::Registration(registration()),
            "binding" => PhysicalId::Binding(BindingRef {
                registration: registration(),
                scope: Some("own~cfg-1".into()),
            }),
            "permissions" => PhysicalId::Permissions(PermissionsRef {
                vendor: Kind::Datadog,
                partition: Partition::Aws,
                account: AccountId::parse("123456789012").unwrap(),
                role: "DatadogIntegrationRole".into(),
            }),
            "create-failed" => PhysicalId::CreateFailed,
            "unconfirmed" => PhysicalId::CreateUnconfirmed {
                request_id: "req-0".into(),
            },
            "foreign" => PhysicalId::Foreign("2026/11/21/[$LATEST]abcdef".into()),
            other => panic!("no id kind {other}"),
        })
    }

    /// A plan in a word or two, for the table.
    fn label(plan: &Plan) -> String {
        match plan {
            Plan::Integration(Step::Register { claims: None }) => "register".into(),
            Plan::Integration(Step::Register { claims: Some(r) }) => {
                format!("register claiming {r}")
            }
            Plan::Integration(Step::Update(r)) => format!("update {}", r.id),
            Plan::Integration(Step::Deregister(r)) => format!("deregister {}", r.id),
            Plan::Integration(Step::Bind {
                registration_id,
                continues,
            }) => match continues {
                Some(b) => format!("bind {registration_id} continuing {}", b.registration.id),
                None => format!("bind {registration_id}"),
            },
            Plan::Integration(Step::Unbind(b)) => format!("unbind {}", b.registration.id),
            Plan::Integration(Step::Sweep { made_by: None }) => "sweep".into(),
            Plan::Integration(Step::Sweep { made_by: Some(r) }) => format!("sweep made by {r}"),
            Plan::Permissions(PermissionsStep::Attach) => "attach permissions".into(),
            Plan::Permissions(PermissionsStep::Remove(p)) => {
                format!("remove permissions of {}", p.role)
            }
            Plan::Permissions(PermissionsStep::Sweep) => "sweep permissions".into(),
            Plan::Nothing => "nothing".into(),
            Plan::Refuse(_) => "refuse".into(),
        }
    }

    #[test]
    fn every_combination_has_its_plan() {
        let unreadable = PropertyError::Invalid {
            name: "Phase",
            value: "later".into(),
            expected: "registration, role-binding or role-permissions".into(),
        };
        let phases = [
            Ok(Phase::Registration),
            Ok(Phase::RoleBinding {
                registration_id: "conn-2".into(),
            }),
            Ok(Phase::RolePermissions),
            Err(unreadable),
        ];
        use RequestType::{Create, Delete, Update};
        // request, incoming id: the plan for Phase registration, role-binding,
        // role-permissions, and for a Phase that cannot be read.
        #[rustfmt::skip]
        let table: [(RequestType, &str, [&str; 4]); 21] = [
            (Create, "none",          ["register", "bind conn-2", "attach permissions", "refuse"]),
            (Create, "registration",  ["register", "bind conn-2", "attach permissions", "refuse"]),
            (Create, "binding",       ["register", "bind conn-2", "attach permissions", "refuse"]),
            (Create, "permissions",   ["register", "bind conn-2", "attach permissions", "refuse"]),
            (Create, "create-failed", ["register", "bind conn-2", "attach permissions", "refuse"]),
            (Create, "unconfirmed",   ["register", "bind conn-2", "attach permissions", "refuse"]),
            (Create, "foreign",       ["register", "bind conn-2", "attach permissions", "refuse"]),
            (Update, "none",          ["register", "bind conn-2", "attach permissions", "refuse"]),
            (Update, "registration",  ["update conn-1", "bind conn-2", "attach permissions", "refuse"]),
            (Update, "binding",       ["register", "bind conn-2 continuing conn-1", "attach permissions", "refuse"]),
            (Update, "permissions",   ["register", "bind conn-2", "attach permissions", "refuse"]),
            (Update, "create-failed", ["register", "bind conn-2", "attach permissions", "refuse"]),
            (Update, "unconfirmed",   ["register claiming req-0", "bind conn-2", "attach permissions", "refuse"]),
            (Update, "foreign",       ["register", "bind conn-2", "attach permissions", "refuse"]),
            (Delete, "none",          ["sweep", "nothing", "sweep permissions", "nothing"]),
            (Delete, "registration",  ["deregister conn-1"; 4]),
            (Delete, "binding",       ["unbind conn-1"; 4]),
            (Delete, "permissions",   ["remove permissions of DatadogIntegrationRole"; 4]),
            (Delete, "create-failed", ["nothing"; 4]),
            (Delete, "unconfirmed",   ["sweep made by req-0", "nothing", "sweep permissions", "nothing"]),
            (Delete, "foreign",       ["sweep", "nothing", "sweep permissions", "nothing"]),
        ];
        for (request_type, id, expected) in table {
            for (phase, expected) in phases.iter().zip(expected) {
                let plan = plan(request_type, incoming(id).as_ref(), phase.as_ref());
                assert_eq!(
                    label(&plan),
                    expected,
                    "{request_type} of a {id} id with Phase {phase:?}"
                );
            }
        }
    }

    #[test]
    fn a_delete_goes_where_its_id_says() {
        let delete = |id: &str| {
            plan(
                RequestType::Delete,
                incoming(id).as_ref(),
                Ok(&Phase::Registration),
            )
            .named_integration()
        };
        assert_eq!(delete("registration"), Some(Kind::Dynatrace));
        assert_eq!(delete("binding"), Some(Kind::Dynatrace));
        assert_eq!(delete("permissions"), Some(Kind::Datadog));
        for id in ["none", "unconfirmed", "foreign", "create-failed"] {
            assert_eq!(delete(id), None, "{id}");
        }
        let update = plan(
            RequestType::Update,
            incoming("registration").as_ref(),
            Ok(&Phase::Registration),
        );
        assert_eq!(
            update.named_integration(),
            None,
            "an Update goes where the properties say"
        );
    }

    #[test]
    fn only_a_sweep_is_answered_success_whatever_happened() {
        let failed = || Outcome::failed("2026/11/21/[$LATEST]abcdef", "the secret does not exist");
        let sweeps = [
            plan(RequestType::Delete, None, Ok(&Phase::Registration)),
            plan(
                RequestType::Delete,
                incoming("unconfirmed").as_ref(),
                Ok(&Phase::Registration),
            ),
            plan(
                RequestType::Delete,
                incoming("foreign").as_ref(),
                Ok(&Phase::RolePermissions),
            ),
        ];
        for sweep in sweeps {
            let answer = sweep.answer(failed());
            assert_eq!(answer.status, Status::Success, "{sweep:?}");
            assert_eq!(answer.physical_resource_id, "2026/11/21/[$LATEST]abcdef");
        }
        let deregister = plan(
            RequestType::Delete,
            incoming("registration").as_ref(),
            Ok(&Phase::Registration),
        );
        assert_eq!(deregister.answer(failed()).status, Status::Failed);
        let create = plan(RequestType::Create, None, Ok(&Phase::Registration));
        assert_eq!(create.answer(failed()).status, Status::Failed);
    }

    #[test]
    fn a_registration_stays_only_where_everything_matches() {
        let r = registration();
        let identity = Identity {
            account: r.account.clone(),
            partition: Partition::Aws,
        };
        assert!(stays(&r, Kind::Dynatrace, &r.location, &identity));
        assert!(!stays(&r, Kind::Datadog, &r.location, &identity));
        assert!(!stays(
            &r,
            Kind::Dynatrace,
            "xyz.apps.dynatrace.com",
            &identity
        ));
        let other_account = Identity {
            account: AccountId::parse("210987654321").unwrap(),
            ..identity.clone()
        };
        assert!(!stays(&r, Kind::Dynatrace, &r.location, &other_account));
        let other_partition = Identity {
            partition: Partition::AwsUsGov,
            ..identity
        };
        assert!(!stays(&r, Kind::Dynatrace, &r.location, &other_partition));
    }
}
