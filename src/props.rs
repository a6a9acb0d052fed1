//! Resource properties: typed, lenient reading of `ResourceProperties`.
//!
//! CloudFormation sends every scalar as a string (`true` arrives as `"true"`), so values are
//! read as text and parsed here; numbers and booleans written by hand in test events are
//! accepted too. Unknown keys (`ServiceToken`, `ServiceTimeout`, anything a future template
//! adds) are ignored, and parsing never gets stricter: a Delete may carry properties written by
//! any earlier version. A bad value is reported with the property's name and what it accepts.

use serde_json::{Map, Value};

use crate::identity::{AccountId, Identity, Partition, StackArn};
use crate::secrets::SecretRef;

/// A property that is missing or has a value Registrar cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    #[error("The {name} property is required: {expected}.")]
    Missing {
        name: &'static str,
        expected: String,
    },
    #[error("The {name} property is {value:?}, but it must be {expected}.")]
    Invalid {
        name: &'static str,
        value: String,
        expected: String,
    },
}

/// The resource's properties, as sent.
#[derive(Debug, Clone, Default)]
pub struct Properties(Map<String, Value>);

impl Properties {
    pub fn new(map: Map<String, Value>) -> Properties {
        Properties(map)
    }

    /// The property as text; `None` when absent, null or blank.
    pub fn text(&self, name: &'static str) -> Result<Option<String>, PropertyError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(PropertyError::Invalid {
                name,
                value: shorten(&other.to_string()),
                expected: "a string".into(),
            }),
        }
    }

    /// A required text property; `expected` says what it should hold.
    pub(crate) fn required(
        &self,
        name: &'static str,
        expected: &str,
    ) -> Result<String, PropertyError> {
        self.text(name)?.ok_or_else(|| PropertyError::Missing {
            name,
            expected: expected.to_owned(),
        })
    }

    /// One of a fixed set of words (case-insensitive), or `default` when absent.
    pub(crate) fn choice<T: Copy>(
        &self,
        name: &'static str,
        choices: &[(&str, T)],
        default: T,
    ) -> Result<T, PropertyError> {
        let Some(value) = self.text(name)? else {
            return Ok(default);
        };
        choices
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(&value))
            .map(|(_, choice)| *choice)
            .ok_or_else(|| PropertyError::Invalid {
                name,
                value: shorten(&value),
                expected: one_of(choices.iter().map(|(word, _)| *word)),
            })
    }

    /// `"true"` or `"false"` (any case), or `None` when the property is absent: a setting
    /// managed only when given.
    pub(crate) fn optional_flag(&self, name: &'static str) -> Result<Option<bool>, PropertyError> {
        self.choice(name, &[("true", Some(true)), ("false", Some(false))], None)
    }

    /// A list of strings; a single string is read as a comma-separated list.
    pub fn list(&self, name: &'static str) -> Result<Option<Vec<String>>, PropertyError> {
        let invalid = |value: &Value| PropertyError::Invalid {
            name,
            value: shorten(&value.to_string()),
            expected: "a list of strings".into(),
        };
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.trim().to_owned()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(invalid(other)),
                })
                .filter(|item| !matches!(item, Ok(s) if s.is_empty()))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(invalid(other)),
        }
    }
}

/// `OnConflict`: what Create does when the account is already registered by someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnConflict {
    Fail,
    Adopt,
}

/// `OnDeleteError`: what Delete does when the registration cannot be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnDeleteError {
    Fail,
    Retain,
}

/// Which step of a registration a resource is (`Phase`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `registration` (the default): register the account, answer the external id.
    Registration,
    /// `role-binding`: for vendors that need the role's ARN once the role exists (Dynatrace),
    /// bind it to the registration named by `RegistrationId`.
    RoleBinding { registration_id: String },
    /// `role-permissions`: attach the vendor's published permission lists to the role
    /// (Datadog); see `crate::permissions`.
    RolePermissions,
}

impl Phase {
    pub(crate) fn parse(props: &Properties) -> Result<Phase, PropertyError> {
        #[derive(Clone, Copy)]
        enum Word {
            Registration,
            RoleBinding,
            RolePermissions,
        }
        let word = props.choice(
            "Phase",
            &[
                ("registration", Word::Registration),
                ("role-binding", Word::RoleBinding),
                ("role-permissions", Word::RolePermissions),
            ],
            Word::Registration,
        )?;
        Ok(match word {
            Word::Registration => Phase::Registration,
            Word::RoleBinding => Phase::RoleBinding {
                registration_id: props.required("RegistrationId", "the registration to bind the role to (!GetAtt <registration resource>.RegistrationId)")?,
            },
            Word::RolePermissions => Phase::RolePermissions,
        })
    }
}

