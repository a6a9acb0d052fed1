//! The monitoring vendors, each one file behind the [`Vendor`] trait.
//!
//! A vendor knows how to find, create, update and delete the registration of one AWS account,
//! and how to tell whether a registration is this stack's (the ownership mark). It knows
//! nothing of CloudFormation: [`crate::lifecycle`] decides what to call and when.

pub mod datadog;
pub mod dynatrace;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use reqwest::Url;

use crate::http::{GaveUp, VendorHttp};
use crate::identity::{Identity, Partition};
use crate::props::{Properties, PropertyError};
use crate::secrets::{SecretError, SecretJson};

/// Which vendor a resource registers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VendorKind {
    Datadog,
    Dynatrace,
}

impl VendorKind {
    /// The `Vendor` property's value and the PhysicalResourceId's vendor field.
    pub fn as_str(self) -> &'static str {
        match self {
            VendorKind::Datadog => "datadog",
            VendorKind::Dynatrace => "dynatrace",
        }
    }

    /// The vendor's name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            VendorKind::Datadog => "Datadog",
            VendorKind::Dynatrace => "Dynatrace",
        }
    }

    pub fn parse(text: &str) -> Option<VendorKind> {
        [VendorKind::Datadog, VendorKind::Dynatrace]
            .into_iter()
            .find(|v| v.as_str() == text)
    }
}

impl fmt::Display for VendorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

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
    /// The event's request id (as `physical_id::marker_request_id` writes it).
    pub request_id: String,
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

/// A registration the vendor cannot bring to the desired form: a conflict Registrar cannot
/// resolve, only report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// How it is registered, after "AWS account <id> is already registered with <vendor>".
    pub how: String,
    /// What the person reading the stack's events can do about it.
    pub remedy: String,
}

/// What a role binding made: the registration it completes, its scope (the part of the
/// binding's PhysicalResourceId the vendor defines, without `:`; `-` for none) and attributes
/// for the resource's `Data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub registration: Registration,
    pub scope: String,
    pub data: BTreeMap<String, String>,
}

/// The result of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    AlreadyGone,
}

/// A vendor call that did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VendorError {
    /// Transient failures (429, 5xx, timeouts) lasted until the deadline.
    #[error("{0}. Retrying the stack operation is safe.")]
    GaveUp(#[from] GaveUp),
    /// The vendor refused the call; retrying will not help until something is fixed.
    #[error("{vendor} refused {call} with HTTP {status}: {message}.{hint}")]
    Refused {
        vendor: &'static str,
        call: String,
        status: u16,
        message: String,
        hint: String,
    },
    /// The vendor answered with something that cannot be read.
    #[error(
        "{vendor} answered {call} with a body Registrar cannot read ({detail}). Retrying the stack operation is safe."
    )]
    Unreadable {
        vendor: &'static str,
        call: String,
        detail: String,
    },
    /// A create found the account registered meanwhile (a race with another writer).
    #[error("{vendor} says the account is already registered")]
    AlreadyExists { vendor: &'static str },
    /// The vendor cannot serve this combination (e.g. a site in a partition it does not reach).
    #[error("{0}")]
    Unsupported(String),
}

impl VendorError {
    /// Whether the failure was transient (retrying later may succeed).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            VendorError::GaveUp(_) | VendorError::Unreadable { .. }
        )
    }
}

/// One vendor's API, for the account of one event.
pub trait Vendor: Sized + Send + Sync + 'static {
    const KIND: VendorKind;
    /// What the secret must look like, for error messages.
    const SECRET_SHAPE: &'static str;
    /// Whether the vendor refuses a second registration of one account with
    /// [`VendorError::AlreadyExists`]. Then a Create registers first and looks only when told
    /// the account is registered (one call on the happy path); otherwise it must look first,
    /// or it could register the account twice.
    const REFUSES_DUPLICATES: bool = false;
    /// The vendor's own resource properties.
    type Settings: Clone + Send + Sync + 'static;

    /// Reads the vendor's properties.
    fn settings(props: &Properties) -> Result<Self::Settings, PropertyError>;
    /// Where the registration lives (Datadog site, Dynatrace environment): a change is a
    /// replacement, and it is part of the PhysicalResourceId.
    fn location(settings: &Self::Settings) -> String;
    /// The settings pointed at `location` (from a PhysicalResourceId); `None` if unusable.
    fn relocate(settings: Self::Settings, location: &str) -> Option<Self::Settings>;
    /// The vendor's AWS account that the role must trust, for the member's partition.
    fn principal_account_id(
        settings: &Self::Settings,
        partition: Partition,
    ) -> Result<String, VendorError>;
    /// A client for this event, with the keys from the secret.
    fn connect(
        settings: Self::Settings,
        secret: &SecretJson,
        desired: Desired,
        http: VendorHttp,
        endpoint: Option<&Url>,
    ) -> Result<Self, SecretError>;

    /// The account's registration, if there is one.
    fn find(&self) -> impl Future<Output = Result<Option<Registration>, VendorError>> + Send;
    /// Registers the account; [`VendorError::AlreadyExists`] if someone did meanwhile.
    fn create(&self) -> impl Future<Output = Result<Registration, VendorError>> + Send;
    /// Brings registration `id` to the desired settings and marks it as this stack's;
    /// `None` if it no longer exists.
    fn update(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Registration>, VendorError>> + Send;
    /// Deletes registration `id`.
    fn delete(&self, id: &str) -> impl Future<Output = Result<Removal, VendorError>> + Send;

    /// Removes the claim mark (see [`Registration::claimed_by`]) from registration `id`, and
    /// nothing else. Vendors that never write one have nothing to remove.
    fn release_claim(&self, _id: &str) -> impl Future<Output = Result<(), VendorError>> + Send {
        async { Ok(()) }
    }

    /// Attributes the vendor learned about `registration` while handling this event, added to
    /// the resource's `Data` (for example who owns it at the vendor). None by default.
    fn attributes(&self, _registration: &Registration) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Binds the role `role_arn` to registration `id` (idempotent) and completes it per the
    /// settings, for vendors whose registration needs the role's ARN once the role exists
    /// (`Phase: role-binding`). `previous` is the scope of the binding this one updates in
    /// place (same registration), if any. Vendors without a binding step refuse.
    fn bind(
        &self,
        _id: &str,
        _role_arn: &str,
        _previous: Option<&str>,
    ) -> impl Future<Output = Result<Bound, VendorError>> + Send {
        async { Err(no_binding_step(Self::KIND)) }
    }

    /// Undoes what [`Vendor::bind`] did for binding `scope` (idempotent). Vendors without a
    /// binding step never made one, so there is nothing to undo: a Delete must not get stuck.
    fn unbind(
        &self,
        _id: &str,
        _scope: &str,
    ) -> impl Future<Output = Result<Removal, VendorError>> + Send {
        async { Ok(Removal::AlreadyGone) }
    }
}

fn no_binding_step(vendor: VendorKind) -> VendorError {
    VendorError::Unsupported(format!(
        "{vendor} registrations need no role-binding step; remove the resource whose Phase is role-binding."
    ))
}
