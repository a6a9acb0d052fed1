//! The integrations: one folder per monitoring vendor, each behind the [`Integration`] trait,
//! and the registry that lists them.
//!
//! An integration knows how to find, create, update and delete the registration of one AWS
//! account at its vendor, and how to tell whether a registration is this stack's (its
//! ownership mark). It knows nothing of CloudFormation: [`crate::lifecycle`] decides what to
//! call and when. Its HTTP calls go through [`crate::http::Api`], which holds what every vendor
//! API shares (base URL, authorisation headers, the retry policy, JSON, errors).
//!
//! The registry (`registry!` below, one line per integration) generates [`Kind`]: parsing
//! the `Vendor` property and the vendor field of PhysicalResourceIds, the messages that list
//! the vendors, and the dispatch from a kind to its integration ([`Kind::visit`]) all use it.
//! Adding a vendor is a folder here, a line in the registry, its emulator and its tests (see
//! docs/architecture.md).

mod configured;
pub mod datadog;
mod descriptor;
pub mod dynatrace;
mod listing;
pub mod newrelic;
mod permissions;
mod registration;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use crate::BoxFuture;
use crate::http::VendorHttp;
use crate::identity::{Identity, Partition};
use crate::props::{Properties, PropertyError, one_of};
use crate::secrets::{SecretError, SecretJson, SecretRef};

pub use crate::http::VendorError;
pub use configured::{Configured, RemoveError};
pub use descriptor::{
    COMMON_PARAMETERS, Descriptor, Passed, TemplateParameter, template_parameters,
};
pub use listing::{Listed, MadeBy};
pub use permissions::{ListSource, PermissionLists};
pub use registration::{Bound, Desired, Owner, Registration, Removal, StackMark, Unusable};

/// Generates, from the list of integrations (`Kind => folder::Type`; each folder is declared
/// above as a plain `pub mod`, so that rustfmt and every tool sees it), [`Kind`] with
/// [`Kind::ALL`], the names, and the dispatch from a kind to its type ([`Kind::visit`]).
macro_rules! registry {
    ($($kind:ident => $module:ident :: $integration:ident),+ $(,)?) => {
        /// Which integration a resource uses: the `Vendor` property, and the vendor field of
        /// PhysicalResourceIds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $($kind),+
        }

        impl Kind {
            /// Every integration, in the registry's order.
            pub(crate) const ALL: &'static [Kind] = &[$(Kind::$kind),+];

            /// The `Vendor` property's value and the PhysicalResourceId's vendor field.
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$kind => <$module::$integration as Integration>::NAME),+
                }
            }

            /// The vendor's name for people.
            pub(crate) fn display_name(self) -> &'static str {
                match self {
                    $(Kind::$kind => <$module::$integration as Integration>::DISPLAY_NAME),+
                }
            }

            /// Whether the vendor publishes the IAM permission lists its role needs
            /// (`Phase: role-permissions`).
            pub(crate) fn publishes_permissions(self) -> bool {
                match self {
                    $(Kind::$kind => <$module::$integration as Integration>::PERMISSION_LISTS.is_some()),+
                }
            }

            /// Everything about the vendor that is not a call to it.
            pub fn descriptor(self) -> &'static Descriptor {
                match self {
                    $(Kind::$kind => &const { Descriptor::of::<$module::$integration>() }),+
                }
            }

            /// Runs `visit` with this kind's integration.
            pub(crate) fn visit<V: Visit>(self, visit: V) -> V::Output {
                match self {
                    $(Kind::$kind => visit.visit::<$module::$integration>()),+
                }
            }
        }

        $(impl Registered for $module::$integration {
            const KIND: Kind = Kind::$kind;
        })+
    };
}

registry! {
    Datadog => datadog::Datadog,
    Dynatrace => dynatrace::Dynatrace,
    NewRelic => newrelic::NewRelic,
}

