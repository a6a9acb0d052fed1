//! The account's AWS connection: a Settings 2.0 object of schema
//! `builtin:hyperscaler-authentication.connections.aws`, whose `objectId` is the external id.
//!
//! The facts relied on (docs/dynatrace-api.md, "AWS connections" and "Owner-based access"):
//! - the schema's `name` is 3-100 characters without `:`, unique among the schema's objects
//!   ("There is another connection defined under this name."); that name is Registrar's
//!   ownership mark;
//! - the schema has owner-based access control: a connection is visible to its owner and to
//!   those it is shared with; the list answers only "accessible objects", and a GET, PUT or
//!   DELETE of an object the caller cannot access answers 404 ("No object available for the
//!   given objectId") or 403. A 404 therefore does not prove a connection is gone: Registrar
//!   first looks whether a monitoring configuration (not restricted by owner, each paired with
//!   one connection) still names it, then asks the name's uniqueness check (`POST
//!   …?validateOnly=true`, which validates without saving) as a hint only: whether the
//!   `UNIQUE` constraint spans owners is not documented;
//! - the object's `owner` (an identity: `user`, `group` or `all-users`) says whose it is;
//! - a role ARN, once set, cannot be changed (the Terraform provider's finding), and Dynatrace
//!   validates it by assuming the role, which fails with 400/404 while IAM propagates.

use std::time::Duration;

use reqwest::Method;

mod object;

use self::object::{
    Connection, ConnectionObject, ConnectionValue, ListPage, NewObject, PostResult, Put,
    is_name_taken, listed, owner_of,
};
use super::answers::{self, Lenient};
use super::{ATTEMPT_ALLOWANCE, CONNECTION_SCHEMA, Dynatrace, VENDOR};
use crate::backoff::Backoff;
use crate::http::{Answer, Api, GaveUp};
use crate::integrations::{Listed, Owner, Registration, Removal, VendorError};

pub(crate) use self::object::connection_name;

pub(super) const SETTINGS_PATH: &str = "/platform/classic/environment-api/v2/settings/objects";
/// Settings list pages: the documented maximum size, and a bound on how many are followed.
const PAGE_SIZE: &str = "500";
const MAX_PAGES: usize = 50;
/// What a list asks for: the value, and whose the object is.
const LIST_FIELDS: &str = "objectId,value,owner";

/// Who holds this stack's connection name in the environment.
#[derive(Debug, Clone, PartialEq)]
enum NameHolder {
    /// Nobody: no connection has the name.
    Free,
    /// A connection the token can see.
    Visible(Box<Connection>),
    /// A connection the token cannot see (another owner's, not shared with it).
    Hidden,
}

/// Every connection the token can see, every page (the list answers accessible objects only);
/// `refused` reads an answer other than 200.
async fn visible_connections(
    api: &Api,
    refused: impl Fn(&str, &Answer) -> VendorError,
) -> Result<Vec<Connection>, VendorError> {
    let call = "GET settings objects";
    let mut url = api.url(SETTINGS_PATH);
    url.query_pairs_mut()
        .append_pair("schemaIds", CONNECTION_SCHEMA)
        .append_pair("fields", LIST_FIELDS)
        .append_pair("pageSize", PAGE_SIZE);
    let mut connections = Vec::new();
    for _ in 0..MAX_PAGES {
        let answer = api.send(Method::GET, url.clone(), None::<&()>).await?;
        if answer.status != 200 {
            return Err(refused(call, &answer));
        }
        let page: ListPage = api.read(&answer, call)?;
        connections.extend(
            page.items
                .into_iter()
                .filter_map(Lenient::ok)
                .filter_map(Connection::from_object),
        );
        // Later pages are asked for with the key alone (the API rejects other parameters).
        match page.next_page_key {
            Some(key) if !key.is_empty() => {
                url = api.url(SETTINGS_PATH);
                url.query_pairs_mut().append_pair("nextPageKey", &key);
            }
            _ => return Ok(connections),
        }
    }
    Err(api.unreadable(call, &format!("more than {MAX_PAGES} pages of connections")))
}

/// Every connection the token can see, as the audit lists them: the account and role its role
/// ARN names (or, before a role is bound, the account in Registrar's name), and who made it
/// (Registrar's name is the mark). Connections that name no account are left out.
pub(super) async fn list_connections(
    api: &Api,
    refused: impl Fn(&str, &Answer) -> VendorError,
) -> Result<Vec<Listed>, VendorError> {
    Ok(visible_connections(api, refused)
        .await?
        .into_iter()
        .filter_map(|c| listed(&c.id, &c.name, &c.role_arn))
        .collect())
}

