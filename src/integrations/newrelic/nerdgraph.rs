//! NerdGraph, New Relic's GraphQL API, as Registrar calls it: the four operations on AWS
//! linked accounts, their typed variables and answers, and how an answer's errors read.
//!
//! Every operation is a `POST /graphql` with `{"query", "variables"}` and the user key in the
//! `API-Key` header (newrelic/newrelic-client-go `internal/http/auth.go`). A GraphQL answer is
//! HTTP 200 whether or not the operation worked: failures are the top-level `errors` list
//! (GraphQL spec, "Response"), and the cloud mutations also answer their own `errors` list
//! next to the accounts they changed (`pkg/cloud/cloud_api.go`). The documents below select
//! the fields newrelic-client-go's generated `CloudLinkAccountMutation`,
//! `CloudUnlinkAccountMutation`, `CloudUpdateAccountMutation` and `getLinkedAccountsQuery`
//! select (docs/newrelic-api.md).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::error_body_message;

/// The GraphQL endpoint's path, under the region's host.
pub(super) const PATH: &str = "/graphql";

/// `cloudLinkAccount(accountId: Int!, accounts: CloudLinkCloudAccountsInput!)`.
pub(super) const LINK: &str = "mutation($accountId: Int!, $accounts: CloudLinkCloudAccountsInput!) { cloudLinkAccount(accountId: $accountId, accounts: $accounts) { errors { linkedAccountId message nrAccountId providerSlug type } linkedAccounts { authLabel externalId id metricCollectionMode name nrAccountId } } }";

/// `cloudUnlinkAccount(accountId: Int!, accounts: [CloudUnlinkAccountsInput!]!)`.
pub(super) const UNLINK: &str = "mutation($accountId: Int!, $accounts: [CloudUnlinkAccountsInput!]!) { cloudUnlinkAccount(accountId: $accountId, accounts: $accounts) { errors { linkedAccountId message nrAccountId providerSlug type } unlinkedAccounts { authLabel externalId id metricCollectionMode name nrAccountId } } }";

/// `cloudUpdateAccount(accountId: Int!, accounts: CloudUpdateCloudAccountsInput!)`: renames a
/// linked account and points it at a role (no `errors` field in its payload).
pub(super) const UPDATE: &str = "mutation($accountId: Int!, $accounts: CloudUpdateCloudAccountsInput!) { cloudUpdateAccount(accountId: $accountId, accounts: $accounts) { linkedAccounts { authLabel externalId id metricCollectionMode name nrAccountId } } }";

/// `actor { cloud { linkedAccounts(provider: String) } }`: every linked account the key sees,
/// of every New Relic account it can reach (one list, no pages).
pub(super) const LINKED_ACCOUNTS: &str = "query($provider: String) { actor { cloud { linkedAccounts(provider: $provider) { authLabel disabled externalId id metricCollectionMode name nrAccountId } } } }";

/// The provider slug of AWS linked accounts.
pub(super) const AWS_PROVIDER: &str = "aws";

/// A GraphQL request body.
#[derive(Debug, Serialize)]
pub(super) struct Request<'a, V: Serialize> {
    pub(super) query: &'static str,
    pub(super) variables: &'a V,
}

/// The variables of the account mutations: the New Relic account and the provider accounts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountsVariables<T: Serialize> {
    pub(super) account_id: u32,
    pub(super) accounts: T,
}

/// `CloudLinkCloudAccountsInput` with its `aws` provider only (`CloudAwsLinkAccountInput`).
#[derive(Debug, Serialize)]
pub(super) struct LinkAccounts<'a> {
    pub(super) aws: [AwsLink<'a>; 1],
}

/// `CloudAwsLinkAccountInput`: the role ARN, how metrics are collected, the link's name.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AwsLink<'a> {
    pub(super) arn: &'a str,
    pub(super) metric_collection_mode: &'a str,
    pub(super) name: &'a str,
}

/// `CloudUnlinkAccountsInput`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Unlink {
    pub(super) linked_account_id: u64,
}

