//! Why the audit could not run (exit code 2), in words that say what to do.

use registrar::inventory::InventoryError;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(
        "Could not {what}: {detail}. Check your AWS credentials and region, and that they may make this call."
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
