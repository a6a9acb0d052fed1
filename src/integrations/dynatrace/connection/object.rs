//! A connection as the Settings API holds it: the settings object and its value, the name
//! Registrar gives it (its ownership mark), and who made it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::super::answers::{self, Lenient};
use crate::integrations::{Listed, MadeBy, Owner, StackMark};

const CONNECTION_TYPE: &str = "awsRoleBasedAuthentication";
/// The consumer the data-acquisition extension reads connections as (the schema's default).
const CONSUMER: &str = "SVC:com.dynatrace.da";
/// Every connection Registrar names starts with this.
const NAME_PREFIX: &str = "registrar-";
/// The schema's limit on connection names.
const NAME_MAX: usize = 100;

/// The connection name Registrar gives an account's connection: its ownership mark,
/// `registrar-<account>-<region>/<stack name>`. Names are limited to 100 characters and may
/// not contain `:` (replaced by `-`); a longer name keeps its first 83 characters and ends with
/// `~` and 16 hex digits of a 64-bit FNV-1a hash of the whole name, so it stays deterministic
/// and distinct.
pub(crate) fn connection_name(account: &str, stack: &StackMark) -> String {
    let full: String = format!("{NAME_PREFIX}{account}-{stack}")
        .chars()
        .map(|c| if c == ':' { '-' } else { c })
        .collect();
    if full.chars().count() <= NAME_MAX {
        return full;
    }
    let hash = format!("~{:016x}", fnv1a(full.as_bytes()));
    let head: String = full.chars().take(NAME_MAX - hash.len()).collect();
    format!("{head}{hash}")
}

/// 64-bit FNV-1a: a stable hash (the standard library's is randomised per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Who made a connection, judged by its name (and, for connections Registrar did not name, by
/// its role ARN); `None` when it is not this account's.
pub(super) fn owner_of(name: &str, role_arn: &str, ours: &str, account: &str) -> Option<Owner> {
    let registrar_prefix = format!("{NAME_PREFIX}{account}-");
    if name == ours {
        Some(Owner::ThisStack)
    } else if let Some(stack) = name.strip_prefix(&registrar_prefix) {
        Some(Owner::OtherStack(stack.to_owned()))
    } else if role_arn.contains(&format!(":{account}:role/")) {
        Some(Owner::Someone)
    } else {
        None
    }
}

/// A connection as the audit lists it (see [`super::list_connections`]); `None` when neither its
/// role ARN nor Registrar's name says which account it is for.
pub(super) fn listed(id: &str, name: &str, role_arn: &str) -> Option<Listed> {
    // arn:<partition>:iam::<account>:role/<path/>name
    let role = role_arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":iam::"))
        .and_then(|(partition, rest)| {
            let (account, role) = rest.split_once(":role/")?;
            let name = role.rsplit('/').next().filter(|n| !n.is_empty())?;
            Some((partition, account, name))
        });
    let registrar = name.strip_prefix(NAME_PREFIX).and_then(|rest| {
        let (account, stack) = rest.split_at_checked(12)?;
        let stack = stack.strip_prefix('-')?;
        account
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then_some((account, stack))
    });
    let account = registrar
        .map(|(account, _)| account)
        .or(role.map(|(_, account, _)| account))?;
    Some(Listed {
        id: id.to_owned(),
        account: account.to_owned(),
        partition: role.map(|(partition, _, _)| partition.to_owned()),
        role_name: role.map(|(_, _, name)| name.to_owned()),
        made_by: match registrar {
            Some((_, stack)) => MadeBy::Registrar(Some(stack.to_owned())),
            None => MadeBy::Someone,
        },
        binding_scope: None,
        settings: Default::default(),
        unhealthy: None,
    })
}

/// A connection's settings object, as the list and GET answer it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ConnectionObject {
    #[serde(rename = "objectId")]
    object_id: String,
    #[serde(rename = "updateToken", default)]
    update_token: Option<String>,
    /// Whose it is, when the answer says (an `Identity`).
    #[serde(default)]
    owner: Option<Lenient<Identity>>,
    value: ConnectionValue,
}

