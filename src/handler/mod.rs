//! The function's handler: one CloudFormation event in, exactly one answer out.
//!
//! It reads the event once ([`Event::read`]: the request, its properties, the incoming
//! PhysicalResourceId and `Phase`), asks [`lifecycle::plan`] what to do, does that under the
//! guard ([`work`]), delivers the answer and logs one summary line. It decides nothing itself:
//! it does the I/O. It returns to the runtime only after the answer was delivered, and with an
//! error when it could not be.

mod work;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use lambda_runtime::LambdaEvent;
use serde_json::Value;

use crate::aws::AwsSdk;
use crate::cfn::guard;
use crate::cfn::request::{Envelope, Malformed, ParseError};
use crate::cfn::responder::DeliveryError;
use crate::cfn::{Budget, Outcome, Request, RequestType, Response, ResponseUrl, responder};
use crate::config::Config;
use crate::identity::StackArn;
use crate::lifecycle::{self, PermissionsStep, Plan};
use crate::permissions::Target;
use crate::physical_id::{self, PhysicalId};
use crate::progress::Progress;
use crate::props::{Phase, Properties, PropertyError};
use crate::secrets::{SecretSource, SecretsManager};

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

/// State kept across warm invocations; created without any network call.
pub struct Handler {
    config: Config,
    /// Where the keys come from, when not Secrets Manager.
    secrets: Option<Arc<dyn SecretSource>>,
    io: OnceLock<Arc<Io>>,
}

/// What the work reaches the world with, built on the first event: the one HTTP client, the
/// AWS SDK over it, and the source of the keys.
struct Io {
    client: reqwest::Client,
    aws: Arc<AwsSdk>,
    secrets: Arc<dyn SecretSource>,
}

impl Handler {
    /// The handler of the Lambda function: the keys come from Secrets Manager.
    pub fn new(config: Config) -> Handler {
        Handler {
            config,
            secrets: None,
            io: OnceLock::new(),
        }
    }

    /// A handler that reads the keys from `secrets` instead.
    pub fn with_secret_source(config: Config, secrets: Arc<dyn SecretSource>) -> Handler {
        Handler {
            secrets: Some(secrets),
            ..Handler::new(config)
        }
    }

    fn io(&self) -> Result<Arc<Io>, Unanswered> {
        if let Some(io) = self.io.get() {
            return Ok(io.clone());
        }
        let client = crate::http::client()?;
        let aws = Arc::new(AwsSdk::new(client.clone()));
        let secrets = match &self.secrets {
            Some(secrets) => secrets.clone(),
            None => Arc::new(SecretsManager::new(aws.clone())),
        };
        let io = Arc::new(Io {
            client,
            aws,
            secrets,
        });
        Ok(self.io.get_or_init(|| io).clone())
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
        let io = self.io()?;
        let (envelope, response_url, outcome, subject) =
            match Request::parse(payload, &self.config.response_hosts) {
                Ok(request) => {
                    let response_url = request.response_url.clone();
                    let event = Event::read(request);
                    let (envelope, plan, subject) =
                        (event.envelope.clone(), event.plan.clone(), event.subject());
                    let fallback_id = event.fallback_id();
                    let progress = Progress::default();
                    let work = work::run(self.clone(), event, budget, progress.clone(), io.clone());
                    let outcome = guard::run(work, &budget, &progress, fallback_id).await;
                    (envelope, response_url, plan.answer(outcome), subject)
                }
                Err(ParseError::Malformed(malformed)) => {
                    let Malformed {
                        envelope,
                        response_url,
                        reason,
                    } = *malformed;
                    // Whatever it was meant to be, it changed nothing: its own id, or a marker.
                    let id = envelope
                        .physical_resource_id
                        .clone()
                        .unwrap_or_else(|| physical_id::create_failed(&envelope.request_id));
                    (
                        envelope,
                        response_url,
                        Outcome::failed(id, reason),
                        Subject::default(),
                    )
                }
                Err(ParseError::Unanswerable(why)) => {
                    tracing::error!(error = %why, "the event cannot be answered");
                    return Err(Unanswered::Unanswerable(why));
                }
            };
        deliver(&io.client, envelope, response_url, outcome, subject, budget).await
    }
}

/// An event read once: what is asked, of what, and the plan for it.
struct Event {
    request_type: RequestType,
    envelope: Envelope,
    props: Properties,
    /// The stack the event comes from, if its StackId is a stack ARN.
    stack: Option<StackArn>,
    plan: Plan,
    /// For the role-permissions step's Create and sweep: the role the properties name, read
    /// before the work so that an answer the work cannot give still names it.
    target: Option<Result<Target, PropertyError>>,
}

impl Event {
    fn read(request: Request) -> Event {
        let Request {
            request_type,
            envelope,
            properties,
            ..
        } = request;
        let props = Properties::new(properties);
        let stack = StackArn::parse(&envelope.stack_id);
        let incoming = envelope
            .physical_resource_id
            .as_deref()
            .map(PhysicalId::parse);
        let phase = Phase::parse(&props);
        let plan = lifecycle::plan(request_type, incoming.as_ref(), phase.as_ref());
        let target = matches!(
            plan,
            Plan::Permissions(PermissionsStep::Attach | PermissionsStep::Sweep)
        )
        .then(|| Target::parse(&props, stack.as_ref()));
        Event {
            request_type,
            envelope,
            props,
            stack,
            plan,
            target,
        }
    }

    /// The incoming PhysicalResourceId as sent.
    fn incoming(&self) -> Option<&str> {
        self.envelope.physical_resource_id.as_deref()
    }

    /// The id a failed event answers with when nothing better is known.
    fn failed_id(&self) -> String {
        lifecycle::failed_id(
            self.request_type,
            self.incoming(),
            &self.envelope.request_id,
        )
    }

    /// The id to answer with when the work panics or runs out of time.
    fn fallback_id(&self) -> impl FnOnce(&Progress) -> String + Send + 'static {
        let (request_type, incoming, request_id) = (
            self.request_type,
            self.envelope.physical_resource_id.clone(),
            self.envelope.request_id.clone(),
        );
        let role_id = match &self.target {
            Some(Ok(target)) => Some(target.reference().to_string()),
            _ => None,
        };
        move |progress: &Progress| {
            lifecycle::fallback_id(
                request_type,
                incoming.as_deref(),
                &request_id,
                role_id,
                progress,
            )
        }
    }

    /// Who the event is about, for the summary log line.
    fn subject(&self) -> Subject {
        let account = self
            .props
            .text("AccountId")
            .ok()
            .flatten()
            .or_else(|| self.stack.as_ref().map(|s| s.account.to_string()))
            .unwrap_or_default();
        Subject {
            request_type: self.request_type.as_str(),
            vendor: self.props.text("Vendor").ok().flatten().unwrap_or_default(),
            account,
        }
    }
}

/// Who an event is about, for the summary log line.
#[derive(Default)]
struct Subject {
    request_type: &'static str,
    vendor: String,
    account: String,
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
        answer_attempts = delivery.as_ref().map_or(0, |d| d.attempts),
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

/// An answer with nothing in `Data`.
fn success(physical_id: String) -> Outcome {
    Outcome::success(physical_id, BTreeMap::new())
}
