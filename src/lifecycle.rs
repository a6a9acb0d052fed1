//! The lifecycle rules — what Create, Update and Delete do — written once for every vendor.
//!
//! - Create looks the account up first. No registration: create one. This stack's: reuse it.
//!   Someone else's: fail with a marker id (so the rollback's Delete touches nothing), or, with
//!   `OnConflict=adopt`, bring it to the desired settings and own it.
//! - Update changing vendor, location, account or partition is a replacement (a new
//!   registration and id; CloudFormation then deletes the old one). Otherwise the registration
//!   is updated in place, or created again if it vanished. A marker id acts as Create.
//! - Delete removes exactly the registration its id names; a marker or foreign id needs no
//!   vendor call, and "not found" is success. What a permanent error does is `OnDeleteError`.

use std::collections::BTreeMap;
use std::future::Future;

use crate::cfn::{Outcome, RequestType};
use crate::physical_id::{self, PhysicalId, RegistrationRef};
use crate::props::{Common, OnConflict, OnDeleteError, PropertyError};
use crate::secrets::SecretError;
use crate::vendor::{Desired, Owner, Registration, Removal, Vendor, VendorError};

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
}

impl Failure {
    fn is_transient(&self) -> bool {
        match self {
            Failure::Secret(e) => e.is_transient(),
            Failure::Vendor(e) => e.is_transient(),
            Failure::Property(_) | Failure::Conflict(_) => false,
        }
    }
}

/// Everything the rules need to know about one event.
pub struct Event<'a, V: Vendor> {
    pub request_type: RequestType,
    pub request_id: &'a str,
    /// The incoming PhysicalResourceId (Update, Delete).
    pub physical_id: Option<&'a str>,
    pub common: &'a Common,
    pub settings: V::Settings,
    pub desired: Desired,
}

