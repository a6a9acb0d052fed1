//! One retry policy for every vendor call.
//!
//! A call is retried on 429 (waiting as long as `X-RateLimit-Reset` or `Retry-After` says, plus
//! jitter so a StackSet's many accounts do not return all at once), on 5xx, and on connection
//! errors and timeouts, with exponential backoff and jitter, and never past the work deadline.
//! Any other answer, success or not, is returned for the vendor module to interpret.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Url};
use tokio::time::Instant;

use super::api::{Api, Dialect};
use crate::backoff::{Backoff, random_up_to};
use crate::progress::Progress;

/// One attempt never waits longer than this for an answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP answer the vendor module interprets.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// The vendor kept failing transiently until the deadline left no room for another attempt.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{vendor} did not give a usable answer to {call} after {attempts} attempt(s) over {:.0} s (last: {last})", elapsed.as_secs_f64())]
pub struct GaveUp {
    pub(crate) vendor: &'static str,
    pub(crate) call: String,
    pub(crate) attempts: u32,
    pub(crate) last: String,
    pub(crate) elapsed: Duration,
}

/// Sends vendor calls under the retry policy, until the event's deadline.
#[derive(Clone)]
pub struct VendorHttp {
    client: reqwest::Client,
    vendor: &'static str,
    deadline: Instant,
    progress: Progress,
    /// `REGISTRAR_VENDOR_ENDPOINT`: the base URL that replaces the vendor's.
    endpoint: Option<Url>,
}

impl VendorHttp {
    pub fn new(
        client: reqwest::Client,
        vendor: &'static str,
        deadline: Instant,
        progress: Progress,
    ) -> VendorHttp {
        VendorHttp {
            client,
            vendor,
            deadline,
            progress,
            endpoint: None,
        }
    }

    /// The same, with every vendor call sent to `endpoint` instead of the vendor's own base
    /// URL (the function's `REGISTRAR_VENDOR_ENDPOINT`: sandboxes, tests, proxies).
    pub fn redirected_to(self, endpoint: Option<Url>) -> VendorHttp {
        VendorHttp { endpoint, ..self }
    }

    /// The same, with a deadline no later than `budget` from now.
    pub(crate) fn within(self, budget: Duration) -> VendorHttp {
        let deadline = self.deadline.min(Instant::now() + budget);
        VendorHttp { deadline, ..self }
    }

    /// The vendor's API at `default_base` (or the endpoint that replaces it), called as
    /// `dialect` says.
    pub(crate) fn api(self, default_base: &str, dialect: Dialect) -> Api {
        let base = match &self.endpoint {
            Some(endpoint) => endpoint.as_str().to_owned(),
            None => default_base.to_owned(),
        };
        Api::new(self, &base, dialect)
    }

    /// The vendor's display name (`Datadog`, `Dynatrace`).
    pub(crate) fn vendor(&self) -> &'static str {
        self.vendor
    }

    /// Time left before the deadline, for vendor-level retry loops layered on top of this
    /// policy (e.g. waiting for IAM to propagate), which must stop before it as well.
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The event's progress, which every call reports to.
    pub(crate) fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Records what the vendor module waits for between calls, so an answer sent at the
    /// deadline says what took the time.
    pub(crate) fn report(&self, doing: impl Into<String>) {
        self.progress.set(doing);
    }

    /// Sends `method url`, letting `decorate` add headers and body to each attempt.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        decorate: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Answer, GaveUp> {
        let call = format!("{method} {}", url.path());
        let started = Instant::now();
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(16));
        let mut attempts = 0;
        loop {
            attempts += 1;
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            self.progress.set(if attempts == 1 {
                format!("waiting for {}'s answer to {call}", self.vendor)
            } else {
                format!(
                    "waiting for {}'s answer to {call} (attempt {attempts})",
                    self.vendor
                )
            });
            if method != Method::GET && method != Method::HEAD {
                self.progress.sent_a_change();
            }
            let request = decorate(self.client.request(method.clone(), url.clone()))
                .timeout(ATTEMPT_TIMEOUT.min(remaining));
            let (last, wait) = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(_) if status == 429 => (
                            "HTTP 429 (rate limited)".to_owned(),
                            rate_limit_wait(&headers).unwrap_or_else(|| backoff.next_delay()),
                        ),
                        Ok(_) if (500..=599).contains(&status) => {
                            (format!("HTTP {status}"), backoff.next_delay())
                        }
                        Ok(body) => {
                            return Ok(Answer {
                                status,
                                body: body.to_vec(),
                            });
                        }
                        Err(e) => (
                            format!("the answer broke off ({})", e.without_url()),
                            backoff.next_delay(),
                        ),
                    }
                }
                Err(e) if e.is_timeout() => (
                    format!(
                        "no answer within {} s",
                        ATTEMPT_TIMEOUT.min(remaining).as_secs_f64().round()
                    ),
                    backoff.next_delay(),
                ),
                Err(e) => (describe(&e), backoff.next_delay()),
            };
            if Instant::now() + wait >= self.deadline {
                return Err(GaveUp {
                    vendor: self.vendor,
                    call,
                    attempts,
                    last,
                    elapsed: started.elapsed(),
                });
            }
            tracing::warn!(vendor = self.vendor, call = %call, attempt = attempts, error = %last, wait_ms = wait.as_millis() as u64, "vendor call failed; retrying");
            self.progress.set(format!(
                "waiting to retry {call} at {} (attempt {attempts} got {last})",
                self.vendor
            ));
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends `method url` once, without retrying: for a call that must not be repeated
    /// blindly, because a lost answer may hide that it took effect (the caller looks before
    /// it sends again). Any HTTP answer is returned, 429 and 5xx included; a connection error
    /// or timeout is a [`GaveUp`] after one attempt.
    pub(crate) async fn send_once(
        &self,
        method: Method,
        url: Url,
        decorate: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Answer, GaveUp> {
        let call = format!("{method} {}", url.path());
        let started = Instant::now();
        let remaining = self.deadline.saturating_duration_since(started);
        self.progress
            .set(format!("waiting for {}'s answer to {call}", self.vendor));
        if method != Method::GET && method != Method::HEAD {
            self.progress.sent_a_change();
        }
        let request =
            decorate(self.client.request(method, url)).timeout(ATTEMPT_TIMEOUT.min(remaining));
        let last = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => {
                        return Ok(Answer {
                            status,
                            body: body.to_vec(),
                        });
                    }
                    Err(e) => format!("the answer broke off ({})", e.without_url()),
                }
            }
            Err(e) if e.is_timeout() => format!(
                "no answer within {} s",
                ATTEMPT_TIMEOUT.min(remaining).as_secs_f64().round()
            ),
            Err(e) => describe(&e),
        };
        Err(GaveUp {
            vendor: self.vendor,
            call,
            attempts: 1,
            last,
            elapsed: started.elapsed(),
        })
    }
}

