//! A Delete of an id Registrar never answered: a Create whose answer CloudFormation never got
//! or gave up on (it invents an id when it cancels a Create still running), or an unconfirmed
//! Create's marker. That Create may have registered the account, so the Delete removes a
//! registration marked as this stack's, waiting briefly for a Create still in flight, and
//! touches nothing else. It never fails the Delete: what it could not do is answered SUCCESS
//! by [`super::Plan::answer`].

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::cfn::Outcome;
use crate::integrations::{Integration, Owner, Registration};

use super::{Event, Failure};

/// How long a Delete of a foreign id waits for a Create still in flight to register the account.
const SWEEP_GRACE: Duration = Duration::from_secs(10);
const SWEEP_POLL: Duration = Duration::from_secs(2);

/// Removes this stack's registration if a Create made one (or makes one within
/// [`SWEEP_GRACE`]). `made_by`: the request of an unconfirmed Create's marker.
pub(super) async fn sweep<I: Integration>(event: Event<'_, I>, made_by: Option<String>) -> Outcome {
    let answer_id = event.failed_id();
    let until = (Instant::now() + SWEEP_GRACE).min(event.deadline);
    let result = async {
        let vendor = event
            .connector
            .connect_to_remove::<I>(event.settings.clone(), event.desired.clone())
            .await?;
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
            tracing::warn!(registration = %id, physical_id = %answer_id, "removed the registration of a Create whose answer CloudFormation did not take");
            Outcome::success(answer_id, BTreeMap::new())
        }
        Ok(None) => {
            tracing::info!(physical_id = %answer_id, "no registration of this stack's to remove");
            Outcome::success(answer_id, BTreeMap::new())
        }
        Err(failure) => Outcome::failed(
            answer_id,
            format!(
                "Could not check for a registration left by an unanswered Create ({failure}); if one exists it is left at the vendor."
            ),
        ),
    }
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
