//! Registrar: a CloudFormation custom resource that registers an AWS account with a
//! monitoring vendor, and deregisters it when the stack goes.
//!
//! The flow of one event: [`handler`] parses it ([`cfn::request`]), runs the [`lifecycle`]
//! rules under the [`cfn::guard`] with the properties ([`props`]), the keys ([`secrets`]) and the
//! vendor's client ([`vendor`], over [`http`]), and delivers exactly one answer
//! ([`cfn::responder`]).

pub mod aws;
pub mod backoff;
pub mod cfn;
pub mod config;
pub mod handler;
pub mod http;
pub mod identity;
pub mod lifecycle;
pub mod logging;
pub mod permissions;
pub mod physical_id;
pub mod progress;
pub mod props;
pub mod secrets;
pub mod vendor;
