//! The in-memory vendor the rules are tested against: registrations kept in a vector, with
//! the failures a real vendor has (lost answers, late registrations, delete errors).

use std::sync::{Arc, Mutex};

use super::super::*;
use crate::identity::Partition;
use crate::integrations::{Kind, Owner, Registered};
use crate::props::{Properties, PropertyError};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Stored {
    pub(super) id: String,
    pub(super) location: String,
    pub(super) owner: Owner,
    pub(super) settings_applied: u32,
    /// Only registrations of the previous release record their creator (see `landed`).
    pub(super) created_by: Option<String>,
    pub(super) claimed_by: Option<String>,
    /// Registered in a way the vendor cannot change into the desired one (access keys).
    pub(super) unusable: bool,
}

/// How the vendor answers a create.
#[derive(Default, Clone, Copy, PartialEq)]
pub(super) enum Creating {
    #[default]
    Normally,
    /// Registers the account, but the answer is lost.
    LosingTheAnswer,
    /// Answers with an error; the registration lands later (the test stores it).
    Late,
}

#[derive(Default)]
pub(super) struct World {
    pub(super) stored: Vec<Stored>,
    pub(super) next_id: u32,
    pub(super) delete_error: Option<VendorError>,
    pub(super) connects: u32,
    pub(super) creating: Creating,
    pub(super) claims_released: u32,
    /// Vendor calls, by kind.
    pub(super) finds: u32,
    pub(super) creates: u32,
    pub(super) updates: u32,
    /// Run the rules with the vendor that does not refuse duplicates (Create looks first).
    pub(super) looks_first: bool,
}

pub(super) fn lost() -> VendorError {
    VendorError::Unreadable {
        vendor: "Memory",
        call: "POST".into(),
        detail: "the answer broke off".into(),
    }
}

pub(super) type Shared = Arc<Mutex<World>>;

/// An in-memory vendor. `REFUSES`: whether it refuses a second registration of an account
/// (Datadog's way: Create registers first), or registers it twice if asked (Dynatrace's and New
/// Relic's: Create must look first); the rules are run with both.
pub(super) struct Memory<const REFUSES: bool> {
    world: Shared,
    location: String,
    /// What this event claims (`Desired::claims`), written on create and update like
    /// Datadog's claim tag.
    claims: Option<String>,
}

/// Memory's settings: where the registration lives, and the world it lives in.
#[derive(Clone)]
pub(super) struct Place {
    pub(super) location: String,
    pub(super) world: Shared,
}

/// Memory plays Datadog's part in PhysicalResourceIds.
impl<const REFUSES: bool> Registered for Memory<REFUSES> {
    const KIND: Kind = Kind::Datadog;
}

impl<const REFUSES: bool> Integration for Memory<REFUSES> {
    const NAME: &'static str = "memory";
    const DISPLAY_NAME: &'static str = "Memory";
    const SECRET_SHAPE: &'static str = "{}";
    const DEFAULT_ROLE: &'static str = "MemoryRole";
    const PROPERTIES: &'static [&'static str] = &["Site"];
    const REFUSES_DUPLICATES: bool = REFUSES;
    type Settings = Place;

    fn settings(props: &Properties) -> Result<Place, PropertyError> {
        Ok(Place {
            location: props.text("Site")?.unwrap_or_else(|| "one".into()),
            world: Shared::default(),
        })
    }
    fn location(settings: &Place) -> String {
        settings.location.clone()
    }
    fn relocate(settings: Place, location: &str) -> Option<Place> {
        Some(Place {
            location: location.to_owned(),
            ..settings
        })
    }
    fn principal_account_id(_: &Place, _: Partition) -> Result<String, VendorError> {
        Ok("464622532012".into())
    }
    fn connect(
        settings: Place,
        _: &SecretJson,
        desired: Desired,
        _: VendorHttp,
    ) -> Result<Self, SecretError> {
        settings.world.lock().unwrap().connects += 1;
        Ok(Memory {
            world: settings.world,
            location: settings.location,
            claims: desired.claims,
        })
    }

    /// The lifecycle never lists (only `registrar audit` does): a listing here would be a
    /// call no rule makes.
    async fn list_all(
        _: &Place,
        _: &SecretJson,
        _: VendorHttp,
    ) -> Result<Vec<crate::integrations::Listed>, VendorError> {
        Err(VendorError::Unsupported(
            "the lifecycle rules never list registrations".into(),
        ))
    }

    async fn find(&self) -> Result<Option<Registration>, VendorError> {
        let mut world = self.world.lock().unwrap();
        world.finds += 1;
        Ok(world
            .stored
            .iter()
            .find(|s| s.location == self.location)
            .map(registration))
    }
    async fn create(&self) -> Result<Registration, VendorError> {
        let mut world = self.world.lock().unwrap();
        world.creates += 1;
        if REFUSES && world.stored.iter().any(|s| s.location == self.location) {
            return Err(VendorError::AlreadyExists { vendor: "Memory" });
        }
        if world.creating == Creating::Late {
            return Err(lost());
        }
        world.next_id += 1;
        let stored = Stored {
            id: format!("reg-{}", world.next_id),
            location: self.location.clone(),
            owner: Owner::ThisStack,
            settings_applied: 1,
            created_by: None,
            claimed_by: self.claims.clone(),
            unusable: false,
        };
        world.stored.push(stored.clone());
        if world.creating == Creating::LosingTheAnswer {
            return Err(lost());
        }
        Ok(registration(&stored))
    }
    async fn update(&self, id: &str) -> Result<Option<Registration>, VendorError> {
        let mut world = self.world.lock().unwrap();
        world.updates += 1;
        Ok(world.stored.iter_mut().find(|s| s.id == id).map(|s| {
            s.owner = Owner::ThisStack;
            s.settings_applied += 1;
            s.created_by = None;
            s.claimed_by = self.claims.clone();
            registration(s)
        }))
    }
    async fn delete(&self, id: &str) -> Result<Removal, VendorError> {
        let mut world = self.world.lock().unwrap();
        if let Some(error) = world.delete_error.clone() {
            return Err(error);
        }
        let before = world.stored.len();
        world.stored.retain(|s| s.id != id);
        Ok(if world.stored.len() < before {
            Removal::Removed
        } else {
            Removal::AlreadyGone
        })
    }
    async fn release_claim(&self, id: &str) -> Result<(), VendorError> {
        let mut world = self.world.lock().unwrap();
        world.claims_released += 1;
        if let Some(s) = world.stored.iter_mut().find(|s| s.id == id) {
            s.claimed_by = None;
        }
        Ok(())
    }
}

pub(super) fn registration(s: &Stored) -> Registration {
    Registration {
        id: s.id.clone(),
        external_id: format!("ext-{}", s.id),
        owner: s.owner.clone(),
        created_by: s.created_by.clone(),
        claimed_by: s.claimed_by.clone(),
        unusable: s.unusable.then(|| crate::integrations::Unusable {
            how: "with access keys".into(),
            remedy: "Remove it.".into(),
        }),
    }
}
