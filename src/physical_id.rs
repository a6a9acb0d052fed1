//! The PhysicalResourceId: the stable name of what a resource made.
//!
//! A live registration is `registrar:<vendor>:<location>:<partition>:<account>:<id>`: stable
//! across invocations (never a log stream name), and enough to delete exactly that
//! registration. A role binding (the second step of vendors that need the role's ARN once the
//! role exists) is `registrar:binding:<vendor>:<location>:<partition>:<account>:<scope>:<id>`
//! (`-` for a binding without a scope).
//! A Create that certainly made nothing answers `registrar:create-failed:<request id>`,
//! which the rollback's Delete acknowledges without calling the vendor; one whose registration
//! call may have reached the vendor answers `registrar:create-unconfirmed:<request id>`, whose
//! Delete removes a registration made by exactly that request, if there is one. The
//! role-permissions step (`crate::permissions`) names the role whose policies it manages:
//! `registrar:permissions:<vendor>:<partition>:<account>:<role name>`. Anything else is not
//! Registrar's.

use std::fmt;

use crate::identity::{AccountId, Partition};
use crate::integrations::Kind;

const PREFIX: &str = "registrar:";
const CREATE_FAILED: &str = "registrar:create-failed:";
const CREATE_UNCONFIRMED: &str = "registrar:create-unconfirmed:";
const BINDING: &str = "registrar:binding:";
const PERMISSIONS: &str = "registrar:permissions:";

/// The registration a PhysicalResourceId names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRef {
    pub vendor: Kind,
    pub location: String,
    pub partition: Partition,
    pub account: AccountId,
    pub id: String,
}

impl fmt::Display for RegistrationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}:{}:{}:{}:{}",
            self.vendor.as_str(),
            self.location,
            self.partition,
            self.account,
            self.id
        )
    }
}

/// The role binding a PhysicalResourceId names: the registration it completes, and the
/// vendor's binding scope (e.g. the monitoring configuration joined), if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRef {
    pub registration: RegistrationRef,
    pub scope: Option<String>,
}

/// How a binding without a scope writes its scope field.
const NO_SCOPE: &str = "-";

impl fmt::Display for BindingRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.registration;
        write!(
            f,
            "{BINDING}{}:{}:{}:{}:{}:{}",
            r.vendor.as_str(),
            r.location,
            r.partition,
            r.account,
            self.scope.as_deref().unwrap_or(NO_SCOPE),
            r.id
        )
    }
}

/// The role whose vendor permissions a PhysicalResourceId names (the role-permissions step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionsRef {
    pub vendor: Kind,
    pub partition: Partition,
    pub account: AccountId,
    /// An IAM role name (no `:`).
    pub role: String,
}

impl fmt::Display for PermissionsRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PERMISSIONS}{}:{}:{}:{}",
            self.vendor.as_str(),
            self.partition,
            self.account,
            self.role
        )
    }
}

/// What an incoming PhysicalResourceId means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhysicalId {
    Registration(RegistrationRef),
    Binding(BindingRef),
    Permissions(PermissionsRef),
    /// A Create that failed without making anything.
    CreateFailed,
    /// A Create that failed after its registration call may have reached the vendor.
    CreateUnconfirmed {
        request_id: String,
    },
    /// Not Registrar's.
    Foreign(String),
}

impl PhysicalId {
    pub fn parse(text: &str) -> PhysicalId {
        if text.starts_with(CREATE_FAILED) {
            return PhysicalId::CreateFailed;
        }
        if let Some(request_id) = text.strip_prefix(CREATE_UNCONFIRMED) {
            return PhysicalId::CreateUnconfirmed {
                request_id: request_id.to_owned(),
            };
        }
        if let Some(rest) = text.strip_prefix(PERMISSIONS) {
            let permissions = rest.splitn(4, ':').collect::<Vec<_>>();
            return match permissions[..] {
                [vendor, partition, account, role] if !role.is_empty() && !role.contains(':') => {
                    Kind::parse(vendor)
                        .zip(Partition::parse(partition))
                        .zip(AccountId::parse(account))
                        .map(|((vendor, partition), account)| {
                            PhysicalId::Permissions(PermissionsRef {
                                vendor,
                                partition,
                                account,
                                role: role.to_owned(),
                            })
                        })
                        .unwrap_or_else(|| PhysicalId::Foreign(text.to_owned()))
                }
                _ => PhysicalId::Foreign(text.to_owned()),
            };
        }
        if let Some(rest) = text.strip_prefix(BINDING) {
            let binding = rest.split_once(':').and_then(|(vendor, rest)| {
                let (location, rest) = rest.split_once(':')?;
                let (partition, rest) = rest.split_once(':')?;
                let (account, rest) = rest.split_once(':')?;
                let (scope, id) = rest.split_once(':')?;
                Some(BindingRef {
                    registration: registration(vendor, location, partition, account, id)?,
                    scope: match scope {
                        "" => return None,
                        NO_SCOPE => None,
                        scope => Some(scope.to_owned()),
                    },
                })
            });
            return binding
                .map(PhysicalId::Binding)
                .unwrap_or_else(|| PhysicalId::Foreign(text.to_owned()));
        }
        let parsed = text.strip_prefix(PREFIX).and_then(|rest| {
            let [vendor, location, partition, account, id]: [&str; 5] =
                rest.splitn(5, ':').collect::<Vec<_>>().try_into().ok()?;
            registration(vendor, location, partition, account, id)
        });
        match parsed {
            Some(registration) => PhysicalId::Registration(registration),
            None => PhysicalId::Foreign(text.to_owned()),
        }
    }
}

