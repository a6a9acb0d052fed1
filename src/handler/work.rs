//! The work for a well-formed event: what its plan asks, done against the vendor, IAM and the
//! secret, with the properties read as the step needs them.

use std::sync::Arc;
use std::time::Duration;

use super::{Event, Handler, Io, success};
use crate::BoxFuture;
use crate::cfn::{Budget, Outcome};
use crate::http::VendorHttp;
use crate::identity::StackArn;
use crate::integrations::{Desired, Integration, Kind, PermissionLists, StackMark, Visit};
use crate::lifecycle::{self, Connector, PermissionsStep, Plan, Step};
use crate::permissions::{self, Target};
use crate::progress::Progress;
use crate::props::{self, Common, Properties, PropertyError};
use crate::secrets::SecretSource;

/// Room kept before the work deadline after the vendor's last call, for the answer to be made.
const AFTER_LAST_CALL: Duration = Duration::from_millis(300);

/// Does what the event's plan asks.
pub(super) async fn run(
    handler: Arc<Handler>,
    event: Event,
    budget: Budget,
    progress: Progress,
    io: Arc<Io>,
) -> Outcome {
    let failed_id = event.failed_id();
    if event.plan == Plan::Nothing {
        tracing::info!(physical_id = ?event.incoming(), "nothing of Registrar's to do for this id; no vendor call");
        return success(failed_id);
    }
    if let Some(problem) = &handler.config.problem {
        return Outcome::failed(
            failed_id,
            format!(
                "Registrar's function is misconfigured: {problem}. Fix the function's environment variables and retry."
            ),
        );
    }
    let Some(stack) = &event.stack else {
        return Outcome::failed(
            failed_id,
            format!(
                "The StackId {:?} is not a CloudFormation stack ARN.",
                event.envelope.stack_id
            ),
        );
    };
    let work = Work {
        handler: &handler,
        event: &event,
        stack,
        io: &io,
        deadline: budget.work_deadline - AFTER_LAST_CALL,
        progress,
    };
    match event.plan.clone() {
        Plan::Nothing => success(failed_id),
        Plan::Refuse(e) => Outcome::failed(failed_id, e.to_string()),
        Plan::Integration(step) => Box::pin(work.integration(step)).await,
        Plan::Permissions(step) => Box::pin(work.permissions(step)).await,
    }
}

/// One event's work, with what it reaches the world with.
struct Work<'a> {
    handler: &'a Handler,
    event: &'a Event,
    stack: &'a StackArn,
    io: &'a Io,
    /// When the last vendor or AWS call must be done.
    deadline: tokio::time::Instant,
    progress: Progress,
}

impl Work<'_> {
    /// Vendor calls under the retry policy, until the deadline, where the function's
    /// environment sends them.
    fn http(&self, vendor: Kind) -> VendorHttp {
        VendorHttp::new(
            self.io.client.clone(),
            vendor.display_name(),
            self.deadline,
            self.progress.clone(),
        )
        .redirected_to(self.handler.config.vendor_endpoint.clone())
    }

    /// A step on the registration or the role binding, with the integration the id names (a
    /// Delete) or else the `Vendor` property.
    async fn integration(&self, step: Step) -> Outcome {
        let event = self.event;
        let kind = match event.plan.named_integration() {
            Some(kind) => Ok(kind),
            None => Kind::from_properties(&event.props),
        };
        let parsed =
            kind.and_then(|kind| Ok((kind, Common::parse(&event.props, Some(self.stack))?)));
        let (kind, common) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => return Outcome::failed(event.failed_id(), e.to_string()),
        };
        let run = RunStep {
            step,
            work: self,
            common: &common,
            http: self.http(kind),
            secrets: &*self.io.secrets,
        };
        kind.visit(run).await
    }

    /// A step of the role-permissions resource: the lists come from the vendor's integration,
    /// IAM is written by [`permissions`].
    async fn permissions(&self, step: PermissionsStep) -> Outcome {
        let event = self.event;
        let failed_id = event.failed_id();
        if let PermissionsStep::Remove(reference) = step {
            // The id names the role; only OnDeleteError is read from the properties.
            return match props::on_delete_error(&event.props) {
                Ok(on_delete_error) => {
                    permissions::remove(reference, on_delete_error, &self.io.aws, &self.progress)
                        .await
                }
                Err(e) => Outcome::failed(failed_id, e.to_string()),
            };
        }
        let target = match event.target.clone() {
            Some(target) => target,
            None => Target::parse(&event.props, Some(self.stack)),
        };
        let target = match target {
            Ok(target) => target,
            Err(e) => return Outcome::failed(failed_id, e.to_string()),
        };
        if step == PermissionsStep::Sweep {
            return permissions::sweep(&target, failed_id, &self.io.aws, &self.progress).await;
        }
        let fetch = FetchLists {
            props: &event.props,
            http: self.http(target.vendor),
        };
        let lists = match target.vendor.visit(fetch) {
            Ok(Some(lists)) => lists,
            Ok(None) => {
                return Outcome::failed(
                    failed_id,
                    format!("{} publishes no permission lists.", target.vendor),
                );
            }
            Err(e) => return Outcome::failed(failed_id, e.to_string()),
        };
        let attach = permissions::Event {
            request_type: event.request_type,
            physical_id: event.incoming(),
            target,
            progress: self.progress.clone(),
        };
        permissions::attach(attach, lists, &self.io.aws).await
    }
}

/// Carries out a step with the visited integration: its settings, the desired registration,
/// and a connector that reads the keys when the first vendor call needs them.
struct RunStep<'a> {
    step: Step,
    work: &'a Work<'a>,
    common: &'a Common,
    http: VendorHttp,
    secrets: &'a dyn SecretSource,
}

impl<'a> Visit for RunStep<'a> {
    type Output = BoxFuture<'a, Outcome>;

    fn visit<I: Integration>(self) -> Self::Output {
        Box::pin(async move {
            let event = self.work.event;
            let settings = match I::settings(&event.props) {
                Ok(settings) => settings,
                Err(e) => return Outcome::failed(event.failed_id(), e.to_string()),
            };
            let common = self.common;
            let deadline = tokio::time::Instant::now() + self.http.remaining();
            let event = lifecycle::Event::<I> {
                request_type: event.request_type,
                request_id: &event.envelope.request_id,
                incoming: event.incoming(),
                common,
                settings,
                desired: Desired {
                    identity: common.identity.clone(),
                    role_name: common.role_name.clone(),
                    stack: StackMark {
                        region: self.work.stack.region.clone(),
                        stack_name: self.work.stack.name.clone(),
                    },
                    claims: None,
                },
                deadline,
                connector: Connector {
                    secrets: self.secrets,
                    secret: &common.secret,
                    account: &common.identity.account,
                    http: self.http,
                },
            };
            lifecycle::run(self.step, event).await
        })
    }
}

/// The permission lists of the visited integration, for a resource with these properties;
/// `None` when the vendor publishes none.
struct FetchLists<'a> {
    props: &'a Properties,
    http: VendorHttp,
}

impl Visit for FetchLists<'_> {
    type Output = Result<Option<BoxFuture<'static, PermissionLists>>, PropertyError>;

    fn visit<I: Integration>(self) -> Self::Output {
        let Some(fetch) = I::PERMISSION_LISTS else {
            return Ok(None);
        };
        Ok(Some(fetch(&I::settings(self.props)?, self.http)))
    }
}
