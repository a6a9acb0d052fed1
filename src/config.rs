//! The function's environment: where vendor calls and CloudFormation answers may go, and the
//! time budget to fall back on when the runtime's deadline cannot be trusted.
//!
//! Read once at start-up, without any network call. A setting that cannot be honoured does not
//! stop the process: every event is then answered FAILED with the problem, so a stack never
//! hangs on a misconfigured function.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

/// `REGISTRAR_VENDOR_ENDPOINT`: a base URL replacing the vendor's host (sandboxes, proxies).
pub(crate) const VENDOR_ENDPOINT_VAR: &str = "REGISTRAR_VENDOR_ENDPOINT";
/// `REGISTRAR_RESPONSE_HOSTS`: extra hosts allowed for the `ResponseURL`.
pub(crate) const RESPONSE_HOSTS_VAR: &str = "REGISTRAR_RESPONSE_HOSTS";
/// `REGISTRAR_FALLBACK_BUDGET_SECONDS`: the time allowed per event when the runtime reports a
/// deadline that is already past or implausibly far away (some local emulators do).
pub(crate) const FALLBACK_BUDGET_VAR: &str = "REGISTRAR_FALLBACK_BUDGET_SECONDS";

const DEFAULT_FALLBACK_BUDGET: Duration = Duration::from_secs(60);
const DEFAULT_RESPONSE_HOSTS: [&str; 2] = ["*.amazonaws.com", "*.amazonaws.com.cn"];

/// Settings from the function's environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Replaces the vendor's API base URL when set.
    pub(crate) vendor_endpoint: Option<Url>,
    /// Where CloudFormation answers may be sent.
    pub(crate) response_hosts: HostAllowList,
    /// Budget for an event whose runtime deadline is unusable.
    pub(crate) fallback_budget: Duration,
    /// Why this configuration cannot be used, if it cannot; every event is then answered FAILED.
    pub problem: Option<String>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Config {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Config {
        let mut problems = Vec::new();
        let set = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let vendor_endpoint =
            set(VENDOR_ENDPOINT_VAR).and_then(|text| match parse_endpoint(&text) {
                Ok(url) => Some(url),
                Err(why) => {
                    problems.push(format!("{VENDOR_ENDPOINT_VAR} {why}"));
                    None
                }
            });

        let mut response_hosts = HostAllowList::default();
        if let Some(text) = set(RESPONSE_HOSTS_VAR) {
            for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                if let Err(why) = response_hosts.add(entry) {
                    problems.push(format!("{RESPONSE_HOSTS_VAR}: {why}"));
                }
            }
        }

        let fallback_budget = match set(FALLBACK_BUDGET_VAR) {
            None => DEFAULT_FALLBACK_BUDGET,
            Some(text) => match text.parse::<u64>() {
                Ok(secs) if (1..=900).contains(&secs) => Duration::from_secs(secs),
                _ => {
                    problems.push(format!("{FALLBACK_BUDGET_VAR} must be a whole number of seconds from 1 to 900, not {text:?}"));
                    DEFAULT_FALLBACK_BUDGET
                }
            },
        };

        Config {
            vendor_endpoint,
            response_hosts,
            fallback_budget,
            problem: (!problems.is_empty()).then(|| problems.join("; ")),
        }
    }
}

/// Parses the vendor endpoint override: `https://…`, or plain `http://` to loopback only.
fn parse_endpoint(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(
                "may use plain http only to a loopback address (127.0.0.1, ::1, localhost)".into(),
            );
        }
        other => return Err(format!("must be an https URL, not {other}:")),
    }
    if url.host_str().is_none() || url.query().is_some() || !url.username().is_empty() {
        return Err("must be a base URL with a host and no credentials or query".into());
    }
    Ok(url)
}

/// Whether the URL's host is a loopback address.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Host patterns a `ResponseURL` may point at: exact names, or `*.suffix` for any subdomain.
#[derive(Debug, Clone)]
pub(crate) struct HostAllowList {
    patterns: Vec<String>,
}

