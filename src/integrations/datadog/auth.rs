//! How Datadog reaches the account: by assuming a role (`AuthType: role`, the default), or with
//! an IAM user's access key (`AuthType: access-keys`) where Datadog cannot assume a role.
//!
//! Datadog's manual-setup guide offers access keys for AWS China and GovCloud accounts only
//! (the tab "Access keys (GovCloud or China only)" of
//! <https://docs.datadoghq.com/integrations/guide/aws-manual-setup/>), and its commercial sites
//! have no principal for GovCloud or China roles (see [`super::site`]). So `access-keys` is
//! accepted for accounts in `aws-cn` and `aws-us-gov`, and refused in `aws`.
//!
//! The key lives in a Secrets Manager secret in the member account,
//! `{"access_key_id": "…", "secret_access_key": "…"}`, named by `AccessKeySecretArn`; it is
//! read only for access-key registrations, kept in a [`SecretString`], and sent only in the
//! request body (`auth_config`, `AWSAuthConfigKeys` in DataDog/datadog-api-client-python,
//! `src/datadog_api_client/v2/model/aws_auth_config_keys.py`). `AccessKeyId` (optional, not
//! secret) names the key the secret should hold: a rotation changes it, so CloudFormation sends
//! an Update, and a secret that still holds another key is refused rather than registered.
//! Datadog answers an access-key account with `auth_config: {access_key_id}` and never the
//! secret key (recorded answer `create_keys_200`).

use std::fmt;

use secrecy::SecretString;

use crate::identity::{Identity, Partition};
use crate::props::{Properties, PropertyError};
use crate::secrets::{SecretError, SecretJson, SecretRef};

/// The member-account secret's JSON, for messages.
pub(crate) const KEY_SECRET_SHAPE: &str = r#"{"access_key_id": "…", "secret_access_key": "…"}"#;

/// `AuthType` and, for access keys, where the key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Role,
    AccessKeys {
        /// `AccessKeySecretArn`.
        secret: SecretRef,
        /// `AccessKeyId`: the key the secret must hold, when given.
        key_id: Option<String>,
    },
}

impl Auth {
    /// `AuthType` (`role` by default, or `access-keys`), with `AccessKeySecretArn` and
    /// `AccessKeyId` for access keys.
    pub fn parse(props: &Properties) -> Result<Auth, PropertyError> {
        let keys = props.choice("AuthType", &[("role", false), ("access-keys", true)], false)?;
        if !keys {
            return Ok(Auth::Role);
        }
        let arn = props.required(
            "AccessKeySecretArn",
            &format!(
                "with AuthType access-keys, the ARN of the Secrets Manager secret in the member account that holds {KEY_SECRET_SHAPE}"
            ),
        )?;
        let secret = SecretRef::parse(&arn, None).map_err(|expected| PropertyError::Invalid {
            name: "AccessKeySecretArn",
            value: arn.clone(),
            expected,
        })?;
        let key_id = props.text("AccessKeyId")?;
        if let Some(id) = &key_id
            && !(16..=128).contains(&id.len())
        {
            return Err(PropertyError::Invalid {
                name: "AccessKeyId",
                value: id.clone(),
                expected: "an IAM access key id (16 to 128 letters and digits, e.g. AKIA…)".into(),
            });
        }
        if let Some(id) = &key_id
            && !id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(PropertyError::Invalid {
                name: "AccessKeyId",
                value: id.clone(),
                expected: "an IAM access key id (letters and digits only, e.g. AKIA…)".into(),
            });
        }
        Ok(Auth::AccessKeys { secret, key_id })
    }

    /// The word in `AuthType` (and the `AuthType` attribute of `Data`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Auth::Role => "role",
            Auth::AccessKeys { .. } => "access-keys",
        }
    }

    /// Access keys only where Datadog documents them (China, GovCloud), and only from a
    /// secret in the member account itself.
    pub(crate) fn check(&self, identity: &Identity) -> Result<(), PropertyError> {
        let Auth::AccessKeys { secret, .. } = self else {
            return Ok(());
        };
        if identity.partition == Partition::Aws {
            return Err(PropertyError::Invalid {
                name: "AuthType",
                value: "access-keys".into(),
                expected: "role for an account in the aws partition: Datadog offers access keys only for AWS China (aws-cn) and GovCloud (aws-us-gov) accounts".into(),
            });
        }
        let in_account = secret.partition == identity.partition
            && secret.arn.split(':').nth(4) == Some(identity.account.as_str());
        if !in_account {
            return Err(PropertyError::Invalid {
                name: "AccessKeySecretArn",
                value: secret.arn.clone(),
                expected: format!(
                    "the ARN of a secret in the member account itself (arn:{}:secretsmanager:<region>:{}:secret:<name>): the access key never leaves the account",
                    identity.partition, identity.account
                ),
            });
        }
        Ok(())
    }
}

