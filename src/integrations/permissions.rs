//! What a vendor that publishes the IAM permissions its role needs hands to the
//! role-permissions step ([`crate::permissions`], which writes them).

use super::Kind;

/// The permission lists to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionLists {
    pub standard: Vec<String>,
    /// Chunks, one managed policy each; empty when resource collection is off.
    pub resource_collection: Vec<Vec<String>>,
    pub source: ListSource,
}

/// Where the lists came from (`Data.PermissionsSource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSource {
    /// The vendor's endpoints answered.
    Vendor(Kind),
    /// At least one list is the copy bundled with this release, taken on `taken` (the dates of
    /// the bundled lists used, joined by `,` when they differ).
    Bundled { taken: String },
}

impl ListSource {
    /// `Data.PermissionsSource`: the vendor's name (`datadog`: its endpoints answered), or
    /// `bundled:<date taken>`.
    pub(crate) fn label(&self) -> String {
        match self {
            ListSource::Vendor(vendor) => vendor.as_str().to_owned(),
            ListSource::Bundled { taken } => format!("bundled:{taken}"),
        }
    }
}
