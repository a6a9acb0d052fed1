//! The lifecycle rules — what Create, Update and Delete do — written once for every vendor.
//!
//! - Create, with a vendor that refuses to register an account twice (Datadog), registers
//!   first: one call against the vendor's rate limit on the happy path. Only when the vendor
//!   says the account is already registered, or the answer was lost, does it look the account
//!   up. With any other vendor it looks first. This stack's: reuse it. Someone else's: fail with a marker id (so the
//!   rollback's Delete touches nothing), or, with `OnConflict=adopt`, bring it to the desired
//!   settings and own it. One the vendor cannot make the desired one (Datadog: registered with
//!   access keys) is a conflict whatever `OnConflict` says.
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

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::cfn::{Outcome, RequestType};
use crate::integrations::{Desired, Integration, Owner, Registration, Removal, VendorError};
use crate::physical_id::{self, BindingRef, PhysicalId, RegistrationRef};
use crate::props::{Common, OnConflict, OnDeleteError, Phase, PropertyError};
use crate::secrets::SecretError;

/// Why an event failed, in words for the stack's events.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Property(#[from] PropertyError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Vendor(#[from] VendorError),
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
            Failure::Property(_) | Failure::Conflict(_) => false,
        }
    }
}

/// Everything the rules need to know about one event.
pub struct Event<'a, V: Integration> {
    pub request_type: RequestType,
    pub request_id: &'a str,
    /// The incoming PhysicalResourceId (Update, Delete).
    pub physical_id: Option<&'a str>,
    pub common: &'a Common,
    pub settings: V::Settings,
    pub desired: Desired,
    /// When the work must be done.
    pub deadline: Instant,
}

/// How long a Delete of a foreign id waits for a Create still in flight to register the account.
const SWEEP_GRACE: Duration = Duration::from_secs(10);
const SWEEP_POLL: Duration = Duration::from_secs(2);