impl Dynatrace {
    /// The account's connection among those the token can see: this stack's first, then
    /// another Registrar stack's, then anyone's that names a role of this account.
    pub(super) async fn find_connection(&self) -> Result<Option<Registration>, VendorError> {
        let account = self.desired.identity.account.as_str();
        let mut found: Vec<(Owner, Connection)> = self
            .visible_connections()
            .await?
            .into_iter()
            .filter_map(|c| owner_of(&c.name, &c.role_arn, &self.name, account).map(|o| (o, c)))
            .collect();
        found.sort_by_key(|(owner, _)| match owner {
            Owner::ThisStack => 0,
            Owner::OtherStack(_) => 1,
            Owner::Someone => 2,
        });
        Ok(found.into_iter().next().map(|(owner, connection)| {
            self.note_owner(&connection);
            Registration {
                external_id: connection.id.clone(),
                id: connection.id,
                owner,
                created_by: None,
                claimed_by: None,
                unusable: None,
            }
        }))
    }

    /// Every connection the token can see (the list answers accessible objects only).
    async fn visible_connections(&self) -> Result<Vec<Connection>, VendorError> {
        visible_connections(&self.api, |call, answer| self.refused(call, answer)).await
    }

    /// Creates this stack's connection with an empty role ARN.
    pub(super) async fn create_connection(&self) -> Result<Registration, VendorError> {
        let call = "POST settings objects";
        let answer = self
            .api
            .send(
                Method::POST,
                self.api.url(SETTINGS_PATH),
                Some(&[self.new_connection()]),
            )
            .await?;
        let id = match self.posted(call, &answer)? {
            Posted::Created(id) => id,
            Posted::NameTaken => {
                // Taken by a connection the token sees (someone was faster: look again), or by
                // one it cannot see: then creating another is exactly what must not happen.
                return match self.visible_by_name().await? {
                    Some(_) => Err(VendorError::AlreadyExists { vendor: VENDOR }),
                    None => Err(self.hidden_name(call, 400, None)),
                };
            }
            Posted::Valid => {
                return Err(self
                    .api
                    .unreadable(call, "no objectId for the new connection"));
            }
        };
        // The owner is the token's user; read it back to record it (best effort).
        match self.connection(&id).await {
            Ok(Some(connection)) => self.note_owner(&connection),
            Ok(None) | Err(_) => {
                tracing::warn!(connection = %id, "could not read the new connection back to record its owner")
            }
        }
        Ok(Registration::own(&id))
    }

    /// The settings object of a new connection of this stack (empty role ARN).
    fn new_connection(&self) -> NewObject {
        NewObject {
            schema_id: CONNECTION_SCHEMA,
            scope: "environment",
            value: ConnectionValue::new(&self.name),
        }
    }

    /// Reads the answer to a settings POST: a list with one result per object posted, for 200,
    /// 207 and 400 alike (the HTTP status summarises; each item has its own code and error).
    fn posted(&self, call: &str, answer: &Answer) -> Result<Posted, VendorError> {
        let first = serde_json::from_slice::<Vec<Lenient<PostResult>>>(&answer.body)
            .ok()
            .and_then(|items| items.into_iter().next());
        let Some(first) = first else {
            return match answer.status {
                200 | 201 | 207 => Err(self.api.unreadable(call, "no result list")),
                _ => Err(self.refused(call, answer)),
            };
        };
        let result = first.ok().unwrap_or_default();
        let code = result.code.and_then(Lenient::ok).unwrap_or(answer.status);
        match result.object_id.and_then(Lenient::ok) {
            Some(id) if (200..300).contains(&code) && !id.is_empty() => Ok(Posted::Created(id)),
            _ if (200..300).contains(&code) => Ok(Posted::Valid),
            _ => {
                let message = result
                    .error
                    .and_then(Lenient::ok)
                    .map(|error| error.describe())
                    .filter(|m| !m.is_empty())
                    .map_or_else(
                        || "no error details".to_owned(),
                        |m| m.trim_end_matches('.').to_owned(),
                    );
                if is_name_taken(&message) {
                    Ok(Posted::NameTaken)
                } else {
                    Err(self.refused_with(call, code, message))
                }
            }
        }
    }

