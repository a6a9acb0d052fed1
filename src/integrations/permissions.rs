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
    /// At least one list is the copy bundled with this release, taken on `taken`.
    Bundled { taken: String },
}

impl ListSource {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            ListSource::Vendor(vendor) => vendor.as_str(),
            ListSource::Bundled { .. } => "bundled",
        }
    }
}
