//! The lifecycle rules — what Create, Update and Delete do — written once for every vendor.
//!
//! - Create, with a vendor that refuses to register an account twice (Datadog), registers
//!   first: one call against the vendor's rate limit on the happy path. Only when the vendor
//!   says the account is already registered, or the answer was lost, does it look the account
//!   up. With any other vendor it looks first. This stack's: reuse it. Someone else's: fail
//!   with a marker id (so the rollback's Delete touches nothing), or, with `OnConflict=adopt`,
//!   bring it to the desired settings and own it. One the vendor cannot make the desired one
//!   (Datadog: registered with access keys) is a conflict whatever `OnConflict` says.
//! - Update changing vendor, location, account or partition is a replacement (a new
//!   registration and id; CloudFormation then deletes the old one). Otherwise the registration
//!   is updated in place, or created again if it vanished. A marker id acts as Create.
//! - Delete removes exactly the registration its id names; "not found" is success, and what a
//!   permanent error does is `OnDeleteError`. A marker id needs no vendor call. A foreign (or
//!   missing) id means a Create whose answer CloudFormation never got or gave up on (it invents
//!   an id when it cancels a Create still running): that Create may have registered the
//!   account, so the Delete removes a registration marked as this stack's, waiting briefly for a
//!   Create still in flight, and touches nothing else. An unconfirmed Create's marker removes
//!   this stack's registration too, unless a later request of the stack claimed it (an Update
//!   of the marker, which marks what it owns with the marker's request) or the previous
//!   release recorded that another request made it.
//! - A role binding (`Phase: role-binding`, for vendors that need the role's ARN once the role
//!   exists) binds on Create and Update, and unbinds on Delete, by the same rules.
//!
//! [`plan()`] decides which of these an event is, before any I/O; [`run`] carries a step out
//! for an integration: [`registration`], [`binding`] and [`sweep`], each reaching the vendor
//! through a [`Connector`] that reads the keys only when a vendor call is needed.

mod binding;
mod plan;
mod registration;
mod sweep;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use tokio::time::Instant;

use crate::cfn::{Outcome, RequestType};
use crate::http::VendorHttp;
use crate::identity::AccountId;
use crate::integrations::{Desired, Integration, Registration, Removal, VendorError};
use crate::physical_id::{self, RegistrationRef};
use crate::progress::Progress;
use crate::props::{Common, OnDeleteError};
use crate::secrets::{SecretError, SecretJson, SecretRef, SecretSource};

pub(crate) use plan::{PermissionsStep, Plan, Step, plan};

/// Why an event failed, in words for the stack's events.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Vendor(#[from] VendorError),
    #[error(transparent)]
    Property(#[from] crate::props::PropertyError),
    #[error("{0}")]
    Conflict(String),
    /// Registering failed in a way that leaves open whether the vendor acted on it.
    #[error(
        "{0} The registration may have been made anyway: the rollback's Delete removes it, and a retry reuses it."
    )]
    Unconfirmed(VendorError),
}

impl Failure {
    fn is_transient(&self) -> bool {
        match self {
            Failure::Secret(e) => e.is_transient(),
            Failure::Vendor(e) | Failure::Unconfirmed(e) => e.is_transient(),
            Failure::Conflict(_) | Failure::Property(_) => false,
        }
    }
}

/// Everything the rules need to know about one event, for integration `I`.
pub(crate) struct Event<'a, I: Integration> {
    pub(crate) request_type: RequestType,
    pub(crate) request_id: &'a str,
    /// The incoming PhysicalResourceId as sent (Update, Delete).
    pub(crate) incoming: Option<&'a str>,
    pub(crate) common: &'a Common,
    pub(crate) settings: I::Settings,
    pub(crate) desired: Desired,
    /// When the work must be done.
    pub(crate) deadline: Instant,
    pub(crate) connector: Connector<'a>,
}

/// Reads the vendor's keys and makes the integration's client, at the first vendor call an
/// event needs (a marker's Delete needs none, and reads no secret).
pub(crate) struct Connector<'a> {
    pub(crate) secrets: &'a dyn SecretSource,
    pub(crate) secret: &'a SecretRef,
    /// The account the keys are read for (the role session's name, if a role is assumed).
    pub(crate) account: &'a AccountId,
    pub(crate) http: VendorHttp,
}

impl Connector<'_> {
    /// The client of integration `I` for `settings` and `desired`, with the keys from the
    /// secret (and the member secret the settings name, if any).
    pub(crate) async fn connect<I: Integration>(
        &self,
        settings: I::Settings,
        desired: Desired,
    ) -> Result<I, Failure> {
        self.connect_reading::<I>(settings, desired, true).await
    }

    /// [`Connector::connect`] for removing: the member secret (Datadog's access key) is not
    /// read, since removing needs no key, and a Delete must not depend on a secret that may
    /// already be gone.
    pub(crate) async fn connect_to_remove<I: Integration>(
        &self,
        settings: I::Settings,
        desired: Desired,
    ) -> Result<I, Failure> {
        self.connect_reading::<I>(settings, desired, false).await
    }

    async fn connect_reading<I: Integration>(
        &self,
        settings: I::Settings,
        desired: Desired,
        read_member: bool,
    ) -> Result<I, Failure> {
        let progress: &Progress = self.http.progress();
        progress.set(format!("preparing to read the {} keys", I::KIND));
        let session = format!("registrar-{}", self.account);
        let deadline = Instant::now() + self.http.remaining();
        let text = self
            .secrets
            .read(self.secret, &session, progress, deadline)
            .await?;
        let keys = SecretJson::parse(&self.secret.arn, text, I::SECRET_SHAPE)?;
        let member = match I::member_secret(&settings).filter(|_| read_member) {
            Some((secret, shape)) => {
                progress.set(format!("reading the {} member-account secret", I::KIND));
                let deadline = Instant::now() + self.http.remaining();
                let text = self
                    .secrets
                    .read(&secret, &session, progress, deadline)
                    .await?;
                Some(SecretJson::parse(&secret.arn, text, shape)?)
            }
            None => None,
        };
        Ok(I::connect_with(
            settings,
            &keys,
            member.as_ref(),
            desired,
            self.http.clone(),
        )?)
    }
}