    /// Brings connection `id` to this stack's name and consumer, keeping its role ARN (which
    /// Dynatrace cannot change); `None` if it is really gone.
    pub(super) async fn update_connection(
        &self,
        id: &str,
    ) -> Result<Option<Registration>, VendorError> {
        let call = "PUT connection";
        let mut conflicts = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
        let mut attempts = 0;
        loop {
            attempts += 1;
            let Some(connection) = self.connection(id).await? else {
                return self
                    .gone_or_hidden("GET connection", id)
                    .await
                    .map(|()| None);
            };
            let registration = Registration::own(&connection.id);
            // The role ARN already bound stays: Dynatrace cannot change it.
            let Some(value) = connection.value.desired(&self.name, &connection.role_arn) else {
                return Ok(Some(registration));
            };
            let answer = self.put_connection(&connection, &value).await?;
            match answer.status {
                200 | 204 => return Ok(Some(registration)),
                404 => return self.gone_or_hidden(call, id).await.map(|()| None),
                409 => {
                    self.wait_after_conflict(call, &mut conflicts, attempts)
                        .await?
                }
                _ => return Err(self.refused(call, &answer)),
            }
        }
    }

    /// Deletes connection `id`; a 404 is "already gone" only when no connection with this
    /// stack's name exists that the token cannot see.
    pub(super) async fn delete_connection(&self, id: &str) -> Result<Removal, VendorError> {
        let call = "DELETE connection";
        let url = self.api.object_url(SETTINGS_PATH, id);
        let answer = self.api.send(Method::DELETE, url, None::<&()>).await?;
        match answer.status {
            200 | 204 => Ok(Removal::Removed),
            404 => self
                .gone_or_hidden(call, id)
                .await
                .map(|()| Removal::AlreadyGone),
            _ => Err(self.refused(call, &answer)),
        }
    }

    /// After a 404 for connection `id`: `Ok` when it is really gone, an error saying so when it
    /// may still exist unseen. A 404 alone proves nothing (owner-based access control), so:
    /// - a monitoring configuration that still names `id` (configurations are not restricted by
    ///   owner, and each is paired with its connection) means it may exist: refused;
    /// - otherwise the name's uniqueness check is asked, as a hint: taken by a connection the
    ///   token cannot see means it exists (refused); free means gone if names are unique across
    ///   owners. Nothing public says they are; where they are unique per owner only, a
    ///   connection that was never paired with a configuration and is now hidden from the
    ///   token cannot be told from a gone one (docs/dynatrace-api.md, "Owner-based access").
    async fn gone_or_hidden(&self, call: &str, id: &str) -> Result<(), VendorError> {
        if let Some(config) = self.pairing_config(id).await? {
            return Err(self.paired_but_hidden(call, id, &config));
        }
        match self.name_holder().await? {
            NameHolder::Free => Ok(()),
            // The name is another (visible) connection's: `id` is not hidden under it.
            NameHolder::Visible(other) => {
                tracing::info!(connection = %id, named = %other.id, "the connection is gone; this stack's name belongs to another connection now");
                Ok(())
            }
            NameHolder::Hidden => Err(self.hidden_name(call, 404, Some(id))),
        }
    }

    /// Who holds this stack's connection name: a connection the token sees, one it cannot see,
    /// or none. Asks the name's uniqueness check without saving anything
    /// (`POST settings objects?validateOnly=true`).
    async fn name_holder(&self) -> Result<NameHolder, VendorError> {
        let call = "POST settings objects (validateOnly)";
        let mut url = self.api.url(SETTINGS_PATH);
        url.query_pairs_mut().append_pair("validateOnly", "true");
        let answer = self
            .api
            .send(Method::POST, url, Some(&[self.new_connection()]))
            .await?;
        match self.posted(call, &answer)? {
            Posted::Valid | Posted::Created(_) => Ok(NameHolder::Free),
            Posted::NameTaken => Ok(match self.visible_by_name().await? {
                Some(connection) => NameHolder::Visible(Box::new(connection)),
                None => NameHolder::Hidden,
            }),
        }
    }

    /// The visible connection with this stack's name, if any.
    async fn visible_by_name(&self) -> Result<Option<Connection>, VendorError> {
        Ok(self
            .visible_connections()
            .await?
            .into_iter()
            .find(|c| c.name == self.name))
    }