impl Default for HostAllowList {
    fn default() -> Self {
        HostAllowList {
            patterns: DEFAULT_RESPONSE_HOSTS
                .iter()
                .map(|p| p.to_string())
                .collect(),
        }
    }
}

impl HostAllowList {
    /// Adds a pattern (`host`, `*.suffix`); a port, if given, is ignored.
    pub(crate) fn add(&mut self, pattern: &str) -> Result<(), String> {
        let pattern = pattern.to_ascii_lowercase();
        let host = match pattern.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => {
                host.to_owned()
            }
            _ => pattern,
        };
        let bare = host.strip_prefix("*.").unwrap_or(&host);
        if bare.is_empty() || bare.contains(['/', '?', '#', '@', '*']) {
            return Err(format!("{host:?} is not a host name or *.suffix pattern"));
        }
        self.patterns.push(host);
        Ok(())
    }

    /// Whether `url` may receive a CloudFormation answer: https to an allowed host, or plain
    /// http to an allowed loopback host.
    pub(crate) fn permits(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let scheme_ok = match url.scheme() {
            "https" => true,
            "http" => is_loopback(url),
            _ => false,
        };
        scheme_ok && self.patterns.iter().any(|p| host_matches(p, &host))
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_start_matches('[').trim_end_matches(']');
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len()
                && host.ends_with(suffix)
                && host[..host.len() - suffix.len()].ends_with('.')
        }
        None => host == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_allow_only_amazonaws_over_https() {
        let c = config(&[]);
        assert!(c.problem.is_none());
        assert!(c.vendor_endpoint.is_none());
        let ok = |u: &str| c.response_hosts.permits(&Url::parse(u).unwrap());
        assert!(ok(
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?sig=1"
        ));
        assert!(ok("https://bucket.s3.cn-north-1.amazonaws.com.cn/x"));
        assert!(!ok(
            "http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x"
        ));
        assert!(!ok("https://amazonaws.com.evil.example/x"));
        assert!(!ok("https://evilamazonaws.com/x"));
        assert!(!ok("https://127.0.0.1/x"));
    }

    #[test]
    fn extra_response_hosts_allow_loopback_http() {
        let c = config(&[(RESPONSE_HOSTS_VAR, "127.0.0.1:8080, *.internal.example")]);
        assert!(c.problem.is_none());
        let ok = |u: &str| c.response_hosts.permits(&Url::parse(u).unwrap());
        assert!(ok("http://127.0.0.1:4566/cfn"));
        assert!(ok("https://s3.internal.example/cfn"));
        assert!(
            !ok("http://s3.internal.example/cfn"),
            "plain http only to loopback"
        );
    }

    #[test]
    fn vendor_endpoint_is_https_or_loopback_http() {
        assert!(
            config(&[(VENDOR_ENDPOINT_VAR, "http://127.0.0.1:9000")])
                .vendor_endpoint
                .is_some()
        );
        assert!(
            config(&[(VENDOR_ENDPOINT_VAR, "https://proxy.example")])
                .vendor_endpoint
                .is_some()
        );
        let bad = config(&[(VENDOR_ENDPOINT_VAR, "http://proxy.example")]);
        assert!(bad.vendor_endpoint.is_none());
        assert!(bad.problem.unwrap().contains("loopback"));
    }

    #[test]
    fn bad_budget_is_reported_and_defaulted() {
        let c = config(&[(FALLBACK_BUDGET_VAR, "forever")]);
        assert_eq!(c.fallback_budget, DEFAULT_FALLBACK_BUDGET);
        assert!(c.problem.unwrap().contains(FALLBACK_BUDGET_VAR));
        assert_eq!(
            config(&[(FALLBACK_BUDGET_VAR, "12")]).fallback_budget,
            Duration::from_secs(12)
        );
    }
}
