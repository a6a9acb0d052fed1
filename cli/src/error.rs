//! Why the audit could not run (exit code 2), in at most two lines: what failed and why, then
//! what to do.

use registrar::inventory::InventoryError;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(
        "no AWS region{}.\nSet --region or AWS_REGION (or `region` in the profile's section of ~/.aws/config).",
        profile.as_ref().map_or_else(String::new, |p| format!(" (the profile {p} names none)"))
    )]
    NoRegion { profile: Option<String> },
    #[error(
        "no AWS profile named {name} (from {from}) in ~/.aws/config or ~/.aws/credentials.\nName one that exists (aws configure list-profiles), or create it (aws configure --profile {name})."
    )]
    UnknownProfile { name: String, from: &'static str },
    #[error("the AWS configuration files could not be read: {0}.\nFix the file the message names.")]
    ProfileFiles(String),
    #[error(
        "no AWS credentials: {cause}.\nSet --profile or AWS_PROFILE, run `aws configure` (or `aws sso login`), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
    )]
    NoCredentials { cause: String },
    #[error("could not set up the AWS SDK: {0}")]
    Setup(String),
    #[error(
        "could not {what}: {detail}.\nCheck the region, the endpoint and that your credentials may make this call."
    )]
    Aws { what: &'static str, detail: String },
    #[error(
        "The StackSet's parameters do not describe a usable vendor: {0} Pass the right --stack-set, or override with the matching flag."
    )]
    Parameters(InventoryError),
    #[error("Could not read the vendor's keys: {0}")]
    Keys(InventoryError),
    #[error("Could not list the vendor's registrations: {0}")]
    Vendor(InventoryError),
    #[error(
        "The StackSet has no SecretArn parameter; pass --secret-arn with the ARN of the secret holding the vendor's keys."
    )]
    NoSecret,
    #[error(
        "--prune-orphans deletes registrations; without a terminal to confirm on, add --yes to say so."
    )]
    NeedsYes,
    #[error("Could not write the output: {0}")]
    Output(#[from] std::io::Error),
}
