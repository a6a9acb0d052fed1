//! What the rest of the code asks of a vendor, as one object-safe value: the [`Descriptor`],
//! made from the integration's own constants, never written by hand elsewhere. The CLI, the
//! audit, the sandbox (through `sandbox/vendors.json`, which a test keeps equal to it) and the
//! tests ask it instead of naming vendors.

use serde::Serialize;

use super::{Integration, Kind};

/// How the template passes one of its parameters to the custom resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Passed {
    /// Always, under the property's name.
    Always,
    /// A `CommaDelimitedList`, passed only when not empty (`AWS::NoValue` otherwise: the
    /// setting is then not managed).
    WhenNotEmpty,
}

/// A template parameter whose resource property has another name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TemplateParameter {
    pub parameter: &'static str,
    pub property: &'static str,
    pub passed: Passed,
}

impl TemplateParameter {
    pub const fn new(parameter: &'static str, property: &'static str, passed: Passed) -> Self {
        TemplateParameter {
            parameter,
            property,
            passed,
        }
    }
}

/// The parameters every vendor's template renames (`IAMRoleName` → `RoleName`).
pub const COMMON_PARAMETERS: &[TemplateParameter] = &[TemplateParameter::new(
    "IAMRoleName",
    "RoleName",
    Passed::Always,
)];

/// Everything about a vendor that is not a call to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Descriptor {
    /// The `Vendor` property's value and the PhysicalResourceId's vendor field.
    pub name: &'static str,
    /// The vendor's name for people.
    pub display_name: &'static str,
    /// What the secret must look like.
    pub secret_shape: &'static str,
    /// The role an empty `IAMRoleName` stands for (the template's `DefaultRoleName`).
    pub default_role: &'static str,
    /// The vendor's own resource properties.
    pub properties: &'static [&'static str],
    /// The vendor's template parameters whose property has another name.
    pub parameters: &'static [TemplateParameter],
    /// Whether a second step binds the role once it exists (`Phase: role-binding`).
    pub binds: bool,
    /// Whether the vendor publishes its role's permissions (`Phase: role-permissions`).
    pub permission_step: bool,
    /// Whether the vendor refuses a second registration of an account (Create registers first).
    pub refuses_duplicates: bool,
}

impl Descriptor {
    /// The descriptor of integration `I`.
    pub(super) const fn of<I: Integration>() -> Descriptor {
        Descriptor {
            name: I::NAME,
            display_name: I::DISPLAY_NAME,
            secret_shape: I::SECRET_SHAPE,
            default_role: I::DEFAULT_ROLE,
            properties: I::PROPERTIES,
            parameters: I::PARAMETERS,
            binds: I::BINDS,
            permission_step: I::PERMISSION_LISTS.is_some(),
            refuses_duplicates: I::REFUSES_DUPLICATES,
        }
    }

    /// Every vendor's, in the registry's order.
    pub fn all() -> impl Iterator<Item = &'static Descriptor> {
        Kind::ALL.iter().map(|kind| kind.descriptor())
    }

    /// The vendor named `name` (case does not matter, as for the `Vendor` property).
    pub fn named(name: &str) -> Option<&'static Descriptor> {
        Descriptor::all().find(|d| d.name.eq_ignore_ascii_case(name.trim()))
    }
}

/// Every renamed template parameter: the common ones and each vendor's.
pub fn template_parameters() -> impl Iterator<Item = &'static TemplateParameter> {
    COMMON_PARAMETERS
        .iter()
        .chain(Descriptor::all().flat_map(|d| d.parameters.iter()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::props::Properties;

    #[test]
    fn every_vendor_has_a_default_role_and_only_its_own_properties() {
        for d in Descriptor::all() {
            assert!(!d.default_role.is_empty(), "{}", d.name);
            assert_eq!(Descriptor::named(&d.name.to_uppercase()), Some(d));
            for other in Descriptor::all().filter(|o| o.name != d.name) {
                for p in d.properties {
                    assert!(
                        !other.properties.contains(p),
                        "{p}: {} and {}",
                        d.name,
                        other.name
                    );
                }
            }
        }
        let parameters: Vec<&str> = template_parameters().map(|p| p.parameter).collect();
        let mut unique = parameters.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            parameters.len(),
            "a parameter is renamed once"
        );
    }

    /// The properties a vendor declares are the ones its settings read: with every declared
    /// property removed, the settings read nothing the declaration left out (required ones
    /// fail naming a declared property).
    #[test]
    fn declared_properties_are_the_ones_settings_read() {
        struct Check;
        impl super::super::Visit for Check {
            type Output = ();
            fn visit<I: Integration>(self) {
                if let Err(e) = I::settings(&Properties::default()) {
                    let message = e.to_string();
                    assert!(
                        I::PROPERTIES.iter().any(|p| message.contains(p)),
                        "{}: {message}",
                        I::NAME
                    );
                }
            }
        }
        for kind in Kind::ALL {
            kind.visit(Check);
        }
    }

    /// `sandbox/vendors.json` is this table, for the Python side; regenerate it with
    /// `REGISTRAR_WRITE_VENDORS=1 cargo test -p registrar descriptor`.
    #[test]
    fn the_sandbox_table_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox/vendors.json");
        let table: Vec<&Descriptor> = Descriptor::all().collect();
        let want = serde_json::to_string_pretty(&serde_json::json!({
            "common_parameters": COMMON_PARAMETERS,
            "vendors": table,
        }))
        .unwrap()
            + "\n";
        if std::env::var_os("REGISTRAR_WRITE_VENDORS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            have, want,
            "sandbox/vendors.json is stale: REGISTRAR_WRITE_VENDORS=1 cargo test -p registrar descriptor"
        );
    }
}