/// `RoleName`: the IAM role the vendor assumes.
pub(crate) fn role_name(props: &Properties) -> Result<String, PropertyError> {
    let role_name = props.required("RoleName", "the name of the IAM role the vendor assumes")?;
    if role_name.len() > 64
        || !role_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err(PropertyError::Invalid {
            name: "RoleName",
            value: shorten(&role_name),
            expected: "an IAM role name (up to 64 letters, digits and +=,.@_-)".into(),
        });
    }
    Ok(role_name)
}

/// `AccountId` and `Partition`, by default the stack's.
pub(crate) fn identity(
    props: &Properties,
    stack: Option<&StackArn>,
) -> Result<Identity, PropertyError> {
    let account = match props.text("AccountId")? {
        Some(text) => AccountId::parse(&text).ok_or_else(|| PropertyError::Invalid {
            name: "AccountId",
            value: shorten(&text),
            expected: "a 12-digit AWS account id".into(),
        })?,
        None => stack
            .map(|s| s.account.clone())
            .ok_or_else(|| PropertyError::Missing {
                name: "AccountId",
                expected: "a 12-digit AWS account id (the StackId does not name one)".into(),
            })?,
    };
    let partition = match props.text("Partition")? {
        Some(text) => Partition::parse(&text).ok_or_else(|| PropertyError::Invalid {
            name: "Partition",
            value: shorten(&text),
            expected: one_of(Partition::ALL.iter().map(|p| p.as_str())),
        })?,
        None => stack
            .map(|s| s.partition)
            .ok_or_else(|| PropertyError::Missing {
                name: "Partition",
                expected: "aws, aws-cn or aws-us-gov (the StackId does not name one)".into(),
            })?,
    };
    Ok(Identity { account, partition })
}

/// `OnDeleteError`, by default `fail`.
pub(crate) fn on_delete_error(props: &Properties) -> Result<OnDeleteError, PropertyError> {
    props.choice(
        "OnDeleteError",
        &[
            ("fail", OnDeleteError::Fail),
            ("retain", OnDeleteError::Retain),
        ],
        OnDeleteError::Fail,
    )
}

/// The properties every vendor shares (the vendor itself is
/// [`crate::integrations::Kind::from_properties`]).
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub(crate) secret: SecretRef,
    pub(crate) role_name: String,
    pub(crate) identity: Identity,
    pub(crate) on_conflict: OnConflict,
    pub(crate) on_delete_error: OnDeleteError,
}

impl Common {
    /// Reads the shared properties; the account and partition default to the stack's.
    pub(crate) fn parse(
        props: &Properties,
        stack: Option<&StackArn>,
    ) -> Result<Common, PropertyError> {
        let secret_arn = props.required(
            "SecretArn",
            "the full ARN of the Secrets Manager secret that holds the vendor's keys",
        )?;
        let secret =
            SecretRef::parse(&secret_arn, props.text("SecretRoleArn")?).map_err(|expected| {
                PropertyError::Invalid {
                    name: "SecretArn",
                    value: shorten(&secret_arn),
                    expected,
                }
            })?;
        // With `AuthType: access-keys` the vendor reaches the account with an IAM user's key:
        // there is no role to name.
        let keys = props
            .text("AuthType")?
            .is_some_and(|t| t.eq_ignore_ascii_case("access-keys"));
        let role_name = match props.text("RoleName")? {
            None if keys => String::new(),
            _ => role_name(props)?,
        };
        let identity = identity(props, stack)?;
        Ok(Common {
            secret,
            role_name,
            identity,
            on_conflict: props.choice(
                "OnConflict",
                &[("fail", OnConflict::Fail), ("adopt", OnConflict::Adopt)],
                OnConflict::Fail,
            )?,
            on_delete_error: on_delete_error(props)?,
        })
    }
}

/// `"a, b or c"`.
pub(crate) fn one_of<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let words: Vec<&str> = words.collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => String::new(),
    }
}

