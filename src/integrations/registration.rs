//! The vocabulary every integration speaks: what a registration should be ([`Desired`]), what
//! the vendor holds ([`Registration`]) and who made it ([`Owner`]), and what a binding or a
//! delete came to.

use std::collections::BTreeMap;
use std::fmt;

use crate::identity::Identity;

/// The stack a registration belongs to: written into the vendor's ownership mark so that a
/// retried Create recognises its own registration and another stack's is never taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackMark {
    pub region: String,
    pub stack_name: String,
}

impl fmt::Display for StackMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.region, self.stack_name)
    }
}

/// What the registration should be: the account, the role the vendor assumes, and its owner.
#[derive(Debug, Clone)]
pub struct Desired {
    pub identity: Identity,
    pub role_name: String,
    pub stack: StackMark,
    /// The request whose unconfirmed-Create marker this event takes over (an Update of a
    /// `registrar:create-unconfirmed:<request>` id, which acts as Create): vendors mark what
    /// the event ends up owning with it, so that the marker's later Delete keeps it.
    pub claims: Option<String>,
}

/// Who made a registration, judged by the vendor's ownership mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This stack (a retried or repeated Create, or a registration it adopted).
    ThisStack,
    /// Another Registrar stack, e.g. the same StackSet in a second region.
    OtherStack(String),
    /// Someone else: a console user, Terraform, the vendor's own template.
    Someone,
}

/// A registration at the vendor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The vendor's id for it (Datadog: the account config UUID).
    pub id: String,
    /// The external id the vendor's role assumption must present.
    pub external_id: String,
    pub owner: Owner,
    /// The request that created it, where the vendor records one (Datadog registrations made
    /// by the previous release carry it; nothing records it any more).
    pub created_by: Option<String>,
    /// The request whose unconfirmed-Create marker this registration was claimed from (see
    /// [`Desired::claims`]), while the mark is still there.
    pub claimed_by: Option<String>,
    /// Why the vendor cannot make this registration the desired one, whatever `OnConflict`
    /// says (e.g. Datadog cannot switch an access-key registration to a role).
    pub unusable: Option<Unusable>,
}

impl Registration {
    /// A registration of this stack's whose external id is its id (Dynatrace's connections).
    pub(crate) fn own(id: &str) -> Registration {
        Registration {
            id: id.to_owned(),
            external_id: id.to_owned(),
            owner: Owner::ThisStack,
            created_by: None,
            claimed_by: None,
            unusable: None,
        }
    }
}

/// A registration the vendor cannot bring to the desired form: a conflict Registrar cannot
/// resolve, only report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// How it is registered, after "AWS account `<id>` is already registered with `<vendor>`".
    pub how: String,
    /// What the person reading the stack's events can do about it.
    pub remedy: String,
}

/// What a role binding made: the registration it completes, its scope (the part of the
/// binding's PhysicalResourceId the vendor defines, without `:`; `None` when there is none)
/// and attributes for the resource's `Data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub registration: Registration,
    pub scope: Option<String>,
    pub data: BTreeMap<String, String>,
}

/// The result of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    AlreadyGone,
}
