//! The function's handler: one CloudFormation event in, exactly one answer out.
//!
//! It parses the event, runs the lifecycle for the event's vendor under the guard, delivers the
//! answer and logs one summary line. It returns to the runtime only after the answer was
//! delivered, and with an error when it could not be.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use serde_json::Value;

use crate::aws::AwsSdk;
use crate::cfn::guard;
use crate::cfn::request::{Envelope, Malformed, ParseError};
use crate::cfn::responder::DeliveryError;
use crate::cfn::{Budget, Outcome, Request, RequestType, Response, ResponseUrl, Status, responder};
use crate::config::Config;
use crate::http::VendorHttp;
use crate::identity::StackArn;
use crate::integrations::{Desired, Integration, Kind, PermissionLists, StackMark, Visit};
use crate::lifecycle::{self, Event, Failure};
use crate::permissions;
use crate::physical_id::{self, PhysicalId};
use crate::progress::Progress;
use crate::props::{Common, Phase, Properties, PropertyError};
use crate::secrets::{self, SecretJson};

/// Why an event got no answer: what the runtime is told (and Lambda logs) in that case.
#[derive(Debug, thiserror::Error)]
pub enum Unanswered {
    #[error("{0}")]
    Unanswerable(String),
    #[error(transparent)]
    Undelivered(#[from] DeliveryError),
    #[error("the HTTP client could not be built: {0}")]
    Client(#[from] reqwest::Error),
}

impl From<Unanswered> for lambda_runtime::Diagnostic {
    fn from(error: Unanswered) -> Self {
        let error_type = match error {
            Unanswered::Unanswerable(_) => "Registrar.Unanswerable",
            Unanswered::Undelivered(_) => "Registrar.AnswerNotDelivered",
            Unanswered::Client(_) => "Registrar.HttpClient",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Debug builds only: set to make the work panic, to prove a panic still gets an answer.
#[cfg(debug_assertions)]
const INJECT_PANIC_VAR: &str = "REGISTRAR_INJECT_PANIC";

/// State kept across warm invocations; created without any network call.
pub struct Handler {
    config: Config,
    stack: OnceLock<Arc<Stack>>,
}

/// The HTTP client and the AWS SDK over it, built on the first event.
struct Stack {
    client: reqwest::Client,
    aws: AwsSdk,
}

impl Handler {
    pub fn new(config: Config) -> Handler {
        Handler {
            config,
            stack: OnceLock::new(),
        }
    }

    fn stack(&self) -> Result<Arc<Stack>, Unanswered> {
        if let Some(stack) = self.stack.get() {
            return Ok(stack.clone());
        }
        let client = crate::http::client()?;
        let stack = Arc::new(Stack {
            aws: AwsSdk::new(client.clone()),
            client,
        });
        Ok(self.stack.get_or_init(|| stack).clone())
    }

    /// Handles one event from the Lambda runtime.
    pub async fn handle(self: Arc<Self>, event: LambdaEvent<Value>) -> Result<(), Unanswered> {
        let (payload, context) = event.into_parts();
        let budget = Budget::from_deadline(context.deadline, self.config.fallback_budget);
        if budget.fell_back {
            tracing::warn!(
                deadline_ms = context.deadline,
                fallback_s = self.config.fallback_budget.as_secs(),
                "the runtime's deadline is unusable; using the fallback budget"
            );
        }
        let stack = self.stack()?;
        let client = stack.client.clone();
        let (envelope, response_url, outcome, subject) = match Request::parse(
            payload,
            &self.config.response_hosts,
        ) {
            Ok(request) => {
                let subject = Subject::of(&request);
                let progress = Progress::default();
                // Work cut short may have registered the account already.
                let (incoming, request_id) = (
                    request.envelope.physical_resource_id.clone(),
                    request.envelope.request_id.clone(),
                );
                // The permissions step names its role, not a registration: a Create it cut
                // short answers that id, so that the rollback's Delete removes what it wrote.
                let permissions_id = permissions::id_for(&request);
                let fallback_id = move |progress: &Progress| match incoming {
                    Some(id) => id,
                    None if permissions_id.is_some() => permissions_id.unwrap_or_default(),
                    None if progress.may_have_changed_something() => {
                        physical_id::create_unconfirmed(&request_id)
                    }
                    None => physical_id::create_failed(&request_id),
                };
                let sweeping = is_sweep(&request);
                let (envelope, response_url) =
                    (request.envelope.clone(), request.response_url.clone());
                let work = self
                    .clone()
                    .work(request, budget, progress.clone(), stack.clone());
                let mut outcome = guard::run(work, &budget, &progress, fallback_id).await;
                if sweeping && outcome.status == Status::Failed {
                    // A Delete of an id Registrar never answered must not block the stack,
                    // whatever stopped the look (bad properties, an unreadable secret, the
                    // deadline, a panic).
                    tracing::warn!(reason = ?outcome.reason, "could not finish looking for a registration left by an unanswered Create; answering SUCCESS");
                    outcome = Outcome::success(outcome.physical_resource_id, Default::default());
                }
                (envelope, response_url, outcome, subject)
            }
            Err(ParseError::Malformed(malformed)) => {
                let Malformed {
                    envelope,
                    response_url,
                    reason,
                } = *malformed;
                let outcome = Outcome::failed(answer_id_if_lost(&envelope), reason);
                (envelope, response_url, outcome, Subject::default())
            }
            Err(ParseError::Unanswerable(why)) => {
                tracing::error!(error = %why, "the event cannot be answered");
                return Err(Unanswered::Unanswerable(why));
            }
        };
        deliver(&client, envelope, response_url, outcome, subject, budget).await
    }

    /// The work for a well-formed request: properties, keys, vendor, lifecycle.
    async fn work(
        self: Arc<Self>,
        request: Request,
        budget: Budget,
        progress: Progress,
        stack: Arc<Stack>,
    ) -> Outcome {
        let client = stack.client.clone();
        let aws = &stack.aws;
        let envelope = &request.envelope;
        let failed_id = answer_id_if_lost(envelope);
        let incoming = envelope
            .physical_resource_id
            .as_deref()
            .map(PhysicalId::parse);
        // A marker names nothing: its Delete needs no vendor call, not even valid properties.
        if request.request_type == RequestType::Delete
            && matches!(incoming, Some(PhysicalId::CreateFailed))
        {
            tracing::info!("the PhysicalResourceId is a failed Create's marker; nothing to delete");
            return Outcome::success(failed_id, Default::default());
        }
        if let Some(problem) = &self.config.problem {
            return Outcome::failed(
                failed_id,
                format!(
                    "Registrar's function is misconfigured: {problem}. Fix the function's environment variables and retry."
                ),
            );
        }
        #[cfg(debug_assertions)]
        if std::env::var_os(INJECT_PANIC_VAR).is_some() {
            progress.set("running with an injected fault");
            panic!("injected by {INJECT_PANIC_VAR}");
        }
        let props = Properties::new(request.properties.clone());
        let Some(stack_arn) = StackArn::parse(&envelope.stack_id) else {
            return Outcome::failed(
                failed_id,
                format!(
                    "The StackId {:?} is not a CloudFormation stack ARN.",
                    envelope.stack_id
                ),
            );
        };
        if matches!(Phase::parse(&props), Ok(Phase::RolePermissions)) {
            return Box::pin(
                self.role_permissions(&request, &props, &stack_arn, budget, progress, &stack),
            )
            .await;
        }
        let (kind, common) = match Kind::from_properties(&props)
            .and_then(|kind| Ok((kind, Common::parse(&props, Some(&stack_arn))?)))
        {
            Ok(parsed) => parsed,
            Err(e) => return Outcome::failed(failed_id, e.to_string()),
        };
        // A Delete goes to the vendor that made the registration (or binding).
        let vendor = match &incoming {
            Some(PhysicalId::Registration(r)) if request.request_type == RequestType::Delete => {
                r.vendor
            }
            Some(PhysicalId::Binding(b)) if request.request_type == RequestType::Delete => {
                b.registration.vendor
            }
            _ => kind,
        };
        let http = VendorHttp::new(
            client,
            vendor.display_name(),
            budget.work_deadline - Duration::from_millis(300),
            progress.clone(),
        )
        .redirected_to(self.config.vendor_endpoint.clone());
        let mark = StackMark {
            region: stack_arn.region.clone(),
            stack_name: stack_arn.name.clone(),
        };
        let job = Job {
            request: &request,
            props: &props,
            common: &common,
            mark,
            http,
            progress,
        };
        vendor.visit(Run { job, aws }).await
    }
}

/// Runs a job with the visited integration.
struct Run<'a> {
    job: Job<'a>,
    aws: &'a AwsSdk,
}

impl<'a> Visit for Run<'a> {
    type Output = crate::BoxFuture<'a, Outcome>;
    fn visit<I: Integration>(self) -> Self::Output {
        Box::pin(run::<I>(self.job, self.aws))
    }
}

async fn run<V: Integration>(job: Job<'_>, aws: &AwsSdk) -> Outcome {
    let Job {
        request,
        props,
        common,
        mark,
        http,
        progress,
    } = job;
    let settings = match V::settings(props) {
        Ok(settings) => settings,
        Err(e) => return Outcome::failed(answer_id_if_lost(&request.envelope), e.to_string()),
    };
    let event = Event::<V> {
        request_type: request.request_type,
        request_id: &request.envelope.request_id,
        physical_id: request.envelope.physical_resource_id.as_deref(),
        common,
        settings,
        desired: Desired {
            identity: common.identity.clone(),
            role_name: common.role_name.clone(),
            stack: mark,
            claims: None,
        },
        deadline: tokio::time::Instant::now() + http.remaining(),
    };
    let connect = |settings: V::Settings, desired: Desired| async move {
        progress.set(format!("preparing to read the {} keys", V::KIND));
        let session = format!("registrar-{}", common.identity.account);
        let deadline = tokio::time::Instant::now() + http.remaining();
        let text = secrets::read(aws, &common.secret, &session, &progress, deadline).await?;
        let json = SecretJson::parse(&common.secret.arn, text, V::SECRET_SHAPE)?;
        Ok::<V, Failure>(V::connect(settings, &json, desired, http)?)
    };
    lifecycle::handle(event, connect).await
}

impl Handler {
    /// `Phase: role-permissions`: the vendor's permission lists on its role. It reads no secret
    /// (the lists need no keys) and builds the IAM client only here.
    async fn role_permissions(
        &self,
        request: &Request,
        props: &Properties,
        stack: &StackArn,
        budget: Budget,
        progress: Progress,
        shared: &Stack,
    ) -> Outcome {
        let (client, aws) = (shared.client.clone(), &shared.aws);
        let failed_id = answer_id_if_lost(&request.envelope);
        let target = match permissions::Target::parse(props, Some(stack)) {
            Ok(target) => target,
            Err(e) => return Outcome::failed(failed_id, e.to_string()),
        };
        let http = VendorHttp::new(
            client,
            target.vendor.display_name(),
            budget.work_deadline - Duration::from_millis(300),
            progress.clone(),
        )
        .redirected_to(self.config.vendor_endpoint.clone());
        let lists = match target.vendor.visit(FetchLists { props, http }) {
            Ok(Some(lists)) => lists,
            Ok(None) => unreachable!("Target::parse accepts only vendors that publish lists"),
            Err(e) => return Outcome::failed(failed_id, e.to_string()),
        };
        let event = permissions::Event {
            request_type: request.request_type,
            request_id: &request.envelope.request_id,
            physical_id: request.envelope.physical_resource_id.as_deref(),
            target,
            progress,
        };
        permissions::handle(event, lists, aws).await
    }
}

/// The permission lists of the visited integration, for a resource with these properties.
struct FetchLists<'a> {
    props: &'a Properties,
    http: VendorHttp,
}

impl Visit for FetchLists<'_> {
    type Output = Result<Option<crate::BoxFuture<'static, PermissionLists>>, PropertyError>;
    fn visit<I: Integration>(self) -> Self::Output {
        let Some(fetch) = I::PERMISSION_LISTS else {
            return Ok(None);
        };
        Ok(Some(fetch(&I::settings(self.props)?, self.http)))
    }
}

/// A request read and checked, ready for its vendor.
struct Job<'a> {
    request: &'a Request,
    props: &'a Properties,
    common: &'a Common,
    mark: StackMark,
    http: VendorHttp,
    progress: Progress,
}

/// Whether the request is a Delete of an id Registrar never answered (see lifecycle): it may
/// look for a registration to remove, but never fails.
fn is_sweep(request: &Request) -> bool {
    let incoming = request
        .envelope
        .physical_resource_id
        .as_deref()
        .map(PhysicalId::parse);
    request.request_type == RequestType::Delete
        && matches!(
            incoming,
            None | Some(PhysicalId::Foreign(_) | PhysicalId::CreateUnconfirmed { .. })
        )
}

/// The id to answer with when the work cannot say: the incoming one, or a Create's marker.
fn answer_id_if_lost(envelope: &Envelope) -> String {
    envelope
        .physical_resource_id
        .clone()
        .unwrap_or_else(|| physical_id::create_failed(&envelope.request_id))
}

/// Who an event is about, for the summary log line.
#[derive(Default)]
struct Subject {
    request_type: &'static str,
    vendor: String,
    account: String,
}

impl Subject {
    fn of(request: &Request) -> Subject {
        let props = Properties::new(request.properties.clone());
        let account = props
            .text("AccountId")
            .ok()
            .flatten()
            .or_else(|| StackArn::parse(&request.envelope.stack_id).map(|s| s.account.to_string()))
            .unwrap_or_default();
        Subject {
            request_type: request.request_type.as_str(),
            vendor: props.text("Vendor").ok().flatten().unwrap_or_default(),
            account,
        }
    }
}

async fn deliver(
    client: &reqwest::Client,
    envelope: Envelope,
    url: ResponseUrl,
    outcome: Outcome,
    subject: Subject,
    budget: Budget,
) -> Result<(), Unanswered> {
    let status = outcome.status.as_str();
    let physical_id = outcome.physical_resource_id.clone();
    let reason = outcome.reason.clone().unwrap_or_default();
    let body = Response::new(&envelope, outcome).into_body();
    let delivery = responder::deliver(client, &url, body, budget.answer_deadline).await;
    let request_type = if subject.request_type.is_empty() {
        envelope.request_type.as_str()
    } else {
        subject.request_type
    };
    tracing::info!(
        request_type,
        stack = %envelope.stack_id,
        logical_id = %envelope.logical_resource_id,
        request_id = %envelope.request_id,
        account = %subject.account,
        vendor = %subject.vendor,
        outcome = status,
        physical_id = %physical_id,
        reason = %reason,
        duration_ms = budget.elapsed().as_millis() as u64,
        delivered = delivery.is_ok(),
        response_url = %url,
        "event handled"
    );
    match delivery {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "the answer could not be delivered");
            Err(e.into())
        }
    }
}