/// Applies the rules. `connect` reads the keys and builds the vendor client; it is called only
/// when a vendor call is needed.
pub async fn handle<V, C, F>(event: Event<'_, V>, connect: C) -> Outcome
where
    V: Vendor,
    C: FnOnce(V::Settings, Desired) -> F,
    F: Future<Output = Result<V, Failure>>,
{
    let incoming = event.physical_id.map(PhysicalId::parse);
    match (event.request_type, incoming) {
        (RequestType::Delete, Some(PhysicalId::Registration(registration))) => {
            delete(event, registration, connect).await
        }
        (RequestType::Delete, other) => {
            tracing::info!(physical_id = ?other, "nothing of Registrar's to delete; no vendor call");
            Outcome::success(event.physical_id.unwrap_or_default(), BTreeMap::new())
        }
        (RequestType::Update, Some(PhysicalId::Registration(registration)))
            if same_place::<V>(&event, &registration) =>
        {
            update_in_place(event, registration, connect).await
        }
        (RequestType::Update, _) | (RequestType::Create, _) => create(event, connect).await,
    }
}

/// Whether the registration lives where the event wants it (else an Update is a replacement).
fn same_place<V: Vendor>(event: &Event<'_, V>, registration: &RegistrationRef) -> bool {
    registration.vendor == V::KIND
        && registration.location == V::location(&event.settings)
        && registration.partition == event.desired.identity.partition
        && registration.account == event.desired.identity.account
}

async fn create<V, C, F>(event: Event<'_, V>, connect: C) -> Outcome
where
    V: Vendor,
    C: FnOnce(V::Settings, Desired) -> F,
    F: Future<Output = Result<V, Failure>>,
{
    // A failed Create answers a marker; a failed Update keeps its id, so nothing is replaced.
    let failed_id = match (event.request_type, event.physical_id) {
        (RequestType::Update, Some(id)) => id.to_owned(),
        _ => physical_id::create_failed(event.request_id),
    };
    let location = V::location(&event.settings);
    let result = async {
        let principal = V::principal_account_id(&event.settings, event.desired.identity.partition)?;
        let vendor = connect(event.settings.clone(), event.desired.clone()).await?;
        let registration = ensure(&vendor, &event).await?;
        Ok::<_, Failure>((registration, principal))
    }
    .await;
    match result {
        Ok((registration, principal)) => success::<V>(&event, location, registration, principal),
        Err(failure) => Outcome::failed(failed_id, failure.to_string()),
    }
}

/// Makes sure the account has a registration this stack owns, per `OnConflict`.
async fn ensure<V: Vendor>(vendor: &V, event: &Event<'_, V>) -> Result<Registration, Failure> {
    // Two rounds: a registration can appear (another writer) or vanish between calls.
    for _ in 0..2 {
        let existing = match vendor.find().await? {
            None => match vendor.create().await {
                Ok(registration) => return Ok(registration),
                Err(VendorError::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e.into()),
            },
            Some(existing) => existing,
        };
        match (&existing.owner, event.common.on_conflict) {
            (Owner::ThisStack, _) | (_, OnConflict::Adopt) => {
                if existing.owner != Owner::ThisStack {
                    tracing::warn!(registration = %existing.id, owner = ?existing.owner, "adopting an existing registration (OnConflict=adopt)");
                }
                match vendor.update(&existing.id).await? {
                    Some(registration) => return Ok(registration),
                    None => continue,
                }
            }
            (owner, OnConflict::Fail) => {
                return Err(Failure::Conflict(conflict_reason::<V>(
                    event, &existing, owner,
                )));
            }
        }
    }
    Err(Failure::Conflict(format!(
        "The {} registration of account {} kept changing while Registrar worked on it (someone else is changing it at the same time). Retry the stack operation.",
        V::KIND,
        event.desired.identity.account
    )))
}

fn conflict_reason<V: Vendor>(
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
    V: Vendor,
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
        Ok::<_, Failure>((updated, principal))
    }
    .await;
    match result {
        Ok((updated, principal)) => success::<V>(&event, location, updated, principal),
        Err(failure) => Outcome::failed(incoming, failure.to_string()),
    }
}

async fn delete<V, C, F>(event: Event<'_, V>, registration: RegistrationRef, connect: C) -> Outcome
where
    V: Vendor,
    C: FnOnce(V::Settings, Desired) -> F,
    F: Future<Output = Result<V, Failure>>,
{
    let incoming = registration.to_string();
    let result = async {
        // Delete where the registration is, whatever the properties say now.
        let settings = V::relocate(event.settings.clone(), &registration.location).ok_or_else(|| {
            Failure::Vendor(VendorError::Unsupported(format!(
                "The PhysicalResourceId names {} location {:?}, which this version of Registrar does not recognise.",
                V::KIND,
                registration.location
            )))
        })?;
        let vendor = connect(settings, event.desired.clone()).await?;
        Ok::<_, Failure>(vendor.delete(&registration.id).await?)
    }
    .await;
    match result {
        Ok(removal) => {
            tracing::info!(registration = %registration.id, already_gone = removal == Removal::AlreadyGone, "deregistered");
            Outcome::success(incoming, BTreeMap::new())
        }
        Err(failure) if event.common.on_delete_error == OnDeleteError::Retain => {
            tracing::warn!(
                orphan = %registration.id,
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

fn success<V: Vendor>(
    event: &Event<'_, V>,
    location: String,
    registration: Registration,
    principal: String,
) -> Outcome {
    let physical_id = RegistrationRef {
        vendor: V::KIND,
        location,
        partition: event.desired.identity.partition,
        account: event.desired.identity.account.clone(),
        id: registration.id.clone(),
    };
    let data = BTreeMap::from([
        ("ExternalId".to_owned(), registration.external_id),
        ("RegistrationId".to_owned(), registration.id),
        ("PrincipalAccountId".to_owned(), principal),
    ]);
    Outcome::success(physical_id.to_string(), data)
}