/// The connection's `value`. Registrar writes the name, the type and the role-based
/// authentication; every other field (of the value and of the authentication) is kept as it
/// was read, so that a write never drops what Registrar does not manage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ConnectionValue {
    name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(
        rename = "awsRoleBasedAuthentication",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    role_based: Option<RoleBased>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// `awsRoleBasedAuthentication`: the role Dynatrace assumes and who reads the connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct RoleBased {
    #[serde(rename = "roleArn", default, skip_serializing_if = "Option::is_none")]
    role_arn: Option<String>,
    #[serde(default)]
    consumers: Vec<String>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// An `Identity`: `{"type": "user"|"group"|"all-users", "id"}`.
#[derive(Debug, Clone, Deserialize)]
struct Identity {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
}

impl Identity {
    /// The identity as one word: `user:<id>`, `group:<id>` or `all-users`.
    fn word(&self) -> Option<String> {
        match (self.kind.as_str(), self.id.as_deref()) {
            ("all-users", _) => Some("all-users".to_owned()),
            (kind, Some(id)) if !kind.is_empty() && !id.is_empty() => Some(format!("{kind}:{id}")),
            _ => None,
        }
    }
}

/// A connection as Dynatrace returns it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Connection {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) role_arn: String,
    /// The whole `value`, so that a write keeps what Registrar does not manage.
    pub(super) value: ConnectionValue,
    pub(super) update_token: Option<String>,
    /// Whose it is (`user:<id>`, `group:<id>` or `all-users`), when the answer says.
    pub(super) owner: Option<String>,
}

impl Connection {
    /// The connection a settings object describes; `None` without an id.
    pub(super) fn from_object(object: ConnectionObject) -> Option<Connection> {
        Some(Connection {
            name: object.value.name.clone(),
            role_arn: object
                .value
                .role_based
                .as_ref()
                .and_then(|auth| auth.role_arn.clone())
                .unwrap_or_default(),
            update_token: object.update_token,
            owner: object.owner.and_then(Lenient::ok).and_then(|o| o.word()),
            id: object.object_id,
            value: object.value,
        })
        .filter(|c| !c.id.is_empty())
    }
}

impl ConnectionValue {
    /// A new connection of this stack, not bound to a role yet.
    pub(super) fn new(name: &str) -> ConnectionValue {
        ConnectionValue {
            name: name.to_owned(),
            kind: Some(CONNECTION_TYPE.to_owned()),
            role_based: Some(RoleBased {
                role_arn: Some(String::new()),
                consumers: vec![CONSUMER.to_owned()],
                other: Map::new(),
            }),
            other: Map::new(),
        }
    }

    /// This value with Registrar's name and consumer and the role ARN `role_arn`, keeping
    /// every other field and consumer; `None` when it already is so.
    pub(super) fn desired(&self, name: &str, role_arn: &str) -> Option<ConnectionValue> {
        let mut desired = self.clone();
        desired.name = name.to_owned();
        desired.kind = Some(CONNECTION_TYPE.to_owned());
        let auth = desired.role_based.get_or_insert_with(RoleBased::default);
        auth.role_arn = Some(role_arn.to_owned());
        if !auth.consumers.iter().any(|c| c == CONSUMER) {
            auth.consumers.push(CONSUMER.to_owned());
        }
        (desired != *self).then_some(desired)
    }
}

/// A page of the settings objects list.
#[derive(Debug, Deserialize)]
pub(super) struct ListPage {
    pub(super) items: Vec<Lenient<ConnectionObject>>,
    #[serde(rename = "nextPageKey", default)]
    pub(super) next_page_key: Option<String>,
}

/// One object of a settings POST's body.
#[derive(Debug, Serialize)]
pub(super) struct NewObject {
    #[serde(rename = "schemaId")]
    pub(super) schema_id: &'static str,
    pub(super) scope: &'static str,
    pub(super) value: ConnectionValue,
}

/// The body of a PUT of a connection, guarded by the update token it was read with.
#[derive(Debug, Serialize)]
pub(super) struct Put<'a> {
    pub(super) value: &'a ConnectionValue,
    #[serde(rename = "updateToken", skip_serializing_if = "Option::is_none")]
    pub(super) update_token: Option<&'a str>,
}