/// Applies the rules. `connect` reads the keys and builds the vendor client; it is called only
/// when a vendor call is needed.
pub async fn handle<V, C, F>(event: Event<'_, V>, connect: C) -> Outcome
where
    V: Integration,
    C: FnOnce(V::Settings, Desired) -> F,
    F: Future<Output = Result<V, Failure>>,
{
    let incoming = event.physical_id.map(PhysicalId::parse);
    match (event.request_type, incoming, &event.common.phase) {
        (RequestType::Delete, Some(PhysicalId::Registration(registration)), _) => {
            delete(event, registration, connect).await
        }
        (RequestType::Delete, Some(PhysicalId::Binding(binding)), _) => {
            unbind(event, binding, connect).await
        }
        (RequestType::Delete, Some(PhysicalId::Foreign(_)) | None, Phase::Registration) => {
            sweep(event, connect, None).await
        }
        (
            RequestType::Delete,
            Some(PhysicalId::CreateUnconfirmed { request_id }),
            Phase::Registration,
        ) => sweep(event, connect, Some(request_id)).await,
        (RequestType::Delete, other, _) => {
            tracing::info!(physical_id = ?other, "nothing of Registrar's to delete; no vendor call");
            Outcome::success(failed_id(&event), BTreeMap::new())
        }
        (_, _, Phase::RolePermissions) => Outcome::failed(
            failed_id(&event),
            "Registrar's handler sent a role-permissions event to the registration rules (a bug); nothing was changed.".to_owned(),
        ),
        (_, _, Phase::RoleBinding { registration_id }) => {
            let registration_id = registration_id.clone();
            bind(event, &registration_id, connect).await
        }
        (RequestType::Update, Some(PhysicalId::Registration(registration)), _)
            if same_place::<V>(&event, &registration) =>
        {
            update_in_place(event, registration, connect).await
        }
        (RequestType::Update | RequestType::Create, _, Phase::Registration) => {
            create(event, connect).await
        }
    }
}

/// The id a failed Create or Update answers with: a marker for a Create, so that the rollback's
/// Delete touches nothing; the incoming id for an Update or Delete, so that nothing is replaced.
fn failed_id<V: Integration>(event: &Event<'_, V>) -> String {
    match (event.request_type, event.physical_id) {
        (RequestType::Update | RequestType::Delete, Some(id)) => id.to_owned(),
        _ => physical_id::create_failed(event.request_id),
    }
}

/// A Delete of an id Registrar never answered: removes this stack's registration if a Create
/// made one (or makes one within [`SWEEP_GRACE`]), and never fails the Delete.
async fn sweep<V, C, F>(event: Event<'_, V>, connect: C, made_by: Option<String>) -> Outcome
where
    V: Integration,
    C: FnOnce(V::Settings, Desired) -> F,
    F: Future<Output = Result<V, Failure>>,
{
    let answer_id = failed_id(&event);
    let until = (Instant::now() + SWEEP_GRACE).min(event.deadline);
    let result = async {
        let vendor = connect(event.settings.clone(), event.desired.clone()).await?;
        loop {
            if let Some(registration) = vendor.find().await? {
                match sweep_rule(&registration, made_by.as_deref()) {
                    SweepRule::Remove => {
                        vendor.delete(&registration.id).await?;
                        return Ok::<_, Failure>(Some(registration.id));
                    }
                    SweepRule::ReleaseClaim => {
                        vendor.release_claim(&registration.id).await?;
                        tracing::info!(registration = %registration.id, physical_id = %answer_id, "a later request of this stack claimed the registration; it stays, without the claim mark");
                        return Ok(None);
                    }
                    SweepRule::Leave => {}
                }
            }
            if Instant::now() + SWEEP_POLL >= until {
                return Ok(None);
            }
            tokio::time::sleep(SWEEP_POLL).await;
        }
    }
    .await;
    match result {
        Ok(Some(id)) => {
            tracing::warn!(registration = %id, physical_id = %answer_id, "removed the registration of a Create whose answer CloudFormation did not take")
        }
        Ok(None) => {
            tracing::info!(physical_id = %answer_id, "no registration of this stack's to remove")
        }
        Err(failure) => tracing::warn!(
            physical_id = %answer_id,
            error = %failure,
            "could not check for a registration left by an unanswered Create; if one exists it is left at the vendor"
        ),
    }
    Outcome::success(answer_id, BTreeMap::new())
}

/// What a Delete of an id Registrar never answered does with the account's registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SweepRule {
    Remove,
    /// Keep it, and remove the claim mark a later request of this stack put on it.
    ReleaseClaim,
    Leave,
}

/// `marker_request`: the request of an unconfirmed Create's marker; `None` for an id
/// CloudFormation made up (whatever this stack made goes).
fn sweep_rule(registration: &Registration, marker_request: Option<&str>) -> SweepRule {
    if registration.owner != Owner::ThisStack {
        return SweepRule::Leave;
    }
    let Some(request) = marker_request else {
        return SweepRule::Remove;
    };
    match (&registration.created_by, &registration.claimed_by) {
        // The previous release recorded the creating request: exactly that one.
        (Some(creator), _) if creator == request => SweepRule::Remove,
        (Some(_), _) => SweepRule::Leave,
        (None, Some(claim)) if claim == request => SweepRule::ReleaseClaim,
        // This stack's, and no later request of it claimed it: the unconfirmed Create made it.
        (None, _) => SweepRule::Remove,
    }
}

/// Whether the registration lives where the event wants it (else an Update is a replacement).
fn same_place<V: Integration>(event: &Event<'_, V>, registration: &RegistrationRef) -> bool {
    registration.vendor == V::KIND
        && registration.location == V::location(&event.settings)
        && registration.partition == event.desired.identity.partition
        && registration.account == event.desired.identity.account
}

async fn create<V, C, F>(event: Event<'_, V>, connect: C) -> Outcome
where
    V: Integration,
    C: FnOnce(V::Settings, Desired) -> F,
    F: Future<Output = Result<V, Failure>>,
{
    let failed_id = failed_id(&event);
    let location = V::location(&event.settings);
    let mut desired = event.desired.clone();
    if let (RequestType::Update, Some(PhysicalId::CreateUnconfirmed { request_id })) =
        (event.request_type, event.physical_id.map(PhysicalId::parse))
    {
        // This Update takes over an unconfirmed Create's marker, whose Delete comes next: mark
        // what it ends up owning so that the Delete keeps it.
        desired.claims = Some(request_id);
    }
    let result = async {
        let principal = V::principal_account_id(&event.settings, event.desired.identity.partition)?;
        let vendor = connect(event.settings.clone(), desired).await?;
        let registration = ensure(&vendor, &event).await?;
        let attributes = vendor.attributes(&registration);
        Ok::<_, Failure>((registration, principal, attributes))
    }
    .await;
    match result {
        Ok((registration, principal, attributes)) => {
            success::<V>(&event, location, registration, principal, attributes)
        }
        Err(failure @ Failure::Unconfirmed(_)) if event.request_type == RequestType::Create => {
            Outcome::failed(
                physical_id::create_unconfirmed(event.request_id),
                failure.to_string(),
            )
        }
        Err(failure) => Outcome::failed(failed_id, failure.to_string()),
    }
}

/// Makes sure the account has a registration this stack owns, per `OnConflict`.
async fn ensure<V: Integration>(vendor: &V, event: &Event<'_, V>) -> Result<Registration, Failure> {
    if V::REFUSES_DUPLICATES {
        register_first(vendor, event).await
    } else {
        look_first(vendor, event).await
    }
}

/// For vendors that refuse a second registration of an account: registers, and looks only
/// when the vendor says the account is registered already or the answer was lost.
async fn register_first<V: Integration>(
    vendor: &V,
    event: &Event<'_, V>,
) -> Result<Registration, Failure> {
    // A lost answer: the registration may have been made. Registering again is safe (the
    // vendor refuses a duplicate), and a look that finds this stack's registration settles
    // it, whichever request made it.
    let mut lost: Option<VendorError> = None;
    // Three rounds: a registration can appear (another writer) or vanish between calls.
    for _ in 0..3 {
        match vendor.create().await {
            Ok(registration) => return Ok(registration),
            Err(VendorError::AlreadyExists { .. }) => {}
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "the answer to the registration was lost; looking for what it may have made");
                lost = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
        let existing = match (vendor.find().await, lost.take()) {
            (Ok(Some(existing)), still_lost) => {
                lost = still_lost;
                existing
            }
            (Ok(None), still_lost) => {
                lost = still_lost;
                continue;
            }
            // The reason names the registration whose answer was lost, not the look after it.
            (Err(e), Some(lost)) => {
                tracing::warn!(error = %e, "could not look for what the lost registration made");
                return Err(Failure::Unconfirmed(lost));
            }
            (Err(e), None) => return Err(e.into()),
        };
        if let Some(registration) = settle(vendor, event, existing).await? {
            return Ok(registration);
        }
    }
    match lost {
        Some(e) => Err(Failure::Unconfirmed(e)),
        None => Err(kept_changing(event)),
    }
}

/// For vendors that would register an account twice: looks first, registers only when there
/// is nothing, and never registers again after a lost answer.
async fn look_first<V: Integration>(
    vendor: &V,
    event: &Event<'_, V>,
) -> Result<Registration, Failure> {
    // Two rounds: a registration can appear (another writer) or vanish between calls.
    for _ in 0..2 {
        let existing = match vendor.find().await? {
            None => match vendor.create().await {
                Ok(registration) => return Ok(registration),
                Err(VendorError::AlreadyExists { .. }) => continue,
                // The call may have reached the vendor: look for what it made.
                Err(e) if e.is_transient() => {
                    return match vendor.find().await {
                        Ok(Some(registration)) if registration.owner == Owner::ThisStack => {
                            Ok(registration)
                        }
                        _ => Err(Failure::Unconfirmed(e)),
                    };
                }
                Err(e) => return Err(e.into()),
            },
            Some(existing) => existing,
        };
        if let Some(registration) = settle(vendor, event, existing).await? {
            return Ok(registration);
        }
    }
    Err(kept_changing(event))
}

/// Applies the rules to the account's registration: this stack's is brought to the desired
/// settings, someone else's is a conflict or is adopted, one the vendor cannot make the desired
/// one is a conflict. `None`: it vanished meanwhile.
async fn settle<V: Integration>(
    vendor: &V,
    event: &Event<'_, V>,
    existing: Registration,
) -> Result<Option<Registration>, Failure> {
    if let Some(unusable) = &existing.unusable {
        return Err(Failure::Conflict(format!(
            "AWS account {} is already registered with {} ({}) {} (registration {}). Registrar changed nothing and will not delete it. {}",
            event.desired.identity.account,
            V::KIND,
            V::location(&event.settings),
            unusable.how,
            existing.id,
            unusable.remedy
        )));
    }
    match (&existing.owner, event.common.on_conflict) {
        (Owner::ThisStack, _) | (_, OnConflict::Adopt) => {
            if existing.owner != Owner::ThisStack {
                tracing::warn!(registration = %existing.id, owner = ?existing.owner, "adopting an existing registration (OnConflict=adopt)");
            }
            Ok(vendor.update(&existing.id).await?)
        }
        (owner, OnConflict::Fail) => Err(Failure::Conflict(conflict_reason::<V>(
            event, &existing, owner,
        ))),
    }
}

fn kept_changing<V: Integration>(event: &Event<'_, V>) -> Failure {
    Failure::Conflict(format!(
        "The {} registration of account {} kept changing while Registrar worked on it (someone else is changing it at the same time). Retry the stack operation.",
        V::KIND,
        event.desired.identity.account
    ))
}

fn conflict_reason<V: Integration>(
    event: &Event<'_, V>,
    existing: &Registration,
    owner: &Owner,
) -> String {
    let account = &event.desired.identity.account;
    let place = format!("{} ({})", V::KIND, V::location(&event.settings));
    match owner {
        Owner::OtherStack(stack) => format!(
            "AWS account {account} is already registered with {place} by another Registrar stack ({stack}; registration {}). An account has one registration per {} organisation: deploy the StackSet to one region per account, or remove the other stack. Registrar changed nothing.",
            existing.id,
            V::KIND
        ),
        _ => format!(
            "AWS account {account} is already registered with {place} by someone else (registration {}). Registrar changed nothing and will not delete it. To manage it with this stack, set OnConflict to adopt; or remove the existing registration in {} and retry.",
            existing.id,
            V::KIND
        ),
    }
}

async fn update_in_place<V, C, F>(
    event: Event<'_, V>,
    registration: RegistrationRef,
    connect: C,
) -> Outcome
where
    V: Integration,
    C: FnOnce(V::Settings, Desired) -> F,
    F: Future<Output = Result<V, Failure>>,
{
    let incoming = registration.to_string();
    let location = V::location(&event.settings);
    let result = async {
        let principal = V::principal_account_id(&event.settings, event.desired.identity.partition)?;
        let vendor = connect(event.settings.clone(), event.desired.clone()).await?;
        let updated = match vendor.update(&registration.id).await? {
            Some(updated) => updated,
            None => {
                tracing::warn!(registration = %registration.id, "the registration vanished out of band; registering the account again");
                ensure(&vendor, &event).await?
            }
        };
        let attributes = vendor.attributes(&updated);
        Ok::<_, Failure>((updated, principal, attributes))
    }
    .await;
    match result {
        Ok((updated, principal, attributes)) => {
            success::<V>(&event, location, updated, principal, attributes)
        }
        Err(failure) => Outcome::failed(incoming, failure.to_string()),
    }
}

async fn delete<V, C, F>(event: Event<'_, V>, registration: RegistrationRef, connect: C) -> Outcome
where
    V: Integration,
    C: FnOnce(V::Settings, Desired) -> F,
    F: Future<Output = Result<V, Failure>>,
{
    let result = async {
        let vendor = connect(relocated(&event, &registration)?, event.desired.clone()).await?;
        Ok::<_, Failure>(vendor.delete(&registration.id).await?)
    }
    .await;
    removal_outcome(&event, registration.to_string(), &registration, result)
}

async fn unbind<V, C, F>(event: Event<'_, V>, binding: BindingRef, connect: C) -> Outcome
where
    V: Integration,
    C: FnOnce(V::Settings, Desired) -> F,
    F: Future<Output = Result<V, Failure>>,
{
    let registration = &binding.registration;
    let result = async {
        let vendor = connect(relocated(&event, registration)?, event.desired.clone()).await?;
        Ok::<_, Failure>(
            vendor
                .unbind(&registration.id, binding.scope.as_deref())
                .await?,
        )
    }
    .await;
    removal_outcome(&event, binding.to_string(), registration, result)
}

/// The settings pointed where the registration is, whatever the properties say now.
fn relocated<V: Integration>(
    event: &Event<'_, V>,
    registration: &RegistrationRef,
) -> Result<V::Settings, Failure> {
    V::relocate(event.settings.clone(), &registration.location).ok_or_else(|| {
        Failure::Vendor(VendorError::Unsupported(format!(
            "The PhysicalResourceId names {} location {:?}, which this version of Registrar does not recognise.",
            V::KIND,
            registration.location
        )))
    })
}

/// The answer to a Delete, per `OnDeleteError`.
fn removal_outcome<V: Integration>(
    event: &Event<'_, V>,
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
                vendor = V::KIND.as_str(),
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
                    V::KIND
                ),
            )
        }
    }
}

