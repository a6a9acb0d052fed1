//! One vendor configured by a resource's properties, as one object-safe value: made once
//! ([`Kind::configure`]) from the properties, with the vendor's settings read and checked then,
//! and asked everything a tool outside the Lambda asks (`registrar audit` through
//! [`crate::inventory`]) without a visitor per question.

use std::collections::BTreeMap;

use super::{Descriptor, Desired, Integration, Kind, Listed, Removal, VendorError};
use crate::BoxFuture;
use crate::http::VendorHttp;
use crate::secrets::{SecretError, SecretJson};

/// Why a removal did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("{0}")]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Vendor(#[from] VendorError),
}

/// A vendor with its settings.
pub trait Configured: Send + Sync {
    /// What the vendor is, without a call.
    fn descriptor(&self) -> &'static Descriptor;
    /// Where its registrations live (the Datadog site, the Dynatrace environment, …).
    fn location(&self) -> String;
    /// The managed settings a registration made with these settings has.
    fn managed_settings(&self) -> BTreeMap<String, String>;
    /// Every registration the keys can see, every page, read-only.
    fn list_all<'a>(
        &'a self,
        keys: &'a SecretJson,
        http: VendorHttp,
    ) -> BoxFuture<'a, Result<Vec<Listed>, VendorError>>;
    /// Removes registration `id` (what its binding with `scope` made first, as the stack's
    /// own Delete removes the binding before the registration), with the integration's own
    /// delete.
    fn remove<'a>(
        &'a self,
        keys: &'a SecretJson,
        http: VendorHttp,
        desired: Desired,
        id: &'a str,
        scope: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Removal, RemoveError>>;
}

/// Integration `I` with its settings.
pub(super) struct With<I: Integration> {
    pub(super) settings: I::Settings,
}

impl<I: Integration> Configured for With<I> {
    fn descriptor(&self) -> &'static Descriptor {
        I::KIND.descriptor()
    }

    fn location(&self) -> String {
        I::location(&self.settings)
    }

    fn managed_settings(&self) -> BTreeMap<String, String> {
        I::managed_settings(&self.settings)
    }

    fn list_all<'a>(
        &'a self,
        keys: &'a SecretJson,
        http: VendorHttp,
    ) -> BoxFuture<'a, Result<Vec<Listed>, VendorError>> {
        Box::pin(I::list_all(&self.settings, keys, http))
    }

    fn remove<'a>(
        &'a self,
        keys: &'a SecretJson,
        http: VendorHttp,
        desired: Desired,
        id: &'a str,
        scope: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Removal, RemoveError>> {
        Box::pin(async move {
            let integration = I::connect(self.settings.clone(), keys, desired, http)?;
            let unbound = match scope {
                Some(scope) => integration.unbind(id, Some(scope)).await?,
                None => Removal::AlreadyGone,
            };
            Ok(match integration.delete(id).await? {
                Removal::AlreadyGone if unbound == Removal::AlreadyGone => Removal::AlreadyGone,
                _ => Removal::Removed,
            })
        })
    }
}

impl Kind {
    /// This vendor configured by `props` (its settings read and checked now, once).
    pub fn configure(
        self,
        props: &crate::props::Properties,
    ) -> Result<Box<dyn Configured>, crate::props::PropertyError> {
        self.visit(Configure(props))
    }
}

struct Configure<'a>(&'a crate::props::Properties);

impl super::Visit for Configure<'_> {
    type Output = Result<Box<dyn Configured>, crate::props::PropertyError>;
    fn visit<I: Integration>(self) -> Self::Output {
        Ok(Box::new(With::<I> {
            settings: I::settings(self.0)?,
        }))
    }
}
