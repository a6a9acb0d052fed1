//! The AWS SDK's configuration, loaded on the first event that needs an AWS call and kept for
//! warm invocations: an event that needs none (a Delete of a marker) makes no AWS call at all.
//! Secrets Manager and STS ([`crate::secrets`]) and IAM ([`crate::permissions`]) share it, and
//! it sends through the process's one HTTP client ([`http_client`]).

mod http_client;

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

use self::http_client::SharedClient;
use crate::http::CONNECT_TIMEOUT;

/// The SDK configuration from the function's environment (region, credentials and the SDK's
/// own `AWS_ENDPOINT_URL*` overrides), with bounded attempts.
pub struct AwsSdk {
    client: reqwest::Client,
    config: OnceCell<SdkConfig>,
}

/// The SDK's configuration loader sending through `client`, with nothing else chosen: for a
/// caller that picks its own profile, region and timeouts (the CLI).
pub fn loader(client: reqwest::Client) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(SharedClient::new(client))
}

impl AwsSdk {
    /// The SDK over `client`; nothing is loaded before the first call needs it.
    pub fn new(client: reqwest::Client) -> AwsSdk {
        AwsSdk {
            client,
            config: OnceCell::new(),
        }
    }

    /// The SDK with a configuration the caller already loaded (see [`loader`]).
    pub fn configured(client: reqwest::Client, config: SdkConfig) -> AwsSdk {
        AwsSdk {
            client,
            config: OnceCell::new_with(Some(config)),
        }
    }

    pub async fn config(&self) -> &SdkConfig {
        self.config
            .get_or_init(|| async {
                let timeouts = aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build();
                loader(self.client.clone())
                    .timeout_config(timeouts)
                    .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(4))
                    .load()
                    .await
            })
            .await
    }
}