    /// The refusal for a connection with this stack's name that the token cannot see.
    fn hidden_name(&self, call: &str, status: u16, id: Option<&str>) -> VendorError {
        let host = &self.settings.environment_host;
        let (message, consequence) = match id {
            Some(id) => (
                format!(
                    "connection {id} is not visible to the token in the secret, and a connection named {:?} still exists in {host}",
                    self.name
                ),
                "Registrar cannot tell whether it is gone, so it neither reports it deleted nor makes a second one",
            ),
            None => (
                format!(
                    "a connection named {:?} already exists in {host}, but the token in the secret cannot see it",
                    self.name
                ),
                "Registrar did not create a second connection for the account",
            ),
        };
        self.refused_with(call, status, message).with_hint(format!(
            " AWS connections have owner-based access control: only their owner, and users they are shared with, see them. This one was made with a platform token of another Dynatrace user (its owner is the ConnectionOwner attribute of the stack's registration and the function's \"connection owner\" log line). {consequence}. Put a token of that (service) user into the secret, or share the connection with the token's user or transfer its ownership (Settings > Cloud and virtualization > AWS, or the Settings API's object permissions), then retry."
        ))
    }

    /// The refusal for connection `id`, which the token gets a 404 for although monitoring
    /// configuration `config` still names it.
    pub(super) fn paired_but_hidden(&self, call: &str, id: &str, config: &str) -> VendorError {
        let host = &self.settings.environment_host;
        self.refused_with(
            call,
            404,
            format!("connection {id} is not visible to the token in the secret, but monitoring configuration {config} of {host} still names it"),
        )
        .with_hint(format!(
            " Either the connection belongs to another Dynatrace user (AWS connections have owner-based access control; its owner is the ConnectionOwner attribute of the stack's registration) or it was deleted by hand while its configuration stayed. Registrar cannot tell which, so it does not report it deleted. Put a token of the connection's owner (service user) into the secret, or share the connection with the token's user, or delete configuration {config} and the connection by hand (Settings > Cloud and virtualization > AWS), then retry; or set OnDeleteError to retain."
        ))
    }

    /// Whether the token can get connection `id` (a 404 is `false`).
    pub(super) async fn sees_connection(&self, id: &str) -> Result<bool, VendorError> {
        Ok(self.connection(id).await?.is_some())
    }

    /// The connection `id`, or `None` if the token gets a 404 for it.
    async fn connection(&self, id: &str) -> Result<Option<Connection>, VendorError> {
        let call = "GET connection";
        let url = self.api.object_url(SETTINGS_PATH, id);
        let answer = self.api.send(Method::GET, url, None::<&()>).await?;
        match answer.status {
            200 => {
                let object: ConnectionObject = self.api.read(&answer, call)?;
                let connection = Connection::from_object(object)
                    .ok_or_else(|| self.api.unreadable(call, "an empty objectId"))?;
                self.note_owner(&connection);
                Ok(Some(connection))
            }
            404 => Ok(None),
            _ => Err(self.refused(call, &answer)),
        }
    }

    /// Writes `value` into `connection`, guarded by the update token it was read with (the
    /// Settings API documents `updateToken` for settings objects: a stale one answers 409).
    async fn put_connection(
        &self,
        connection: &Connection,
        value: &ConnectionValue,
    ) -> Result<Answer, VendorError> {
        let body = Put {
            value,
            update_token: connection.update_token.as_deref(),
        };
        let url = self.api.object_url(SETTINGS_PATH, &connection.id);
        self.api.send(Method::PUT, url, Some(&body)).await
    }