/// One result of a settings POST (a list answers one per object posted).
#[derive(Debug, Default, Deserialize)]
pub(super) struct PostResult {
    #[serde(default)]
    pub(super) code: Option<Lenient<u16>>,
    #[serde(rename = "objectId", default)]
    pub(super) object_id: Option<Lenient<String>>,
    #[serde(default)]
    pub(super) error: Option<Lenient<answers::Error>>,
}

/// Whether an error says the connection name is taken (the schema's uniqueness constraint).
pub(super) fn is_name_taken(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("another connection defined under this name")
}

/// The typed readers, from JSON values, for the tests.
#[cfg(test)]
mod read {
    use super::*;

    pub(super) fn connection(object: &Value) -> Option<Connection> {
        serde_json::from_value(object.clone())
            .ok()
            .and_then(Connection::from_object)
    }

    pub(super) fn desired_connection(value: &Value, name: &str, role_arn: &str) -> Option<Value> {
        let value: ConnectionValue = serde_json::from_value(value.clone()).ok()?;
        let desired = value.desired(name, role_arn)?;
        Some(serde_json::to_value(desired).unwrap())
    }

    pub(super) fn identity(owner: &Value) -> Option<String> {
        serde_json::from_value::<Identity>(owner.clone())
            .ok()?
            .word()
    }
}

#[cfg(test)]
mod tests {
    use super::read::{connection as parse, desired_connection, identity};
    use super::*;

    #[test]
    fn listed_connections_name_their_account_role_and_maker() {
        let ours = listed(
            "c1",
            "registrar-123456789012-us-east-1/StackSet-R-1",
            "arn:aws:iam::123456789012:role/DynatraceMonitoringRole",
        )
        .unwrap();
        assert_eq!(ours.account, "123456789012");
        assert_eq!(
            ours.made_by,
            MadeBy::Registrar(Some("us-east-1/StackSet-R-1".into()))
        );
        assert_eq!(ours.role_name.as_deref(), Some("DynatraceMonitoringRole"));
        assert_eq!(ours.partition.as_deref(), Some("aws"));
        let unbound = listed("c2", "registrar-123456789012-eu-west-1/s", "").unwrap();
        assert_eq!((unbound.role_name, unbound.partition), (None, None));
        let someone = listed("c3", "prod", "arn:aws:iam::210987654321:role/path/Dt").unwrap();
        assert_eq!(
            (
                someone.account.as_str(),
                someone.role_name.as_deref(),
                &someone.made_by
            ),
            ("210987654321", Some("Dt"), &MadeBy::Someone)
        );
        assert_eq!(listed("c4", "prod", ""), None, "no account named anywhere");
        assert_eq!(listed("c5", "registrar-12345-x/y", ""), None);
    }
    use serde_json::json;