/// `CloudUpdateCloudAccountsInput` with its `aws` provider only (`CloudAwsUpdateAccountInput`).
#[derive(Debug, Serialize)]
pub(super) struct UpdateAccounts<'a> {
    pub(super) aws: [AwsUpdate<'a>; 1],
}

/// `CloudAwsUpdateAccountInput`: the linked account, its new name and role ARN.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AwsUpdate<'a> {
    pub(super) linked_account_id: u64,
    pub(super) name: &'a str,
    pub(super) arn: &'a str,
}

/// The variables of the linked-accounts query.
#[derive(Debug, Serialize)]
pub(super) struct ProviderVariables {
    pub(super) provider: &'static str,
}

/// A GraphQL answer: `data` (null when the operation failed as a whole) and `errors`.
#[derive(Debug, Deserialize)]
pub(super) struct Answer<D> {
    pub(super) data: Option<D>,
    #[serde(default)]
    pub(super) errors: Vec<GraphqlError>,
}

/// One top-level GraphQL error (newrelic-client-go `internal/http/graphql.go`,
/// `GraphQLError`).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct GraphqlError {
    #[serde(default)]
    pub(super) message: String,
    #[serde(default)]
    pub(super) extensions: Extensions,
}

/// What kind of error it is.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct Extensions {
    #[serde(rename = "errorClass", default)]
    pub(super) error_class: Option<String>,
}

/// Whether the errors are worth another attempt: the classes newrelic-client-go retries
/// (`GraphQLErrorResponse::IsRetryableError`: TIMEOUT, INTERNAL_SERVER_ERROR, SERVER_ERROR;
/// `internal/http/retry.go`: TOO_MANY_REQUESTS, answered with HTTP 200).
pub(super) fn transient(errors: &[GraphqlError]) -> bool {
    errors.iter().any(|e| {
        matches!(
            e.extensions.error_class.as_deref(),
            Some("TIMEOUT" | "INTERNAL_SERVER_ERROR" | "SERVER_ERROR" | "TOO_MANY_REQUESTS")
        )
    })
}

/// A `CloudLinkedAccount`, with the fields Registrar reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LinkedAccount {
    pub(super) id: u64,
    /// The credential: the role ARN for AWS.
    #[serde(default)]
    pub(super) auth_label: Option<String>,
    /// The cloud account: the AWS account id.
    #[serde(default)]
    pub(super) external_id: Option<String>,
    #[serde(default)]
    pub(super) metric_collection_mode: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) nr_account_id: Option<u64>,
    #[serde(default)]
    pub(super) disabled: Option<bool>,
}

/// `CloudIntegrationMutationError` / the cloud mutations' `errors` items.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct MutationError {
    #[serde(default)]
    pub(super) message: String,
    #[serde(rename = "type", default)]
    pub(super) kind: String,
}

impl MutationError {
    /// `type: message`, or what of it there is.
    pub(super) fn describe(&self) -> String {
        match (self.kind.trim(), self.message.trim()) {
            ("", "") => "no error details".to_owned(),
            ("", message) => message.to_owned(),
            (kind, "") => kind.to_owned(),
            (kind, message) => format!("{kind}: {message}"),
        }
    }
}

/// `data` of the link mutation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LinkData {
    pub(super) cloud_link_account: Option<LinkPayload>,
}

/// `CloudLinkAccountPayload`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LinkPayload {
    #[serde(default)]
    pub(super) errors: Vec<MutationError>,
    #[serde(default)]
    pub(super) linked_accounts: Vec<LinkedAccount>,
}

/// `data` of the unlink mutation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UnlinkData {
    pub(super) cloud_unlink_account: Option<UnlinkPayload>,
}

/// `CloudUnlinkAccountPayload`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UnlinkPayload {
    #[serde(default)]
    pub(super) errors: Vec<MutationError>,
    #[serde(default)]
    pub(super) unlinked_accounts: Vec<LinkedAccount>,
}

/// `data` of the update mutation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateData {
    pub(super) cloud_update_account: Option<UpdatePayload>,
}

/// `CloudUpdateAccountPayload`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdatePayload {
    #[serde(default)]
    pub(super) linked_accounts: Vec<LinkedAccount>,
}

