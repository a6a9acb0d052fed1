//! The AWS SDK's HTTP client: the process's one reqwest client (see [`crate::http`]), so that
//! Secrets Manager, STS and IAM calls share its connection pool and its TLS roots, loaded once.
//!
//! The SDK lets a program bring its own client through its `HttpClient` and `HttpConnector`
//! traits (aws-smithy-runtime-api, `client::http`): the client hands out a connector per set
//! of connector settings, and the connector turns one request into one response. The SDK's
//! orchestrator keeps everything else: signing, retries, the attempt timeout, and parsing.
//! Registrar's AWS calls send and receive small, in-memory bodies, so a request is sent whole
//! and an answer read whole.

use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// The shared reqwest client as the SDK's HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct SharedClient(reqwest::Client);

impl SharedClient {
    pub(crate) fn new(client: reqwest::Client) -> SharedClient {
        SharedClient(client)
    }
}

impl HttpClient for SharedClient {
    /// The client's connect timeout is the one the SDK is configured with (see
    /// [`crate::http::CONNECT_TIMEOUT`]); a read timeout, if the SDK asks for one, bounds each
    /// request.
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            client: self.0.clone(),
            read_timeout: settings.read_timeout(),
        })
    }
}

#[derive(Debug)]
struct Connector {
    client: reqwest::Client,
    read_timeout: Option<Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = self.convert(request);
        HttpConnectorFuture::new(async move {
            let answer = request?.send().await.map_err(dispatch_failure)?;
            let status = StatusCode::try_from(answer.status().as_u16())
                .map_err(|e| ConnectorError::other(Box::new(e), None))?;
            let headers = answer.headers().clone();
            let body = answer.bytes().await.map_err(dispatch_failure)?;
            let mut response = HttpResponse::new(status, SdkBody::from(body));
            for (name, value) in &headers {
                // A value that is not text cannot be carried; no AWS answer Registrar reads has one.
                if let Ok(value) = value.to_str() {
                    let _ = response
                        .headers_mut()
                        .try_append(name.as_str().to_owned(), value.to_owned());
                }
            }
            Ok(response)
        })
    }
}

impl Connector {
    /// The SDK's request as a reqwest request: method, URI, headers (signed by the SDK) and body.
    fn convert(&self, request: HttpRequest) -> Result<reqwest::RequestBuilder, ConnectorError> {
        let method = reqwest::Method::from_bytes(request.method().as_bytes())
            .map_err(|e| ConnectorError::user(Box::new(e)))?;
        let body = request.body().bytes().ok_or_else(|| {
            ConnectorError::user(
                "the AWS SDK sent a streaming body, which Registrar's calls never have".into(),
            )
        })?;
        let mut builder = self
            .client
            .request(method, request.uri())
            .body(body.to_vec());
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        if let Some(timeout) = self.read_timeout {
            builder = builder.timeout(timeout);
        }
        Ok(builder)
    }
}

/// A failed exchange, as the SDK's retry policy understands it: a timeout, or an I/O failure
/// (refused, reset or broken connection; both are retried); a request that could not be built
/// is the caller's error.
fn dispatch_failure(error: reqwest::Error) -> ConnectorError {
    let error = error.without_url();
    if error.is_timeout() {
        ConnectorError::timeout(Box::new(error))
    } else if error.is_builder() {
        ConnectorError::user(Box::new(error))
    } else {
        ConnectorError::io(Box::new(error))
    }
}