/// Values are echoed in messages; keep them short.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 120;
    if text.len() <= LIMIT {
        return text.to_owned();
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(value: Value) -> Properties {
        Properties::new(value.as_object().unwrap().clone())
    }

    fn stack() -> StackArn {
        StackArn::parse("arn:aws:cloudformation:us-east-1:111122223333:stack/s/guid").unwrap()
    }

    fn minimal() -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:f",
            "ServiceTimeout": "330",
            "Vendor": "datadog",
            "SecretArn": "arn:aws:secretsmanager:eu-west-1:999988887777:secret:datadog-keys-AbCdEf",
            "RoleName": "DatadogIntegrationRole"
        })
    }

    #[test]
    fn defaults_come_from_the_stack() {
        let common = Common::parse(&props(minimal()), Some(&stack())).unwrap();
        assert_eq!(common.identity.account.as_str(), "111122223333");
        assert_eq!(common.identity.partition, Partition::Aws);
        assert_eq!(common.on_conflict, OnConflict::Fail);
        assert_eq!(common.on_delete_error, OnDeleteError::Fail);
        assert_eq!(common.secret.region, "eu-west-1");
        assert_eq!(Phase::parse(&props(minimal())), Ok(Phase::Registration));
    }

    #[test]
    fn a_role_binding_names_its_registration() {
        let mut v = minimal();
        v["Phase"] = json!("role-binding");
        let err = Phase::parse(&props(v.clone())).unwrap_err().to_string();
        assert!(
            err.starts_with("The RegistrationId property is required"),
            "{err}"
        );
        v["RegistrationId"] = json!("conn-1");
        assert_eq!(
            Phase::parse(&props(v)),
            Ok(Phase::RoleBinding {
                registration_id: "conn-1".into()
            })
        );
    }

    #[test]
    fn overrides_and_choices_are_lenient_about_case() {
        let mut v = minimal();
        v["AccountId"] = json!("444455556666");
        v["Partition"] = json!("aws-us-gov");
        v["OnConflict"] = json!("ADOPT");
        v["OnDeleteError"] = json!("Retain");
        v["Vendor"] = json!("Datadog");
        let common = Common::parse(&props(v), Some(&stack())).unwrap();
        assert_eq!(common.identity.account.as_str(), "444455556666");
        assert_eq!(common.identity.partition, Partition::AwsUsGov);
        assert_eq!(common.on_conflict, OnConflict::Adopt);
        assert_eq!(common.on_delete_error, OnDeleteError::Retain);
    }

    #[test]
    fn errors_name_the_property_and_the_allowed_values() {
        let mut v = minimal();
        v["OnConflict"] = json!("overwrite");
        let err = Common::parse(&props(v), Some(&stack()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "The OnConflict property is \"overwrite\", but it must be fail or adopt."
        );

        let mut v = minimal();
        v.as_object_mut().unwrap().remove("SecretArn");
        let err = Common::parse(&props(v), Some(&stack()))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("The SecretArn property is required"),
            "{err}"
        );

        // The Vendor property's message comes from the registry: see
        // `integrations::tests::the_vendor_property_is_read_through_the_registry`.
    }

    #[test]
    fn flags_and_lists_accept_strings_and_native_values() {
        let p = props(
            json!({"A": "TRUE", "B": false, "C": ["x", " y ", ""], "D": "a, b", "E": 7, "F": {"no": 1}}),
        );
        assert_eq!(p.optional_flag("A").unwrap(), Some(true));
        assert_eq!(p.optional_flag("B").unwrap(), Some(false));
        assert_eq!(p.optional_flag("Z").unwrap(), None);
        assert_eq!(p.list("C").unwrap().unwrap(), ["x", "y"]);
        assert_eq!(p.list("D").unwrap().unwrap(), ["a", "b"]);
        assert_eq!(p.text("E").unwrap().unwrap(), "7");
        assert!(p.text("F").is_err());
        assert!(p.optional_flag("E").is_err());
    }
}

#[cfg(test)]
pub(crate) mod fuzz {
    //! Any properties: parsing never panics, and a failure always names a property. The
    //! generator is shared with the integrations' settings (`integrations::fuzz`).

    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            ".{0,80}".prop_map(Value::String),
            prop::collection::vec(".{0,10}".prop_map(Value::String), 0..3).prop_map(Value::Array),
            Just(serde_json::json!({"nested": ["x"]})),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "Vendor",
            "SecretArn",
            "SecretRoleArn",
            "RoleName",
            "AccountId",
            "Partition",
            "OnConflict",
            "OnDeleteError",
            "Site",
            "AccountTags",
            "DisableMetricCollection",
            "DisableResourceCollection",
            "CloudSecurityPostureManagement",
            "Regions",
            "IncludeNamespaces",
            "ExcludeNamespaces",
            "MetricTagFilters",
            "AutomuteEnabled",
            "LogForwarderArns",
            "XRayServices",
            "AuthType",
            "Phase",
            "RegistrationId",
            "EnvironmentUrl",
            "MonitoringConfigId",
            "ServiceToken",
            "Other",
        ])
        .prop_map(str::to_owned)
    }

    /// Arbitrary properties, biased towards the names Registrar reads.
    pub(crate) fn properties() -> impl Strategy<Value = Properties> {
        prop::collection::btree_map(key(), value(), 0..12)
            .prop_map(|map| Properties::new(map.into_iter().collect()))
    }

    proptest! {
        #[test]
        fn arbitrary_properties_never_panic(props in properties()) {
            let stack = StackArn::parse("arn:aws:cloudformation:us-east-1:123456789012:stack/s/g");
            if let Err(e) = Common::parse(&props, stack.as_ref()) {
                prop_assert!(e.to_string().starts_with("The "), "{e}");
            }
            if let Err(e) = Phase::parse(&props) {
                prop_assert!(e.to_string().starts_with("The "), "{e}");
            }
        }
    }
}