/// How long a 429 asks us to wait: until the window resets (`X-RateLimit-Reset`, Datadog's
/// seconds until reset, or `Retry-After`), then a random point in the next window
/// (`X-RateLimit-Period`, else the reset time, at least a second). Callers throttled together
/// share out the next window instead of colliding again at its start. The spread deliberately
/// does not widen with repeated 429s: in the 1,000-account rollout benchmark, widening up to
/// eight windows left late callers asleep after demand had gone (2.0× the rate-limit floor),
/// while one window kept the rollout at 1.05× the floor.
fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    let seconds = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(delay_until)
    };
    let reset = seconds("x-ratelimit-reset").or_else(|| seconds("retry-after"))?;
    let window = seconds("x-ratelimit-period")
        .unwrap_or(reset)
        .max(Duration::from_secs(1));
    Some(reset + random_up_to(window))
}

/// A rate-limit header value as a delay. Datadog sends seconds until the reset; some APIs
/// (older Dynatrace ones among them) send the reset's time since the epoch, in seconds,
/// milliseconds or microseconds. A value too large to be a delay is read as such a time.
fn delay_until(value: f64) -> Duration {
    const LONGEST_DELAY: f64 = 3600.0;
    let epoch_seconds = match value {
        v if v < 1e9 => return Duration::from_secs_f64(v.min(LONGEST_DELAY)),
        v if v < 1e11 => v,
        v if v < 1e14 => v / 1e3,
        v => v / 1e6,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    Duration::from_secs_f64((epoch_seconds - now).clamp(0.0, LONGEST_DELAY))
}

fn describe(error: &reqwest::Error) -> String {
    let error = error_chain(error);
    if error.contains("Connection refused") {
        "connection refused".to_owned()
    } else {
        error
    }
}

/// The error and its causes, without the URL.
fn error_chain(error: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text
            .replace(&format!(" ({url})"), "")
            .replace(url.as_str(), "");
    }
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn rate_limit_waits_follow_the_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit_wait(&h), None);
        h.insert("x-ratelimit-reset", HeaderValue::from_static("2"));
        h.insert("x-ratelimit-period", HeaderValue::from_static("10"));
        let wait = rate_limit_wait(&h).unwrap();
        assert!(
            wait >= Duration::from_secs(2) && wait <= Duration::from_secs(12),
            "{wait:?}"
        );
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        let wait = rate_limit_wait(&h).unwrap();
        assert!(
            wait >= Duration::from_secs(3) && wait <= Duration::from_secs(6),
            "{wait:?}"
        );
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(rate_limit_wait(&h), None);
    }

    #[test]
    fn resets_given_as_epoch_times_are_read_as_such() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let in_five = now + Duration::from_secs(5);
        for value in [
            in_five.as_secs() as f64,
            in_five.as_millis() as f64,
            in_five.as_micros() as f64,
        ] {
            let delay = delay_until(value);
            assert!(
                delay > Duration::from_secs(3) && delay <= Duration::from_secs(5),
                "{value}: {delay:?}"
            );
        }
        assert_eq!(
            delay_until((now.as_secs() - 60) as f64),
            Duration::ZERO,
            "a reset in the past"
        );
        assert_eq!(delay_until(7.0), Duration::from_secs(7));
        assert_eq!(delay_until(86_400.0), Duration::from_secs(3600));
    }

    #[test]
    fn throttled_callers_spread_over_one_window_after_the_reset() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1"));
        h.insert("x-ratelimit-period", HeaderValue::from_static("2"));
        let waits: Vec<Duration> = (0..200).map(|_| rate_limit_wait(&h).unwrap()).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_secs(1) && *w <= Duration::from_secs(3))
        );
        let late = waits
            .iter()
            .filter(|w| **w > Duration::from_secs(2))
            .count();
        assert!(
            (50..150).contains(&late),
            "spread across the window, not bunched: {late}/200 in its second half"
        );
    }
}