impl Kind {
    /// The kind named `text` exactly (as in a PhysicalResourceId).
    pub(crate) fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|kind| kind.as_str() == text)
    }

    /// The `Vendor` property (required; case does not matter).
    pub(crate) fn from_properties(props: &Properties) -> Result<Kind, PropertyError> {
        let choices: Vec<(&str, Option<Kind>)> =
            Kind::ALL.iter().map(|k| (k.as_str(), Some(*k))).collect();
        props
            .choice("Vendor", &choices, None)?
            .ok_or_else(|| PropertyError::Missing {
                name: "Vendor",
                expected: Kind::names(Kind::ALL.iter().copied()),
            })
    }

    /// `"datadog or dynatrace"`: the names of `kinds`, for messages.
    pub(crate) fn names(kinds: impl Iterator<Item = Kind>) -> String {
        one_of(kinds.map(Kind::as_str))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// Something to do with an integration whose type is known only at run time: [`Kind::visit`]
/// calls [`Visit::visit`] with it.
pub(crate) trait Visit {
    type Output;
    fn visit<I: Integration>(self) -> Self::Output;
}

/// The kind an integration is registered as; implemented by the registry, never by hand.
pub trait Registered {
    const KIND: Kind;
}

/// How a vendor's permission lists are fetched (see [`Integration::PERMISSION_LISTS`]).
pub type FetchPermissionLists<S> = fn(&S, VendorHttp) -> BoxFuture<'static, PermissionLists>;

/// One vendor's API, for the account of one event.
pub trait Integration: Registered + Sized + Send + Sync + 'static {
    /// The `Vendor` property's value and the PhysicalResourceId's vendor field: lower case,
    /// without `:`.
    const NAME: &'static str;
    /// The vendor's name for people.
    const DISPLAY_NAME: &'static str;
    /// What the secret must look like, for error messages.
    const SECRET_SHAPE: &'static str;
    /// The role an empty `IAMRoleName` stands for (the template's `DefaultRoleName`).
    const DEFAULT_ROLE: &'static str;
    /// The vendor's own resource properties: the ones [`Integration::settings`] reads.
    const PROPERTIES: &'static [&'static str];
    /// The vendor's template parameters whose resource property has another name.
    const PARAMETERS: &'static [TemplateParameter] = &[];
    /// Whether the vendor binds the role in a second step once it exists
    /// ([`Integration::bind`], `Phase: role-binding`).
    const BINDS: bool = false;
    /// Whether the vendor refuses a second registration of one account with
    /// [`VendorError::AlreadyExists`]. Then a Create registers first and looks only when told
    /// the account is registered (one call on the happy path); otherwise it must look first,
    /// or it could register the account twice.
    const REFUSES_DUPLICATES: bool = false;
    /// For a vendor that publishes the IAM permissions its role needs: how to fetch the lists
    /// for `Phase: role-permissions` (from the vendor, or a copy bundled with the release when
    /// the vendor cannot be reached). `None`: the template gives the vendor's role its
    /// permissions.
    const PERMISSION_LISTS: Option<FetchPermissionLists<Self::Settings>> = None;
    /// The vendor's own resource properties.
    type Settings: Clone + Send + Sync + 'static;

    /// Reads the vendor's properties.
    fn settings(props: &Properties) -> Result<Self::Settings, PropertyError>;
    /// Checks the settings against the account being registered (what only its partition
    /// makes wrong, such as a region of another partition), before any key is read.
    fn check(_settings: &Self::Settings, _identity: &Identity) -> Result<(), PropertyError> {
        Ok(())
    }
    /// Where the registration lives (Datadog site, Dynatrace environment): a change is a
    /// replacement, and it is part of the PhysicalResourceId (so it never contains `:`).
    fn location(settings: &Self::Settings) -> String;
    /// The settings pointed at `location` (from a PhysicalResourceId); `None` if unusable.
    fn relocate(settings: Self::Settings, location: &str) -> Option<Self::Settings>;
    /// The vendor's AWS account that the role must trust, for the member's partition.
    fn principal_account_id(
        settings: &Self::Settings,
        partition: Partition,
    ) -> Result<String, VendorError>;
    /// A client for this event, with the keys from the secret. `http` carries the event's
    /// deadline and where vendor calls go ([`VendorHttp::api`]).
    fn connect(
        settings: Self::Settings,
        keys: &SecretJson,
        desired: Desired,
        http: VendorHttp,
    ) -> Result<Self, SecretError>;

    /// A second secret the client needs for these settings, read in the member account with
    /// the function's own credentials, and what its JSON must look like (Datadog's access
    /// keys). `None` by default.
    fn member_secret(_settings: &Self::Settings) -> Option<(SecretRef, &'static str)> {
        None
    }
    /// [`Integration::connect`], with the member secret when [`Integration::member_secret`]
    /// names one.
    fn connect_with(
        settings: Self::Settings,
        keys: &SecretJson,
        _member: Option<&SecretJson>,
        desired: Desired,
        http: VendorHttp,
    ) -> Result<Self, SecretError> {
        Self::connect(settings, keys, desired, http)
    }

    /// The account's registration, if there is one.
    fn find(&self) -> impl Future<Output = Result<Option<Registration>, VendorError>> + Send;
    /// Registers the account; [`VendorError::AlreadyExists`] if someone did meanwhile.
    fn create(&self) -> impl Future<Output = Result<Registration, VendorError>> + Send;
    /// Brings registration `id` to the desired settings and marks it as this stack's;
    /// `None` if it no longer exists.
    fn update(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Registration>, VendorError>> + Send;
    /// Deletes registration `id`.
    fn delete(&self, id: &str) -> impl Future<Output = Result<Removal, VendorError>> + Send;

    /// Every registration the keys can see at the vendor `settings` point to (every page),
    /// read-only, with who made each: what `registrar audit` compares with the organisation.
    fn list_all(
        settings: &Self::Settings,
        keys: &SecretJson,
        http: VendorHttp,
    ) -> impl Future<Output = Result<Vec<Listed>, VendorError>> + Send;

    /// The settings Registrar manages on a registration made with `settings`, by the names
    /// [`Listed::settings`] uses: a listed registration whose values differ has drifted. None
    /// by default.
    fn managed_settings(_settings: &Self::Settings) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Removes the claim mark (see [`Registration::claimed_by`]) from registration `id`, and
    /// nothing else. Vendors that never write one have nothing to remove.
    fn release_claim(&self, _id: &str) -> impl Future<Output = Result<(), VendorError>> + Send {
        async { Ok(()) }
    }

    /// Attributes the vendor learned about `registration` while handling this event, added to
    /// the resource's `Data` (for example who owns it at the vendor). None by default.
    fn attributes(&self, _registration: &Registration) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Binds the role `role_arn` to registration `id` (idempotent) and completes it per the
    /// settings, for vendors whose registration needs the role's ARN once the role exists
    /// (`Phase: role-binding`). `previous` is the scope of the binding this one updates in
    /// place (same registration), if it had one. Vendors without a binding step refuse.
    fn bind(
        &self,
        _id: &str,
        _role_arn: &str,
        _previous: Option<&str>,
    ) -> impl Future<Output = Result<Bound, VendorError>> + Send {
        async {
            Err(VendorError::Unsupported(format!(
                "{} registrations need no role-binding step; remove the resource whose Phase is role-binding.",
                Self::KIND
            )))
        }
    }

    /// Undoes what [`Integration::bind`] did for a binding with `scope` (idempotent). Vendors
    /// without a binding step never made one, so there is nothing to undo: a Delete must not
    /// get stuck.
    fn unbind(
        &self,
        _id: &str,
        _scope: Option<&str>,
    ) -> impl Future<Output = Result<Removal, VendorError>> + Send {
        async { Ok(Removal::AlreadyGone) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_registry_names_every_integration_once() {
        let mut names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert!(names.starts_with(&["datadog", "dynatrace"]));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len(), "each name once");
        for kind in Kind::ALL {
            assert_eq!(kind.descriptor().name, kind.as_str());
            assert_eq!(Kind::parse(kind.as_str()), Some(*kind));
            assert!(!kind.as_str().contains(':') && kind.as_str() == kind.as_str().to_lowercase());
        }
        assert_eq!(Kind::Datadog.to_string(), "Datadog");
        assert_eq!(
            Kind::parse("Datadog"),
            None,
            "ids are written in lower case"
        );
    }

    #[test]
    fn the_vendor_property_is_read_through_the_registry() {
        let props = |v: serde_json::Value| Properties::new(v.as_object().unwrap().clone());
        assert_eq!(
            Kind::from_properties(&props(json!({"Vendor": "datadog"}))),
            Ok(Kind::Datadog)
        );
        assert_eq!(
            Kind::from_properties(&props(json!({"Vendor": "Dynatrace"}))),
            Ok(Kind::Dynatrace),
            "case does not matter"
        );
        let every = Kind::names(Kind::ALL.iter().copied());
        assert!(every.starts_with("datadog, dynatrace") || every == "datadog or dynatrace");
        let missing = Kind::from_properties(&props(json!({}))).unwrap_err();
        assert_eq!(
            missing.to_string(),
            format!("The Vendor property is required: {every}.")
        );
        let unknown = Kind::from_properties(&props(json!({"Vendor": "sumo"}))).unwrap_err();
        assert!(unknown.to_string().contains(&every), "{unknown}");
    }
}

#[cfg(test)]
mod fuzz {
    //! Any properties: no integration's settings parsing panics, and a failure names a property.

    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_properties_never_panic(props in crate::props::fuzz::properties()) {
            for kind in Kind::ALL {
                if let Err(e) = kind.configure(&props) {
                    prop_assert!(e.to_string().contains(" property "), "{kind}: {e}");
                }
            }
        }
    }
}
