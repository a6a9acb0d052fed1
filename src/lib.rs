//! Registrar: a CloudFormation custom resource that registers an AWS account with a
//! monitoring vendor, and deregisters it when the stack goes.
//!
//! The flow of one event: [`handler`] parses it ([`cfn::request`]), runs the [`lifecycle`]
//! rules under the [`cfn::guard`] with the properties ([`props`]), the keys ([`secrets`]) and the
//! integration's client ([`integrations`], over [`http`]), and delivers exactly one answer
//! ([`cfn::responder`]).

pub mod aws;
pub mod backoff;
pub mod cfn;
pub mod config;
pub mod handler;
pub mod http;
pub mod identity;
pub mod integrations;
pub mod lifecycle;
pub mod logging;
pub mod permissions;
pub mod physical_id;
pub mod progress;
pub mod props;
pub mod secrets;

/// A boxed future that can be sent between threads: what the run-time dispatch to an
/// integration ([`integrations::Visit`]) and the secret source hand back.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
