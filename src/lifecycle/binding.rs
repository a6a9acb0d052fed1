//! A role binding's Create, Update and Delete (`Phase: role-binding`, for vendors that need the
//! role's ARN once the role exists): bind the role to the registration and complete it, or undo
//! that.

use crate::cfn::Outcome;
use crate::integrations::Integration;
use crate::physical_id::{BindingRef, RegistrationRef};

use super::plan::stays;
use super::{Event, Failure, relocated, removal_outcome, success};

/// Binds the role to registration `registration_id`. An Update of a binding of the same
/// registration (`continues`) continues it; anything else starts anew.
pub(super) async fn bind<I: Integration>(
    event: Event<'_, I>,
    registration_id: &str,
    continues: Option<BindingRef>,
) -> Outcome {
    let identity = &event.desired.identity;
    let role_arn = format!(
        "arn:{}:iam::{}:role/{}",
        identity.partition, identity.account, event.desired.role_name
    );
    let location = I::location(&event.settings);
    let previous = continues
        .filter(|b| {
            b.registration.id == registration_id
                && stays(&b.registration, I::KIND, &location, identity)
        })
        .and_then(|b| b.scope);
    let result = async {
        let principal = I::principal_account_id(&event.settings, identity.partition)?;
        let vendor = event
            .connector
            .connect::<I>(event.settings.clone(), event.desired.clone())
            .await?;
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
                    vendor: I::KIND,
                    location: location.clone(),
                    partition: identity.partition,
                    account: identity.account.clone(),
                    id: bound.registration.id.clone(),
                },
                scope: bound.scope,
            };
            attributes.extend(bound.data);
            let mut outcome = success(&event, location, bound.registration, principal, attributes);
            outcome.physical_resource_id = binding.to_string();
            outcome.data.insert("RoleArn".to_owned(), role_arn);
            outcome
        }
        Err(failure) => Outcome::failed(event.failed_id(), failure.to_string()),
    }
}

/// Undoes the binding a Delete's id names, where the id says it is.
pub(super) async fn unbind<I: Integration>(event: Event<'_, I>, binding: BindingRef) -> Outcome {
    let registration = &binding.registration;
    let result = async {
        let vendor = event
            .connector
            .connect_to_remove::<I>(relocated(&event, registration)?, event.desired.clone())
            .await?;
        Ok::<_, Failure>(
            vendor
                .unbind(&registration.id, binding.scope.as_deref())
                .await?,
        )
    }
    .await;
    removal_outcome(&event, binding.to_string(), registration, result)
}