fn registration(
    vendor: &str,
    location: &str,
    partition: &str,
    account: &str,
    id: &str,
) -> Option<RegistrationRef> {
    Some(RegistrationRef {
        vendor: Kind::parse(vendor)?,
        location: Some(location).filter(|l| !l.is_empty())?.to_owned(),
        partition: Partition::parse(partition)?,
        account: AccountId::parse(account)?,
        id: Some(id).filter(|i| !i.is_empty())?.to_owned(),
    })
}

/// The marker a Create that certainly made nothing answers with.
pub fn create_failed(request_id: &str) -> String {
    format!("{CREATE_FAILED}{}", marker_request_id(request_id))
}

/// The marker a Create answers with when its registration call may have reached the vendor.
pub fn create_unconfirmed(request_id: &str) -> String {
    format!("{CREATE_UNCONFIRMED}{}", marker_request_id(request_id))
}

/// The request id as a marker carries it, and as vendors record it: at most 64 characters of
/// ASCII letters, digits and `-` (CloudFormation's request ids are UUIDs).
pub fn marker_request_id(request_id: &str) -> String {
    request_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_ids_round_trip() {
        let r = RegistrationRef {
            vendor: Kind::Datadog,
            location: "us3.datadoghq.com".into(),
            partition: Partition::AwsUsGov,
            account: AccountId::parse("123456789012").unwrap(),
            id: "6c1f9d2e-0000-4000-8000-000000000001".into(),
        };
        let text = r.to_string();
        assert_eq!(
            text,
            "registrar:datadog:us3.datadoghq.com:aws-us-gov:123456789012:6c1f9d2e-0000-4000-8000-000000000001"
        );
        assert_eq!(PhysicalId::parse(&text), PhysicalId::Registration(r));
    }

    #[test]
    fn binding_ids_round_trip() {
        let b = BindingRef {
            registration: RegistrationRef {
                vendor: Kind::Dynatrace,
                location: "abc12345.live.dynatrace.com".into(),
                partition: Partition::Aws,
                account: AccountId::parse("123456789012").unwrap(),
                id: "vu9U3hXa3q0AAAABAC1idWlsdGluOmh5cGVyc2NhbGVy".into(),
            },
            scope: None,
        };
        let text = b.to_string();
        assert_eq!(
            text,
            "registrar:binding:dynatrace:abc12345.live.dynatrace.com:aws:123456789012:-:vu9U3hXa3q0AAAABAC1idWlsdGluOmh5cGVyc2NhbGVy"
        );
        assert_eq!(PhysicalId::parse(&text), PhysicalId::Binding(b.clone()));
        let scoped = BindingRef {
            scope: Some("own~vu9U3hXa3q0AAAABACVleHQ6Y29t".into()),
            ..b
        };
        let text = scoped.to_string();
        assert!(
            text.contains(":123456789012:own~vu9U3hXa3q0AAAABACVleHQ6Y29t:"),
            "{text}"
        );
        assert_eq!(PhysicalId::parse(&text), PhysicalId::Binding(scoped));
        assert!(matches!(
            PhysicalId::parse("registrar:binding:dynatrace:x:aws:123456789012:-:"),
            PhysicalId::Foreign(_)
        ));
    }

    #[test]
    fn permissions_ids_round_trip() {
        let p = PermissionsRef {
            vendor: Kind::Datadog,
            partition: Partition::AwsUsGov,
            account: AccountId::parse("123456789012").unwrap(),
            role: "DatadogIntegrationRole".into(),
        };
        let text = p.to_string();
        assert_eq!(
            text,
            "registrar:permissions:datadog:aws-us-gov:123456789012:DatadogIntegrationRole"
        );
        assert_eq!(PhysicalId::parse(&text), PhysicalId::Permissions(p));
        for broken in [
            "registrar:permissions:datadog:aws:123456789012:",
            "registrar:permissions:datadog:aws:123456789012:a:b",
            "registrar:permissions:splunk:aws:123456789012:r",
            "registrar:permissions:datadog:aws:123:r",
        ] {
            assert!(
                matches!(PhysicalId::parse(broken), PhysicalId::Foreign(_)),
                "{broken}"
            );
        }
    }

    #[test]
    fn markers_and_foreign_ids_are_recognised() {
        let marker = create_failed("5b8a3f2c-…-request");
        assert!(marker.starts_with("registrar:create-failed:5b8a3f2c"));
        assert_eq!(PhysicalId::parse(&marker), PhysicalId::CreateFailed);
        let unconfirmed = create_unconfirmed("5B8A3F2C-1111-2222");
        assert_eq!(
            unconfirmed,
            "registrar:create-unconfirmed:5b8a3f2c-1111-2222"
        );
        assert_eq!(
            PhysicalId::parse(&unconfirmed),
            PhysicalId::CreateUnconfirmed {
                request_id: "5b8a3f2c-1111-2222".into()
            }
        );
        for foreign in [
            "2024/06/01/[$LATEST]0123456789abcdef",
            "registrar:datadog:datadoghq.com:aws:123:abc",
            "registrar:splunk:x:aws:123456789012:abc",
            "registrar:datadog:datadoghq.com:aws:123456789012:",
            "",
        ] {
            assert!(
                matches!(PhysicalId::parse(foreign), PhysicalId::Foreign(_)),
                "{foreign}"
            );
        }
    }
}
