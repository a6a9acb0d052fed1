//! The vendor seen from outside the Lambda, read-only but for one explicit delete: what a
//! command-line tool (`registrar audit`, in `cli/`) needs, through the same code the Lambda
//! uses: the properties, the secret reading ([`crate::secrets`]), the integrations and their
//! ownership marks, the HTTP stack and its retry policy ([`crate::http`]).
//!
//! [`VendorView`] stands for one vendor configured as a resource's properties would configure
//! it (the StackSet's parameters, mapped to property names by the caller).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::time::Instant;

use crate::aws::AwsSdk;
use crate::config::Config;
use crate::http::VendorHttp;
use crate::identity::{AccountId, Identity, Partition};
use crate::integrations::{
    Configured, Desired, Kind, Listed, MadeBy, Removal, RemoveError, StackMark,
};
use crate::progress::Progress;
use crate::props::{Properties, PropertyError};
use crate::secrets::{SecretError, SecretJson, SecretRef, SecretSource, SecretsManager};

/// Why the vendor could not be reached or read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{0}")]
    Property(#[from] PropertyError),
    #[error("{0}")]
    Secret(#[from] SecretError),
    #[error("The secret ARN {arn:?} is not usable: it must be {expected}.")]
    SecretArn { arn: String, expected: String },
    #[error("The environment is not usable: {0}.")]
    Environment(String),
    #[error("Could not build the HTTP client: {0}.")]
    Client(String),
    #[error("{0}")]
    Vendor(#[from] crate::http::VendorError),
    #[error(
        "Registration {id} names AWS account {account:?} in partition {partition:?}, which is not an account Registrar can act for."
    )]
    NotAnAccount {
        id: String,
        account: String,
        partition: String,
    },
}

/// The AWS SDK's configuration loader (the SDK's own profile, region and credential chains, and
/// its `AWS_ENDPOINT_URL*` overrides), sending through Registrar's HTTP stack, as the Lambda's
/// does; the caller chooses the profile, region and timeouts.
pub fn aws_config_loader() -> Result<aws_config::ConfigLoader, InventoryError> {
    let client = crate::http::client().map_err(|e| InventoryError::Client(e.to_string()))?;
    Ok(crate::aws::loader(client))
}

/// One vendor, as a resource with these properties would reach it.
pub struct VendorView {
    vendor: Box<dyn Configured>,
    client: reqwest::Client,
    endpoint: Option<url::Url>,
}

impl VendorView {
    /// The vendor the properties name (`Vendor` and the vendor's own properties, checked as
    /// the Lambda checks them). `REGISTRAR_VENDOR_ENDPOINT` redirects vendor calls as it does
    /// for the Lambda.
    pub fn new(props: Properties) -> Result<VendorView, InventoryError> {
        let vendor = Kind::from_properties(&props)?.configure(&props)?;
        let config = Config::from_env();
        if let Some(problem) = config.problem {
            return Err(InventoryError::Environment(problem));
        }
        let client = crate::http::client().map_err(|e| InventoryError::Client(e.to_string()))?;
        Ok(VendorView {
            vendor,
            client,
            endpoint: config.vendor_endpoint,
        })
    }

    /// The vendor's name for people (`Datadog`).
    pub fn display_name(&self) -> &'static str {
        self.vendor.descriptor().display_name
    }

    /// The vendor's name in properties and ids (`datadog`).
    pub fn name(&self) -> &'static str {
        self.vendor.descriptor().name
    }

    /// Where the registrations live (the Datadog site, the Dynatrace environment).
    pub fn location(&self) -> String {
        self.vendor.location()
    }

    /// The managed settings a registration made with these properties has.
    pub fn managed_settings(&self) -> BTreeMap<String, String> {
        self.vendor.managed_settings()
    }

    /// Vendor calls under the Lambda's retry policy, until `deadline`.
    pub fn http(&self, deadline: Instant, progress: Progress) -> VendorHttp {
        VendorHttp::new(
            self.client.clone(),
            self.vendor.descriptor().display_name,
            deadline,
            progress,
        )
        .redirected_to(self.endpoint.clone())
    }

    /// The vendor's keys from the secret `arn` (after assuming `role_arn` when given), read
    /// with the caller's AWS credentials, retried until `deadline`.
    pub async fn read_keys(
        &self,
        sdk: &aws_config::SdkConfig,
        arn: &str,
        role_arn: Option<String>,
        deadline: Instant,
    ) -> Result<SecretJson, InventoryError> {
        let secret =
            SecretRef::parse(arn, role_arn).map_err(|expected| InventoryError::SecretArn {
                arn: arn.to_owned(),
                expected,
            })?;
        let source = SecretsManager::new(Arc::new(AwsSdk::configured(
            self.client.clone(),
            sdk.clone(),
        )));
        let text = source
            .read(&secret, "registrar-audit", &Progress::default(), deadline)
            .await?;
        Ok(SecretJson::parse(
            arn,
            text,
            self.vendor.descriptor().secret_shape,
        )?)
    }

    /// Every registration at the vendor, every page.
    pub async fn list_all(
        &self,
        keys: &SecretJson,
        http: VendorHttp,
    ) -> Result<Vec<Listed>, InventoryError> {
        Ok(self.vendor.list_all(keys, http).await?)
    }

    /// Deletes `registration` with the integration's own delete, as the Delete of the stack
    /// that made it would.
    pub async fn delete(
        &self,
        keys: &SecretJson,
        http: VendorHttp,
        registration: &Listed,
    ) -> Result<Removal, InventoryError> {
        let invalid = || InventoryError::NotAnAccount {
            id: registration.id.clone(),
            account: registration.account.clone(),
            partition: registration.partition.clone().unwrap_or_default(),
        };
        let account = AccountId::parse(&registration.account).ok_or_else(invalid)?;
        let partition = match registration.partition.as_deref() {
            None | Some("") => Partition::Aws,
            Some(name) => Partition::parse(name).ok_or_else(invalid)?,
        };
        let stack = match &registration.made_by {
            MadeBy::Registrar(Some(mark)) => match mark.split_once('/') {
                Some((region, stack_name)) => StackMark {
                    region: region.to_owned(),
                    stack_name: stack_name.to_owned(),
                },
                None => StackMark {
                    region: String::new(),
                    stack_name: mark.clone(),
                },
            },
            _ => StackMark {
                region: String::new(),
                stack_name: String::new(),
            },
        };
        let desired = Desired {
            identity: Identity { account, partition },
            role_name: registration.role_name.clone().unwrap_or_default(),
            stack,
            claims: None,
        };
        self.vendor
            .remove(
                keys,
                http,
                desired,
                &registration.id,
                registration.binding_scope.as_deref(),
            )
            .await
            .map_err(|e| match e {
                RemoveError::Secret(e) => InventoryError::Secret(e),
                RemoveError::Vendor(e) => InventoryError::Vendor(e),
            })
    }
}
