//! A registration's Create, Update and Delete: register (looking first, or registering first
//! with vendors that refuse duplicates), settle conflicts per `OnConflict`, update in place or
//! replace, deregister per `OnDeleteError`.

use crate::cfn::{Outcome, RequestType};
use crate::integrations::{Integration, Owner, Registration, VendorError};
use crate::physical_id::{self, RegistrationRef};
use crate::props::OnConflict;

use super::plan::stays;
use super::{Event, Failure, relocated, removal_outcome, success};

/// Makes sure the account has this stack's registration (Create, an Update that acts as Create,
/// or a replacement). `claims`: the request of the unconfirmed Create's marker an Update takes
/// over, whose Delete comes next: what the event ends up owning is marked with it, so that the
/// Delete keeps it.
pub(super) async fn register<I: Integration>(
    event: Event<'_, I>,
    claims: Option<String>,
) -> Outcome {
    let location = I::location(&event.settings);
    let mut desired = event.desired.clone();
    desired.claims = claims;
    let result = async {
        I::check(&event.settings, &event.desired.identity)?;
        let principal = I::principal_account_id(&event.settings, event.desired.identity.partition)?;
        let vendor = event
            .connector
            .connect::<I>(event.settings.clone(), desired)
            .await?;
        let registration = ensure(&vendor, &event).await?;
        let attributes = vendor.attributes(&registration);
        Ok::<_, Failure>((registration, principal, attributes))
    }
    .await;
    match result {
        Ok((registration, principal, attributes)) => {
            success(&event, location, registration, principal, attributes)
        }
        Err(failure @ Failure::Unconfirmed(_)) if event.request_type == RequestType::Create => {
            Outcome::failed(
                physical_id::create_unconfirmed(event.request_id),
                failure.to_string(),
            )
        }
        Err(failure) => Outcome::failed(event.failed_id(), failure.to_string()),
    }
}

/// Brings the registration an Update's id names to the properties: in place when it stays
/// where the properties want it, else a replacement (a new registration, then CloudFormation
/// deletes the old one).
pub(super) async fn update<I: Integration>(
    event: Event<'_, I>,
    registration: RegistrationRef,
) -> Outcome {
    let location = I::location(&event.settings);
    if !stays(&registration, I::KIND, &location, &event.desired.identity) {
        return register(event, None).await;
    }
    let incoming = registration.to_string();
    let result = async {
        I::check(&event.settings, &event.desired.identity)?;
        let principal = I::principal_account_id(&event.settings, event.desired.identity.partition)?;
        let vendor = event
            .connector
            .connect::<I>(event.settings.clone(), event.desired.clone())
            .await?;
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
            success(&event, location, updated, principal, attributes)
        }
        Err(failure) => Outcome::failed(incoming, failure.to_string()),
    }
}

/// Removes the registration a Delete's id names, where the id says it is.
pub(super) async fn deregister<I: Integration>(
    event: Event<'_, I>,
    registration: RegistrationRef,
) -> Outcome {
    let result = async {
        let vendor = event
            .connector
            .connect_to_remove::<I>(relocated(&event, &registration)?, event.desired.clone())
            .await?;
        Ok::<_, Failure>(vendor.delete(&registration.id).await?)
    }
    .await;
    removal_outcome(&event, registration.to_string(), &registration, result)
}

/// Makes sure the account has a registration this stack owns, per `OnConflict`.
async fn ensure<I: Integration>(vendor: &I, event: &Event<'_, I>) -> Result<Registration, Failure> {
    if I::REFUSES_DUPLICATES {
        register_first(vendor, event).await
    } else {
        look_first(vendor, event).await
    }
}

/// For vendors that refuse a second registration of an account: registers, and looks only
/// when the vendor says the account is registered already or the answer was lost.
async fn register_first<I: Integration>(
    vendor: &I,
    event: &Event<'_, I>,
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
async fn look_first<I: Integration>(
    vendor: &I,
    event: &Event<'_, I>,
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
async fn settle<I: Integration>(
    vendor: &I,
    event: &Event<'_, I>,
    existing: Registration,
) -> Result<Option<Registration>, Failure> {
    if let Some(unusable) = &existing.unusable {
        return Err(Failure::Conflict(format!(
            "AWS account {} is already registered with {} ({}) {} (registration {}). Registrar changed nothing and will not delete it. {}",
            event.desired.identity.account,
            I::KIND,
            I::location(&event.settings),
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
        (owner, OnConflict::Fail) => Err(Failure::Conflict(conflict_reason::<I>(
            event, &existing, owner,
        ))),
    }
}

fn kept_changing<I: Integration>(event: &Event<'_, I>) -> Failure {
    Failure::Conflict(format!(
        "The {} registration of account {} kept changing while Registrar worked on it (someone else is changing it at the same time). Retry the stack operation.",
        I::KIND,
        event.desired.identity.account
    ))
}

fn conflict_reason<I: Integration>(
    event: &Event<'_, I>,
    existing: &Registration,
    owner: &Owner,
) -> String {
    let account = &event.desired.identity.account;
    let place = format!("{} ({})", I::KIND, I::location(&event.settings));
    match owner {
        Owner::OtherStack(stack) => format!(
            "AWS account {account} is already registered with {place} by another Registrar stack ({stack}; registration {}). An account has one registration per {} organisation: deploy the StackSet to one region per account, or remove the other stack. Registrar changed nothing.",
            existing.id,
            I::KIND
        ),
        _ => format!(
            "AWS account {account} is already registered with {place} by someone else (registration {}). Registrar changed nothing and will not delete it. To manage it with this stack, set OnConflict to adopt; or remove the existing registration in {} and retry.",
            existing.id,
            I::KIND
        ),
    }
}