/// The IAM user's access key, as read from the member account's secret.
#[derive(Clone)]
pub(crate) struct AccessKey {
    pub(crate) id: String,
    pub(crate) secret: SecretString,
}

impl AccessKey {
    /// Reads the key from the secret's JSON; if `expected_id` is given, the secret must hold it.
    pub(crate) fn read(
        json: &SecretJson,
        arn: &str,
        expected_id: Option<&str>,
    ) -> Result<AccessKey, SecretError> {
        use secrecy::ExposeSecret;
        let id = json
            .field("access_key_id", KEY_SECRET_SHAPE)?
            .expose_secret()
            .to_owned();
        let secret = json.field("secret_access_key", KEY_SECRET_SHAPE)?;
        if let Some(expected) = expected_id
            && expected != id
        {
            return Err(SecretError::Other {
                arn: arn.to_owned(),
                detail: format!(
                    "it holds access key {id}, but the AccessKeyId property names {expected}. The secret must be updated with the new key before the registration (in the template it is built from the AWS::IAM::AccessKey, which it depends on); no key was sent to Datadog"
                ),
            });
        }
        Ok(AccessKey { id, secret })
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AccountId;
    use serde_json::{Value, json};

    fn parse(v: Value) -> Result<Auth, PropertyError> {
        Auth::parse(&Properties::new(v.as_object().unwrap().clone()))
    }

    fn identity(partition: Partition) -> Identity {
        Identity {
            account: AccountId::parse("123456789012").unwrap(),
            partition,
        }
    }

    const CN_SECRET: &str =
        "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:dd-key-AbCdEf";

    #[test]
    fn role_is_the_default_and_access_keys_need_a_secret() {
        assert_eq!(parse(json!({})).unwrap(), Auth::Role);
        let err = parse(json!({"AuthType": "access-keys"}))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("The AccessKeySecretArn property is required"),
            "{err}"
        );
        let err = parse(json!({"AuthType": "keys"})).unwrap_err().to_string();
        assert!(err.contains("role or access-keys"), "{err}");
        let auth = parse(json!({"AuthType": "Access-Keys", "AccessKeySecretArn": CN_SECRET, "AccessKeyId": "AKIAEXAMPLE12345"})).unwrap();
        assert_eq!(auth.as_str(), "access-keys");
        assert!(auth.check(&identity(Partition::AwsCn)).is_ok());
        let err = parse(json!({"AuthType": "access-keys", "AccessKeySecretArn": CN_SECRET, "AccessKeyId": "AKIA EXAMPLE 12345"})).unwrap_err();
        assert!(err.to_string().starts_with("The AccessKeyId property"));
    }

    #[test]
    fn access_keys_are_for_china_and_govcloud_from_a_secret_in_the_account() {
        let auth =
            parse(json!({"AuthType": "access-keys", "AccessKeySecretArn": CN_SECRET})).unwrap();
        let err = auth
            .check(&identity(Partition::Aws))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("The AuthType property"), "{err}");
        let err = auth
            .check(&identity(Partition::AwsUsGov))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("The AccessKeySecretArn property"), "{err}");
        let elsewhere = parse(json!({"AuthType": "access-keys", "AccessKeySecretArn": "arn:aws-cn:secretsmanager:cn-north-1:999999999999:secret:k-AbCdEf"})).unwrap();
        assert!(elsewhere.check(&identity(Partition::AwsCn)).is_err());
        assert!(Auth::Role.check(&identity(Partition::Aws)).is_ok());
    }

    #[test]
    fn the_key_is_read_checked_and_never_printed() {
        let text = SecretString::from(
            r#"{"access_key_id": "AKIAEXAMPLE12345", "secret_access_key": "wJalrXUtnFEMI/K7MDENG"}"#.to_owned(),
        );
        let json = SecretJson::parse(CN_SECRET, text, KEY_SECRET_SHAPE).unwrap();
        let key = AccessKey::read(&json, CN_SECRET, Some("AKIAEXAMPLE12345")).unwrap();
        assert_eq!(key.id, "AKIAEXAMPLE12345");
        assert!(!format!("{key:?}").contains("wJalr"));
        let err = AccessKey::read(&json, CN_SECRET, Some("AKIAOTHERKEY99999"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("AKIAOTHERKEY99999") && !err.contains("wJalr"),
            "{err}"
        );
        let partial = SecretJson::parse(
            CN_SECRET,
            SecretString::from(r#"{"access_key_id": "AKIAEXAMPLE12345"}"#.to_owned()),
            KEY_SECRET_SHAPE,
        )
        .unwrap();
        assert!(
            AccessKey::read(&partial, CN_SECRET, None)
                .unwrap_err()
                .to_string()
                .contains("secret_access_key")
        );
    }
}