async fn bind<V, C, F>(event: Event<'_, V>, registration_id: &str, connect: C) -> Outcome
where
    V: Integration,
    C: FnOnce(V::Settings, Desired) -> F,
    F: Future<Output = Result<V, Failure>>,
{
    let failed_id = failed_id(&event);
    let identity = &event.desired.identity;
    let role_arn = format!(
        "arn:{}:iam::{}:role/{}",
        identity.partition, identity.account, event.desired.role_name
    );
    let location = V::location(&event.settings);
    // An Update of a binding of the same registration continues it; anything else starts anew.
    let previous = match event.physical_id.map(PhysicalId::parse) {
        Some(PhysicalId::Binding(b))
            if b.registration.vendor == V::KIND
                && b.registration.location == location
                && b.registration.partition == identity.partition
                && b.registration.account == identity.account
                && b.registration.id == registration_id =>
        {
            b.scope
        }
        _ => None,
    };
    let result = async {
        let principal = V::principal_account_id(&event.settings, identity.partition)?;
        let vendor = connect(event.settings.clone(), event.desired.clone()).await?;
        let bound = vendor
            .bind(registration_id, &role_arn, previous.as_deref())
            .await?;
        let attributes = vendor.attributes(&bound.registration);
        Ok::<_, Failure>((bound, principal, attributes))
    }
    .await;
    match result {
        Ok((bound, principal, mut attributes)) => {
            let binding = BindingRef {
                registration: RegistrationRef {
                    vendor: V::KIND,
                    location: location.clone(),
                    partition: identity.partition,
                    account: identity.account.clone(),
                    id: bound.registration.id.clone(),
                },
                scope: bound.scope,
            };
            attributes.extend(bound.data);
            let mut outcome =
                success::<V>(&event, location, bound.registration, principal, attributes);
            outcome.physical_resource_id = binding.to_string();
            outcome.data.insert("RoleArn".to_owned(), role_arn);
            outcome
        }
        Err(failure) => Outcome::failed(failed_id, failure.to_string()),
    }
}

fn success<V: Integration>(
    event: &Event<'_, V>,
    location: String,
    registration: Registration,
    principal: String,
    attributes: BTreeMap<String, String>,
) -> Outcome {
    let physical_id = RegistrationRef {
        vendor: V::KIND,
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

#[cfg(test)]
mod tests {
    //! The rules, against an in-memory vendor that keeps registrations in a vector.

    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::cfn::Status;
    use crate::http::VendorHttp;
    use crate::identity::{AccountId, Identity, Partition};
    use crate::integrations::{Kind, Registered, StackMark};
    use crate::props::Properties;
    use crate::secrets::{SecretError, SecretJson};

    #[derive(Debug, Clone, PartialEq)]
    struct Stored {
        id: String,
        location: String,
        owner: Owner,
        settings_applied: u32,
        /// Only registrations of the previous release record their creator (see `landed`).
        created_by: Option<String>,
        claimed_by: Option<String>,
        /// Registered in a way the vendor cannot change into the desired one (access keys).
        unusable: bool,
    }

    /// How the vendor answers a create.
    #[derive(Default, Clone, Copy, PartialEq)]
    enum Creating {
        #[default]
        Normally,
        /// Registers the account, but the answer is lost.
        LosingTheAnswer,
        /// Answers with an error; the registration lands later (the test stores it).
        Late,
    }

    #[derive(Default)]
    struct World {
        stored: Vec<Stored>,
        next_id: u32,
        delete_error: Option<VendorError>,
        connects: u32,
        creating: Creating,
        claims_released: u32,
        /// Vendor calls, by kind.
        finds: u32,
        creates: u32,
        updates: u32,
    }

    fn lost() -> VendorError {
        VendorError::Unreadable {
            vendor: "Memory",
            call: "POST".into(),
            detail: "the answer broke off".into(),
        }
    }

    type Shared = Arc<Mutex<World>>;

    struct Memory {
        world: Shared,
        location: String,
        /// What this event claims (`Desired::claims`), written on create and update like
        /// Datadog's claim tag.
        claims: Option<String>,
    }

    /// Memory plays Datadog's part in PhysicalResourceIds.
    impl Registered for Memory {
        const KIND: Kind = Kind::Datadog;
    }

    impl Integration for Memory {
        const NAME: &'static str = "memory";
        const DISPLAY_NAME: &'static str = "Memory";
        const SECRET_SHAPE: &'static str = "{}";
        const REFUSES_DUPLICATES: bool = true;
        type Settings = String;

        fn settings(props: &Properties) -> Result<String, PropertyError> {
            Ok(props.text("Site")?.unwrap_or_else(|| "one".into()))
        }
        fn location(settings: &String) -> String {
            settings.clone()
        }
        fn relocate(_: String, location: &str) -> Option<String> {
            Some(location.to_owned())
        }
        fn principal_account_id(_: &String, _: Partition) -> Result<String, VendorError> {
            Ok("464622532012".into())
        }
        fn connect(
            _: String,
            _: &SecretJson,
            _: Desired,
            _: VendorHttp,
        ) -> Result<Self, SecretError> {
            unreachable!("tests connect through `connector`")
        }

        async fn find(&self) -> Result<Option<Registration>, VendorError> {
            let mut world = self.world.lock().unwrap();
            world.finds += 1;
            Ok(world
                .stored
                .iter()
                .find(|s| s.location == self.location)
                .map(registration))
        }
        async fn create(&self) -> Result<Registration, VendorError> {
            let mut world = self.world.lock().unwrap();
            world.creates += 1;
            if world.stored.iter().any(|s| s.location == self.location) {
                return Err(VendorError::AlreadyExists { vendor: "Memory" });
            }
            if world.creating == Creating::Late {
                return Err(lost());
            }
            world.next_id += 1;
            let stored = Stored {
                id: format!("reg-{}", world.next_id),
                location: self.location.clone(),
                owner: Owner::ThisStack,
                settings_applied: 1,
                created_by: None,
                claimed_by: self.claims.clone(),
                unusable: false,
            };
            world.stored.push(stored.clone());
            if world.creating == Creating::LosingTheAnswer {
                return Err(lost());
            }
            Ok(registration(&stored))
        }
        async fn update(&self, id: &str) -> Result<Option<Registration>, VendorError> {
            let mut world = self.world.lock().unwrap();
            world.updates += 1;
            Ok(world.stored.iter_mut().find(|s| s.id == id).map(|s| {
                s.owner = Owner::ThisStack;
                s.settings_applied += 1;
                s.created_by = None;
                s.claimed_by = self.claims.clone();
                registration(s)
            }))
        }
        async fn delete(&self, id: &str) -> Result<Removal, VendorError> {
            let mut world = self.world.lock().unwrap();
            if let Some(error) = world.delete_error.clone() {
                return Err(error);
            }
            let before = world.stored.len();
            world.stored.retain(|s| s.id != id);
            Ok(if world.stored.len() < before {
                Removal::Removed
            } else {
                Removal::AlreadyGone
            })
        }
        async fn release_claim(&self, id: &str) -> Result<(), VendorError> {
            let mut world = self.world.lock().unwrap();
            world.claims_released += 1;
            if let Some(s) = world.stored.iter_mut().find(|s| s.id == id) {
                s.claimed_by = None;
            }
            Ok(())
        }
    }

    fn registration(s: &Stored) -> Registration {
        Registration {
            id: s.id.clone(),
            external_id: format!("ext-{}", s.id),
            owner: s.owner.clone(),
            created_by: s.created_by.clone(),
            claimed_by: s.claimed_by.clone(),
            unusable: s.unusable.then(|| crate::integrations::Unusable {
                how: "with access keys".into(),
                remedy: "Remove it.".into(),
            }),
        }
    }

    fn common(on_conflict: OnConflict, on_delete_error: OnDeleteError) -> Common {
        Common {
            secret: crate::secrets::SecretRef::parse(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
                None,
            )
            .unwrap(),
            role_name: "DatadogIntegrationRole".into(),
            identity: Identity {
                account: AccountId::parse("123456789012").unwrap(),
                partition: Partition::Aws,
            },
            on_conflict,
            on_delete_error,
            phase: crate::props::Phase::Registration,
        }
    }

    async fn run(
        world: &Shared,
        common: &Common,
        request_type: RequestType,
        physical_id: Option<&str>,
        site: &str,
    ) -> Outcome {
        run_as("req-1", world, common, request_type, physical_id, site).await
    }

    async fn run_as(
        request_id: &str,
        world: &Shared,
        common: &Common,
        request_type: RequestType,
        physical_id: Option<&str>,
        site: &str,
    ) -> Outcome {
        let event = Event::<Memory> {
            request_type,
            request_id,
            physical_id,
            common,
            settings: site.to_owned(),
            desired: Desired {
                identity: common.identity.clone(),
                role_name: common.role_name.clone(),
                stack: StackMark {
                    region: "us-east-1".into(),
                    stack_name: "s".into(),
                },
                claims: None,
            },
            deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(30),
        };
        let world = world.clone();
        handle(
            event,
            move |location: String, desired: Desired| async move {
                world.lock().unwrap().connects += 1;
                Ok(Memory {
                    world,
                    location,
                    claims: desired.claims,
                })
            },
        )
        .await
    }

    fn defaults() -> Common {
        common(OnConflict::Fail, OnDeleteError::Fail)
    }

    fn someone_elses(world: &Shared, location: &str) -> Stored {
        let stored = Stored {
            id: "theirs".into(),
            location: location.into(),
            owner: Owner::Someone,
            settings_applied: 0,
            created_by: None,
            claimed_by: None,
            unusable: false,
        };
        world.lock().unwrap().stored.push(stored.clone());
        stored
    }

    #[tokio::test]
    async fn create_registers_and_names_the_registration() {
        let world = Shared::default();
        let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
        assert_eq!(outcome.status, Status::Success);
        assert_eq!(
            outcome.physical_resource_id,
            "registrar:datadog:one:aws:123456789012:reg-1"
        );
        assert_eq!(outcome.data["ExternalId"], "ext-reg-1");
        assert_eq!(outcome.data["RegistrationId"], "reg-1");
        assert_eq!(outcome.data["PrincipalAccountId"], "464622532012");
    }

    #[tokio::test]
    async fn a_repeated_create_reuses_its_own_registration() {
        let world = Shared::default();
        let first = run(&world, &defaults(), RequestType::Create, None, "one").await;
        let second = run(&world, &defaults(), RequestType::Create, None, "one").await;
        assert_eq!(first.physical_resource_id, second.physical_resource_id);
        assert_eq!(world.lock().unwrap().stored.len(), 1);
    }

    #[tokio::test]
    async fn a_conflict_fails_with_a_marker_and_the_rollback_touches_nothing() {
        let world = Shared::default();
        let theirs = someone_elses(&world, "one");
        let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
        assert_eq!(outcome.status, Status::Failed);
        assert!(
            outcome
                .physical_resource_id
                .starts_with("registrar:create-failed:")
        );
        assert!(outcome.reason.unwrap().contains("OnConflict"));
        let connects = world.lock().unwrap().connects;
        let rollback = run(
            &world,
            &defaults(),
            RequestType::Delete,
            Some(&outcome.physical_resource_id),
            "one",
        )
        .await;
        assert_eq!(rollback.status, Status::Success);
        assert_eq!(
            world.lock().unwrap().connects,
            connects,
            "no vendor call for a marker"
        );
        assert_eq!(world.lock().unwrap().stored, vec![theirs]);
    }

    #[tokio::test]
    async fn adopt_takes_over_the_existing_registration() {
        let world = Shared::default();
        someone_elses(&world, "one");
        let outcome = run(
            &world,
            &common(OnConflict::Adopt, OnDeleteError::Fail),
            RequestType::Create,
            None,
            "one",
        )
        .await;
        assert_eq!(outcome.status, Status::Success);
        assert_eq!(outcome.data["RegistrationId"], "theirs");
        let stored = world.lock().unwrap().stored.clone();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].owner, Owner::ThisStack);
    }

    #[tokio::test]
    async fn update_in_place_keeps_the_id_and_recreates_what_vanished() {
        let world = Shared::default();
        let created = run(&world, &defaults(), RequestType::Create, None, "one").await;
        let updated = run(
            &world,
            &defaults(),
            RequestType::Update,
            Some(&created.physical_resource_id),
            "one",
        )
        .await;
        assert_eq!(updated.physical_resource_id, created.physical_resource_id);
        assert_eq!(world.lock().unwrap().stored[0].settings_applied, 2);

        world.lock().unwrap().stored.clear();
        let recreated = run(
            &world,
            &defaults(),
            RequestType::Update,
            Some(&created.physical_resource_id),
            "one",
        )
        .await;
        assert_eq!(recreated.status, Status::Success);
        assert_ne!(recreated.physical_resource_id, created.physical_resource_id);
        assert_eq!(world.lock().unwrap().stored.len(), 1);
    }

    #[tokio::test]
    async fn moving_location_is_a_replacement_and_the_old_one_is_deleted_after() {
        let world = Shared::default();
        let old = run(&world, &defaults(), RequestType::Create, None, "one").await;
        let new = run(
            &world,
            &defaults(),
            RequestType::Update,
            Some(&old.physical_resource_id),
            "two",
        )
        .await;
        assert_eq!(new.status, Status::Success);
        assert!(new.physical_resource_id.contains(":two:"));
        assert_eq!(world.lock().unwrap().stored.len(), 2);
        // CloudFormation's cleanup deletes the old id, even though the properties now say "two".
        let cleanup = run(
            &world,
            &defaults(),
            RequestType::Delete,
            Some(&old.physical_resource_id),
            "two",
        )
        .await;
        assert_eq!(cleanup.status, Status::Success);
        let stored = world.lock().unwrap().stored.clone();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].location, "two");
    }

    #[tokio::test]
    async fn an_update_of_a_marker_acts_as_create() {
        let world = Shared::default();
        let outcome = run(
            &world,
            &defaults(),
            RequestType::Update,
            Some("registrar:create-failed:req-0"),
            "one",
        )
        .await;
        assert_eq!(outcome.status, Status::Success);
        assert_eq!(world.lock().unwrap().stored.len(), 1);
    }

    #[tokio::test]
    async fn a_failed_update_keeps_its_id() {
        let world = Shared::default();
        someone_elses(&world, "two");
        let old = "registrar:datadog:one:aws:123456789012:reg-9";
        let outcome = run(&world, &defaults(), RequestType::Update, Some(old), "two").await;
        assert_eq!(outcome.status, Status::Failed);
        assert_eq!(outcome.physical_resource_id, old);
    }

    #[tokio::test]
    async fn delete_is_tolerant_of_gone_and_follows_on_delete_error() {
        let world = Shared::default();
        let id = "registrar:datadog:one:aws:123456789012:reg-404";
        assert_eq!(
            run(&world, &defaults(), RequestType::Delete, Some(id), "one")
                .await
                .status,
            Status::Success
        );

        world.lock().unwrap().delete_error = Some(VendorError::Refused {
            vendor: "Memory",
            call: "DELETE".into(),
            status: 403,
            message: "Forbidden".into(),
            hint: String::new(),
        });
        let failed = run(&world, &defaults(), RequestType::Delete, Some(id), "one").await;
        assert_eq!(failed.status, Status::Failed);
        assert_eq!(failed.physical_resource_id, id);
        assert!(failed.reason.unwrap().contains("OnDeleteError"));
        let retained = run(
            &world,
            &common(OnConflict::Fail, OnDeleteError::Retain),
            RequestType::Delete,
            Some(id),
            "one",
        )
        .await;
        assert_eq!(retained.status, Status::Success);
    }

    #[tokio::test(start_paused = true)]
    async fn a_foreign_id_removes_only_this_stacks_registration() {
        let world = Shared::default();
        let theirs = someone_elses(&world, "one");
        let foreign = "2026/11/21/[$LATEST]abcdef";
        let outcome = run(
            &world,
            &defaults(),
            RequestType::Delete,
            Some(foreign),
            "one",
        )
        .await;
        assert_eq!(outcome.status, Status::Success);
        assert_eq!(outcome.physical_resource_id, foreign);
        assert_eq!(world.lock().unwrap().stored, vec![theirs]);

        // CloudFormation cancelled a Create that registered the account anyway: the Delete
        // with the id CloudFormation made up removes it.
        let world = Shared::default();
        run(&world, &defaults(), RequestType::Create, None, "one").await;
        let outcome = run(
            &world,
            &defaults(),
            RequestType::Delete,
            Some("s-VendorRegistration-XYZ"),
            "one",
        )
        .await;
        assert_eq!(outcome.status, Status::Success);
        assert!(world.lock().unwrap().stored.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_foreign_id_waits_briefly_for_a_create_in_flight() {
        let world = Shared::default();
        let late_create = {
            let world = world.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                run(&world, &defaults(), RequestType::Create, None, "one").await
            })
        };
        let outcome = run(&world, &defaults(), RequestType::Delete, None, "one").await;
        assert_eq!(late_create.await.unwrap().status, Status::Success);
        assert_eq!(outcome.status, Status::Success);
        assert!(
            outcome
                .physical_resource_id
                .starts_with("registrar:create-failed:")
        );
        assert!(
            world.lock().unwrap().stored.is_empty(),
            "the late registration was removed"
        );
    }

    #[tokio::test]
    async fn a_marker_delete_keeps_what_an_update_of_the_marker_made() {
        let world = Shared::default();
        let marker = "registrar:create-failed:req-0";
        let made = run(
            &world,
            &defaults(),
            RequestType::Update,
            Some(marker),
            "one",
        )
        .await;
        assert_eq!(made.status, Status::Success);
        let cleanup = run(
            &world,
            &defaults(),
            RequestType::Delete,
            Some(marker),
            "one",
        )
        .await;
        assert_eq!(cleanup.status, Status::Success);
        assert_eq!(world.lock().unwrap().stored.len(), 1);
        assert_eq!(
            world.lock().unwrap().connects,
            1,
            "no vendor call for a marker"
        );
    }

    #[tokio::test]
    async fn a_create_whose_answer_was_lost_finds_what_it_made() {
        let world = Shared::default();
        world.lock().unwrap().creating = Creating::LosingTheAnswer;
        let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
        assert_eq!(outcome.status, Status::Success, "{:?}", outcome.reason);
        assert_eq!(outcome.data["RegistrationId"], "reg-1");
        assert_eq!(world.lock().unwrap().stored.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unconfirmed_create_is_cleaned_up_by_its_rollback_and_only_it() {
        let world = Shared::default();
        world.lock().unwrap().creating = Creating::Late;
        let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
        assert_eq!(outcome.status, Status::Failed);
        assert_eq!(
            outcome.physical_resource_id,
            "registrar:create-unconfirmed:req-1"
        );
        assert!(
            outcome
                .reason
                .unwrap()
                .contains("may have been made anyway")
        );

        // The POST lands after all, next to a registration another request of this stack made.
        let landed = |id: &str, by: &str| Stored {
            id: id.into(),
            location: "elsewhere".into(),
            owner: Owner::ThisStack,
            settings_applied: 1,
            created_by: Some(by.into()),
            claimed_by: None,
            unusable: false,
        };
        world.lock().unwrap().stored.push(landed("late", "req-1"));
        let other = run(
            &world,
            &defaults(),
            RequestType::Delete,
            Some("registrar:create-unconfirmed:req-0"),
            "elsewhere",
        )
        .await;
        assert_eq!(other.status, Status::Success);
        assert_eq!(
            world.lock().unwrap().stored.len(),
            1,
            "another request's marker removes nothing"
        );
        let rollback = run(
            &world,
            &defaults(),
            RequestType::Delete,
            Some("registrar:create-unconfirmed:req-1"),
            "elsewhere",
        )
        .await;
        assert_eq!(rollback.status, Status::Success);
        assert!(world.lock().unwrap().stored.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_update_of_an_unconfirmed_marker_keeps_what_it_made() {
        let world = Shared::default();
        let marker = "registrar:create-unconfirmed:req-0";
        let made = run_as(
            "req-2",
            &world,
            &defaults(),
            RequestType::Update,
            Some(marker),
            "one",
        )
        .await;
        assert_eq!(made.status, Status::Success);
        let cleanup = run_as(
            "req-3",
            &world,
            &defaults(),
            RequestType::Delete,
            Some(marker),
            "one",
        )
        .await;
        assert_eq!(cleanup.status, Status::Success);
        assert_eq!(
            world.lock().unwrap().stored.len(),
            1,
            "made by req-2, not by the marker's req-0"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_claim_of_an_update_of_an_unconfirmed_marker_is_released_by_its_delete() {
        let world = Shared::default();
        let marker = "registrar:create-unconfirmed:req-0";
        let made = run_as(
            "req-2",
            &world,
            &defaults(),
            RequestType::Update,
            Some(marker),
            "one",
        )
        .await;
        assert_eq!(made.status, Status::Success);
        assert_eq!(
            world.lock().unwrap().stored[0].claimed_by.as_deref(),
            Some("req-0")
        );
        run_as(
            "req-3",
            &world,
            &defaults(),
            RequestType::Delete,
            Some(marker),
            "one",
        )
        .await;
        let world = world.lock().unwrap();
        assert_eq!(world.stored.len(), 1);
        assert_eq!(world.stored[0].claimed_by, None, "one mark left");
        assert_eq!(world.claims_released, 1);
    }

    #[tokio::test]
    async fn a_create_on_the_happy_path_makes_one_vendor_call() {
        let world = Shared::default();
        let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
        assert_eq!(outcome.status, Status::Success);
        let world = world.lock().unwrap();
        assert_eq!((world.creates, world.finds, world.updates), (1, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unconfirmed_create_whose_registration_lands_is_removed_by_its_rollback() {
        let world = Shared::default();
        world.lock().unwrap().creating = Creating::Late;
        let outcome = run(&world, &defaults(), RequestType::Create, None, "one").await;
        assert_eq!(
            outcome.physical_resource_id,
            "registrar:create-unconfirmed:req-1"
        );
        // The POST lands after all, marked as this stack's (no request recorded).
        world.lock().unwrap().stored.push(Stored {
            id: "late".into(),
            location: "one".into(),
            owner: Owner::ThisStack,
            settings_applied: 1,
            created_by: None,
            claimed_by: None,
            unusable: false,
        });
        let rollback = run_as(
            "req-5",
            &world,
            &defaults(),
            RequestType::Delete,
            Some(&outcome.physical_resource_id),
            "one",
        )
        .await;
        assert_eq!(rollback.status, Status::Success);
        assert!(world.lock().unwrap().stored.is_empty());
    }

    #[tokio::test]
    async fn a_registration_the_vendor_cannot_switch_is_a_conflict_even_with_adopt() {
        for on_conflict in [OnConflict::Fail, OnConflict::Adopt] {
            let world = Shared::default();
            world.lock().unwrap().stored.push(Stored {
                id: "keys".into(),
                location: "one".into(),
                owner: Owner::Someone,
                settings_applied: 0,
                created_by: None,
                claimed_by: None,
                unusable: true,
            });
            let before = world.lock().unwrap().stored.clone();
            let common = common(on_conflict, OnDeleteError::Fail);
            let outcome = run(&world, &common, RequestType::Create, None, "one").await;
            assert_eq!(outcome.status, Status::Failed);
            assert!(
                outcome
                    .physical_resource_id
                    .starts_with("registrar:create-failed:")
            );
            let reason = outcome.reason.unwrap();
            assert!(
                reason.contains("with access keys")
                    && reason.contains("registration keys")
                    && reason.contains("Remove it."),
                "{reason}"
            );
            let connects = world.lock().unwrap().connects;
            let rollback = run(
                &world,
                &common,
                RequestType::Delete,
                Some(&outcome.physical_resource_id),
                "one",
            )
            .await;
            assert_eq!(rollback.status, Status::Success);
            let world = world.lock().unwrap();
            assert_eq!(world.connects, connects, "no vendor call for the marker");
            assert_eq!(world.stored, before, "nothing changed");
            assert_eq!(world.updates, 0);
        }
    }
}