    /// Puts `role_arn` into connection `id`. Dynatrace validates the ARN by assuming the role,
    /// which fails with 400 (or 404) until IAM has propagated the new role and its trust
    /// policy; those answers are retried with backoff until the deadline leaves no room (the
    /// retry policy of [`crate::http::VendorHttp`] already covers 429 and 5xx underneath).
    pub(super) async fn bind_role(&self, id: &str, role_arn: &str) -> Result<(), VendorError> {
        let call = "PUT connection roleArn";
        let mut propagation = Backoff::new(Duration::from_secs(1), Duration::from_secs(15));
        let mut conflicts = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
        let mut attempts = 0;
        loop {
            attempts += 1;
            let Some(connection) = self.connection(id).await? else {
                self.gone_or_hidden("GET connection", id).await?;
                return Err(self
                    .refused_with(
                        "GET connection",
                        404,
                        format!("connection {id} does not exist"),
                    )
                    .with_hint(format!(
                        " The registration this binding completes is gone from {} (deleted out of band?). Update the registration resource so that it registers the account again, then retry.",
                        self.settings.environment_host
                    )));
            };
            if connection.name != self.name {
                return Err(self.refused_with(
                    call,
                    409,
                    format!(
                        "connection {id} is named {:?}, not {:?}: it is not this stack's registration",
                        connection.name, self.name
                    ),
                ).with_hint(" RegistrationId must be the RegistrationId attribute of this stack's registration resource.".to_owned()));
            }
            match connection.role_arn.as_str() {
                bound if bound == role_arn => return Ok(()),
                "" => {}
                bound => {
                    return Err(self.refused_with(
                        call,
                        409,
                        format!("connection {id} is already bound to role {bound}"),
                    ).with_hint(format!(
                        " Dynatrace cannot change the role ARN of a connection once it is set. To use role {role_arn}, replace the registration (for example by deleting and re-creating the stack), or set RoleName back to the bound role."
                    )));
                }
            }
            let value = connection
                .value
                .desired(&self.name, role_arn)
                .unwrap_or_else(|| connection.value.clone());
            let answer = self.put_connection(&connection, &value).await?;
            match answer.status {
                200 | 204 => return Ok(()),
                400 | 404 => {
                    let wait = propagation.next_delay();
                    let message = answers::error_message(&answer.body);
                    if self.api.http().remaining() < wait + ATTEMPT_ALLOWANCE {
                        return Err(self.refused_with(call, answer.status, message).with_hint(format!(
                            " Dynatrace validates the role by assuming it, and still could not after {attempts} attempt(s). Check that role {role_arn} exists and trusts arn:aws:iam::{}:root with sts:ExternalId {id}; IAM changes can take a few minutes to propagate, so retrying the stack operation is safe.",
                            super::principal_account_id(&self.settings.environment_host)
                        )));
                    }
                    tracing::warn!(vendor = VENDOR, call, attempt = attempts, status = answer.status, error = %message, wait_ms = wait.as_millis() as u64, "Dynatrace could not assume the role yet (IAM propagation); retrying");
                    self.api.http().report(format!(
                        "waiting for IAM to propagate role {role_arn} before Dynatrace can validate it (attempt {attempts} got HTTP {}: {message})",
                        answer.status
                    ));
                    tokio::time::sleep(wait).await;
                }
                409 => {
                    self.wait_after_conflict(call, &mut conflicts, attempts)
                        .await?
                }
                _ => return Err(self.refused(call, &answer)),
            }
        }
    }

    /// Waits before the next read-modify-write of a connection after a 409 (its update token
    /// was stale: another writer got there first); gives up, transiently, when the deadline
    /// leaves no room.
    async fn wait_after_conflict(
        &self,
        call: &str,
        backoff: &mut Backoff,
        attempts: u32,
    ) -> Result<(), VendorError> {
        let wait = backoff.next_delay();
        if self.api.http().remaining() < wait + ATTEMPT_ALLOWANCE {
            return Err(VendorError::GaveUp(GaveUp {
                vendor: VENDOR,
                call: call.to_owned(),
                attempts,
                last: "HTTP 409 (changed by another writer between read and write)".to_owned(),
                elapsed: Duration::ZERO,
            }));
        }
        tracing::info!(
            vendor = VENDOR,
            call,
            attempt = attempts,
            wait_ms = wait.as_millis() as u64,
            "changed by another writer meanwhile; reading again"
        );
        self.api.http().report(format!(
            "retrying {call} after a concurrent change (attempt {attempts})"
        ));
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Records (and logs, once) whose connection this is.
    fn note_owner(&self, connection: &Connection) {
        let Some(owner) = &connection.owner else {
            return;
        };
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        if owners.insert(connection.id.clone(), owner.clone()).as_ref() != Some(owner) {
            tracing::info!(connection = %connection.id, owner = %owner, "connection owner");
        }
    }
}

/// What a settings POST made of its one object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Posted {
    /// Created, with this objectId.
    Created(String),
    /// Valid, nothing saved (`validateOnly`).
    Valid,
    /// Refused: the name is taken.
    NameTaken,
}
