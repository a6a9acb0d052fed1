//! Delivers the answer: one PUT of the exact body bytes to the pre-signed `ResponseURL`.
//!
//! The PUT carries an empty `Content-Type` (the URL's signature covers it; anything else can
//! yield 403 SignatureDoesNotMatch), has connect and request timeouts, and is retried with
//! backoff on 5xx, 429 and connection errors until the answer deadline. A 4xx other than 429
//! is final: the URL is expired or was never valid.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use tokio::time::Instant;

use super::request::ResponseUrl;
use crate::backoff::Backoff;

const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the answer could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the answer to {url} was refused with HTTP {status}{detail}")]
    Refused {
        url: String,
        status: u16,
        detail: String,
    },
    #[error(
        "the answer to {url} could not be delivered before the deadline after {attempts} attempts (last: {last})"
    )]
    OutOfTime {
        url: String,
        attempts: u32,
        last: String,
    },
}

/// A delivered answer.
#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    /// How many PUTs it took.
    pub attempts: u32,
}

/// PUTs `body` to `url`, retrying transient failures until `deadline`.
pub async fn deliver(
    client: &reqwest::Client,
    url: &ResponseUrl,
    body: Vec<u8>,
    deadline: Instant,
) -> Result<Delivered, DeliveryError> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(4));
    let mut attempts = 0;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let last = if remaining.is_zero() {
            "no time left".to_owned()
        } else {
            let attempt = client
                .put(url.expose().clone())
                .header(CONTENT_TYPE, "")
                .body(body.clone())
                .timeout(ATTEMPT_TIMEOUT.min(remaining))
                .send()
                .await;
            match attempt {
                Ok(answer) if answer.status().is_success() => {
                    return Ok(Delivered { attempts });
                }
                Ok(answer)
                    if answer.status().is_server_error() || answer.status().as_u16() == 429 =>
                {
                    format!("HTTP {}", answer.status())
                }
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    let text = answer.text().await.unwrap_or_default();
                    return Err(DeliveryError::Refused {
                        url: url.to_string(),
                        status,
                        detail: s3_error_code(&text)
                            .map(|code| format!(" ({code})"))
                            .unwrap_or_default(),
                    });
                }
                Err(e) => e.without_url().to_string(),
            }
        };
        let pause = backoff.next_delay();
        if Instant::now() + pause >= deadline {
            return Err(DeliveryError::OutOfTime {
                url: url.to_string(),
                attempts,
                last,
            });
        }
        tracing::warn!(attempt = attempts, error = %last, "delivering the answer failed; retrying");
        tokio::time::sleep(pause).await;
    }
}

/// The `<Code>` of an S3 XML error body, e.g. `SignatureDoesNotMatch` or `AccessDenied`.
fn s3_error_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = start + body[start..].find("</Code>")?;
    Some(&body[start..end]).filter(|code| code.len() < 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_s3_error_codes() {
        let body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>…</Message></Error>";
        assert_eq!(s3_error_code(body), Some("SignatureDoesNotMatch"));
        assert_eq!(s3_error_code("not xml"), None);
    }
}
