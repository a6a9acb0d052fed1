//! Registrar: a CloudFormation custom resource that registers an AWS account with a
//! monitoring vendor, and deregisters it when the stack goes.
//!
//! The flow of one event: [`handler`] parses it ([`cfn::request`]), runs the [`lifecycle`]
//! rules under the [`cfn::guard`] with the properties ([`props`]), the keys ([`secrets`]) and the
//! integration's client ([`integrations`], over [`http`]), and delivers exactly one answer
//! ([`cfn::responder`]).
//!
//! The library exists for `bootstrap` and the Rust tests: modules are private to the crate
//! unless those need them, so its documentation is read with private items
//! (`cargo doc --document-private-items`), whose links these docs use freely.
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod aws;
pub(crate) mod backoff;
pub(crate) mod cfn;
pub mod config;
pub mod handler;
pub mod http;
pub mod identity;
pub mod integrations;
pub mod inventory;
pub(crate) mod lifecycle;
pub mod logging;
pub(crate) mod permissions;
pub(crate) mod physical_id;
pub mod progress;
pub mod props;
pub mod secrets;

/// A boxed future that can be sent between threads: what the run-time dispatch to an
/// integration ([`integrations::Visit`]) and the secret source hand back.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