    #[test]
    fn connection_names_are_deterministic_bounded_and_colon_free() {
        let mark = |stack: &str| StackMark {
            region: "eu-central-1".into(),
            stack_name: stack.into(),
        };
        assert_eq!(
            connection_name("123456789012", &mark("registrar")),
            "registrar-123456789012-eu-central-1/registrar"
        );
        let long = format!("StackSet-registrar-{}", "x".repeat(120));
        let name = connection_name("123456789012", &mark(&long));
        assert_eq!(name.chars().count(), 100);
        assert!(name.starts_with("registrar-123456789012-eu-central-1/StackSet-registrar-"));
        let (head, hash) = name.split_at(83);
        assert!(head.ends_with('x'), "{name}");
        assert!(
            hash.len() == 17
                && hash.starts_with('~')
                && hash[1..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{name}"
        );
        assert_eq!(name, connection_name("123456789012", &mark(&long)));
        let other = connection_name("123456789012", &mark(&format!("{long}y")));
        assert_ne!(name, other, "names of different stacks must differ");
        assert!(!connection_name("123456789012", &mark("a:b")).contains(':'));
    }

    #[test]
    fn ownership_is_read_from_the_name_then_the_role_arn() {
        let ours = "registrar-123456789012-us-east-1/s";
        let account = "123456789012";
        assert_eq!(owner_of(ours, "", ours, account), Some(Owner::ThisStack));
        assert_eq!(
            owner_of("registrar-123456789012-eu-west-1/s", "", ours, account),
            Some(Owner::OtherStack("eu-west-1/s".into()))
        );
        assert_eq!(
            owner_of(
                "prod account",
                "arn:aws:iam::123456789012:role/Dynatrace",
                ours,
                account
            ),
            Some(Owner::Someone)
        );
        assert_eq!(
            owner_of(
                "other",
                "arn:aws:iam::999999999999:role/Dynatrace",
                ours,
                account
            ),
            None
        );
        assert_eq!(
            owner_of("registrar-999999999999-us-east-1/s", "", ours, account),
            None
        );
    }

    #[test]
    fn the_desired_connection_keeps_the_role_and_foreign_fields() {
        let value = json!({"name": "theirs", "type": CONNECTION_TYPE,
            CONNECTION_TYPE: {"roleArn": "arn:aws:iam::123456789012:role/R", "consumers": ["SVC:com.dynatrace.openpipeline"]}});
        let desired =
            desired_connection(&value, "ours", "arn:aws:iam::123456789012:role/R").unwrap();
        assert_eq!(desired["name"], "ours");
        assert_eq!(
            desired[CONNECTION_TYPE]["consumers"],
            json!(["SVC:com.dynatrace.openpipeline", CONSUMER])
        );
        assert_eq!(
            desired_connection(&desired, "ours", "arn:aws:iam::123456789012:role/R"),
            None,
            "nothing to write when it already is so"
        );
    }

    #[test]
    fn connections_parse_from_list_items_and_single_objects() {
        let c = parse(&json!({"objectId": "o1", "updateToken": "t1",
            "owner": {"type": "user", "id": "5d9e1b2c-0000-4000-8000-00000000abcd"},
            "value": {"name": "n", "type": CONNECTION_TYPE, CONNECTION_TYPE: {"roleArn": "", "consumers": []}}}))
        .unwrap();
        assert_eq!(
            (c.id.as_str(), c.name.as_str(), c.role_arn.as_str()),
            ("o1", "n", "")
        );
        assert_eq!(c.update_token.as_deref(), Some("t1"));
        assert_eq!(
            c.owner.as_deref(),
            Some("user:5d9e1b2c-0000-4000-8000-00000000abcd")
        );
        assert!(parse(&json!({"objectId": "", "value": {"name": "n"}})).is_none());
        assert!(parse(&json!({"objectId": "o"})).is_none());
    }

    #[test]
    fn owners_are_identities_in_one_word() {
        assert_eq!(
            identity(&json!({"type": "group", "id": "g1"})).as_deref(),
            Some("group:g1")
        );
        assert_eq!(
            identity(&json!({"type": "all-users"})).as_deref(),
            Some("all-users")
        );
        assert_eq!(identity(&json!({"type": "user"})), None);
        assert_eq!(identity(&json!("user:x")), None);
    }

    #[test]
    fn the_name_taken_message_is_recognised() {
        let list = br#"[{"code":400,"error":{"code":400,"message":"Constraints violated.","constraintViolations":[{"path":"name","message":"There is another connection defined under this name."}]},"invalidValue":{}}]"#;
        assert!(is_name_taken(&answers::error_message(list)));
        assert!(!is_name_taken("Constraints violated. (name: too long)"));
    }
}

#[cfg(test)]
mod fuzz {
    use super::read::{connection, desired_connection, identity};
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_objects_never_panic(object in crate::integrations::dynatrace::answers::fuzz::json()) {
            let _ = connection(&object);
            let _ = desired_connection(&object, "registrar-111111111111-us-east-1/s", "");
            if let Some(owner) = object.get("owner") {
                let _ = identity(owner);
            }
        }

        #[test]
        fn names_fit_the_physical_id(account in "[0-9]{12}", region in "[a-z0-9-]{1,20}", stack in ".{0,200}") {
            let name = connection_name(&account, &StackMark { region, stack_name: stack });
            prop_assert!(name.chars().count() <= NAME_MAX && !name.contains(':'));
            let prefix = format!("{NAME_PREFIX}{account}-");
            prop_assert!(name.starts_with(&prefix));
        }
    }
}