/// Carries out `step` for integration `I`.
pub(crate) async fn run<I: Integration>(step: Step, event: Event<'_, I>) -> Outcome {
    match step {
        Step::Register { claims } => registration::register(event, claims).await,
        Step::Update(registration) => registration::update(event, registration).await,
        Step::Deregister(registration) => registration::deregister(event, registration).await,
        Step::Bind {
            registration_id,
            continues,
        } => binding::bind(event, &registration_id, continues).await,
        Step::Unbind(binding) => binding::unbind(event, binding).await,
        Step::Sweep { made_by } => sweep::sweep(event, made_by).await,
    }
}

/// The id a failed event answers with when nothing better is known: the incoming one for an
/// Update or a Delete, so that nothing is replaced; a marker for a Create (or a Delete without
/// an id), so that the rollback's Delete touches nothing.
pub(crate) fn failed_id(
    request_type: RequestType,
    incoming: Option<&str>,
    request_id: &str,
) -> String {
    match (request_type, incoming) {
        (RequestType::Update | RequestType::Delete, Some(id)) => id.to_owned(),
        _ => physical_id::create_failed(request_id),
    }
}

/// The id to answer with when the work panicked or ran out of time, so could not say: as
/// [`failed_id`], except that a Create marks whether its vendor may have acted
/// (`registrar:create-unconfirmed:`), and a role-permissions Create names its role (`role_id`)
/// so that the rollback's Delete removes whatever it wrote.
pub(crate) fn fallback_id(
    request_type: RequestType,
    incoming: Option<&str>,
    request_id: &str,
    role_id: Option<String>,
    progress: &Progress,
) -> String {
    match (request_type, incoming, role_id) {
        (RequestType::Update | RequestType::Delete, Some(id), _) => id.to_owned(),
        (RequestType::Create, _, Some(role_id)) => role_id,
        _ if progress.may_have_changed_something() => physical_id::create_unconfirmed(request_id),
        _ => physical_id::create_failed(request_id),
    }
}

impl<I: Integration> Event<'_, I> {
    fn failed_id(&self) -> String {
        failed_id(self.request_type, self.incoming, self.request_id)
    }
}

/// The answer to a Create or Update that made or kept `registration` where `location` says.
fn success<I: Integration>(
    event: &Event<'_, I>,
    location: String,
    registration: Registration,
    principal: String,
    attributes: BTreeMap<String, String>,
) -> Outcome {
    let physical_id = RegistrationRef {
        vendor: I::KIND,
        location,
        partition: event.desired.identity.partition,
        account: event.desired.identity.account.clone(),
        id: registration.id.clone(),
    };
    // The contract's attributes last: a vendor's attributes never replace them.
    let mut data = attributes;
    data.extend([
        ("ExternalId".to_owned(), registration.external_id),
        ("RegistrationId".to_owned(), registration.id),
        ("PrincipalAccountId".to_owned(), principal),
    ]);
    Outcome::success(physical_id.to_string(), data)
}

/// The settings pointed where the registration is, whatever the properties say now.
fn relocated<I: Integration>(
    event: &Event<'_, I>,
    registration: &RegistrationRef,
) -> Result<I::Settings, Failure> {
    I::relocate(event.settings.clone(), &registration.location).ok_or_else(|| {
        Failure::Vendor(VendorError::Unsupported(format!(
            "The PhysicalResourceId names {} location {:?}, which this version of Registrar does not recognise.",
            I::KIND,
            registration.location
        )))
    })
}

/// The answer to a Delete, per `OnDeleteError`.
fn removal_outcome<I: Integration>(
    event: &Event<'_, I>,
    incoming: String,
    registration: &RegistrationRef,
    result: Result<Removal, Failure>,
) -> Outcome {
    match result {
        Ok(removal) => {
            tracing::info!(physical_id = %incoming, already_gone = removal == Removal::AlreadyGone, "deregistered");
            Outcome::success(incoming, BTreeMap::new())
        }
        Err(failure) if event.common.on_delete_error == OnDeleteError::Retain => {
            tracing::warn!(
                orphan = %incoming,
                vendor = I::KIND.as_str(),
                location = %registration.location,
                account = %registration.account,
                transient = failure.is_transient(),
                error = %failure,
                "could not deregister; reporting success because OnDeleteError=retain. The registration is left at the vendor"
            );
            Outcome::success(incoming, BTreeMap::new())
        }
        Err(failure) => {
            let advice = if failure.is_transient() {
                " Retry the deletion later"
            } else {
                " Fix the cause and retry the deletion"
            };
            Outcome::failed(
                incoming,
                format!(
                    "{failure}{advice}, or set OnDeleteError to retain to let the stack go and leave the registration at {}.",
                    I::KIND
                ),
            )
        }
    }
}