/// `data` of the linked-accounts query.
#[derive(Debug, Deserialize)]
pub(super) struct ActorData {
    pub(super) actor: Actor,
}

#[derive(Debug, Deserialize)]
pub(super) struct Actor {
    pub(super) cloud: Cloud,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Cloud {
    #[serde(default)]
    pub(super) linked_accounts: Vec<LinkedAccount>,
}

/// The messages of a body that is not an answer (a gateway's 4xx/5xx page or JSON): the
/// GraphQL `errors`' messages when it has them, else its text.
pub(super) fn error_message(body: &[u8]) -> String {
    error_body_message(body, |json| match json.get("errors") {
        Some(Value::Array(errors)) => errors
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => json
            .get("message")
            .and_then(Value::as_str)
            .map(|m| vec![m.to_owned()])
            .unwrap_or_default(),
    })
}

/// The top-level errors' messages, joined.
pub(super) fn describe(errors: &[GraphqlError]) -> String {
    let messages: Vec<&str> = errors
        .iter()
        .map(|e| e.message.trim())
        .filter(|m| !m.is_empty())
        .collect();
    if messages.is_empty() {
        "no error details".to_owned()
    } else {
        messages.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_link_variables_are_newrelic_client_go_s_input_types() {
        let variables = AccountsVariables {
            account_id: 1234567,
            accounts: LinkAccounts {
                aws: [AwsLink {
                    arn: "arn:aws:iam::123456789012:role/NewRelicInfrastructure-Integrations",
                    metric_collection_mode: "PULL",
                    name: "registrar-123456789012-us-east-1/s",
                }],
            },
        };
        assert_eq!(
            serde_json::to_value(&variables).unwrap(),
            json!({"accountId": 1234567, "accounts": {"aws": [{
                "arn": "arn:aws:iam::123456789012:role/NewRelicInfrastructure-Integrations",
                "metricCollectionMode": "PULL",
                "name": "registrar-123456789012-us-east-1/s"}]}})
        );
        let unlink = AccountsVariables {
            account_id: 1,
            accounts: [Unlink {
                linked_account_id: 99,
            }],
        };
        assert_eq!(
            serde_json::to_value(&unlink).unwrap(),
            json!({"accountId": 1, "accounts": [{"linkedAccountId": 99}]})
        );
    }

    #[test]
    fn answers_read_with_missing_and_null_fields() {
        let answer: Answer<LinkData> =
            serde_json::from_value(json!({"data": {"cloudLinkAccount": {
            "errors": [{"type": "ERR_INVALID_ARN", "message": "bad", "nrAccountId": 1}],
            "linkedAccounts": [{"id": 7, "authLabel": null, "name": "n"}]}}}))
            .unwrap();
        let payload = answer.data.unwrap().cloud_link_account.unwrap();
        assert_eq!(payload.errors[0].describe(), "ERR_INVALID_ARN: bad");
        assert_eq!(payload.linked_accounts[0].id, 7);
        assert_eq!(payload.linked_accounts[0].auth_label, None);
        let failed: Answer<LinkData> =
            serde_json::from_value(json!({"data": null, "errors": [{"message": "Unauthorized"}]}))
                .unwrap();
        assert!(failed.data.is_none());
        assert!(!transient(&failed.errors));
        let busy: Answer<LinkData> = serde_json::from_value(
            json!({"errors": [{"message": "x", "extensions": {"errorClass": "TOO_MANY_REQUESTS"}}]}),
        )
        .unwrap();
        assert!(transient(&busy.errors));
        assert_eq!(describe(&failed.errors), "Unauthorized");
        assert_eq!(describe(&[]), "no error details");
    }

    #[test]
    fn error_bodies_read_graphql_errors_or_text() {
        assert_eq!(
            error_message(br#"{"errors": [{"message": "a"}, {"message": " "}, {"message": "b"}]}"#),
            "a; b"
        );
        assert_eq!(error_message(b"<html>502</html>"), "<html>502</html>");
        assert_eq!(error_message(b""), "no error details");
    }
}
