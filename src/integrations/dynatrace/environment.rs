//! Which Dynatrace environment a resource names: the accepted environment URLs, their canonical
//! platform host, and the AWS account Dynatrace assumes monitoring roles from for it.
//!
//! Sources (docs/dynatrace-api.md, "Environments and principals"): Dynatrace's monitoring-role
//! template (`cProductionEnvironment`, as dtctl quotes it) for the principal rule.

use reqwest::Url;

/// The AWS account Dynatrace assumes monitoring roles from, for production environments.
pub const PRODUCTION_PRINCIPAL: &str = "314146291599";
/// The same, for Dynatrace's non-production (sprint, dev) environments.
pub const NON_PRODUCTION_PRINCIPAL: &str = "476114158034";

/// The platform host of a Dynatrace SaaS environment URL, or why the URL is not one.
///
/// Accepted: `https://<id>.apps.dynatrace.com` and the classic `https://<id>.live.dynatrace.com`
/// (production), and `https://<id>.<sprint|dev>[.apps].dynatracelabs.com` (Dynatrace's
/// non-production stages). The classic hosts are mapped to their platform (`apps`) host, where
/// the settings and extensions APIs Registrar calls are served. Anything else (another domain,
/// plain http, credentials, a path, query or port) is refused before a token is sent.
pub fn environment_host(text: &str) -> Result<String, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if url.scheme() != "https" {
        return Err(format!("the scheme is {}, not https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it carries credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() || !matches!(url.path(), "" | "/") {
        return Err("it has a path, query or fragment".into());
    }
    if url.port().is_some() {
        return Err("it names a port".into());
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Err("its host is not a domain name".into());
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let environment = labels.first().copied().unwrap_or_default();
    let valid_id = !environment.is_empty()
        && environment.len() <= 63
        && environment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !environment.starts_with('-')
        && !environment.ends_with('-');
    let canonical = match labels[1..] {
        ["apps" | "live", "dynatrace", "com"] => format!("{environment}.apps.dynatrace.com"),
        [stage @ ("sprint" | "dev"), "apps", "dynatracelabs", "com"]
        | [stage @ ("sprint" | "dev"), "dynatracelabs", "com"] => {
            format!("{environment}.{stage}.apps.dynatracelabs.com")
        }
        _ => return Err(format!("{host} is not a Dynatrace SaaS environment host")),
    };
    if !valid_id {
        return Err(format!("{environment:?} is not an environment id"));
    }
    Ok(canonical)
}

/// The AWS account Dynatrace assumes roles from for an environment: the production account
/// when the host's third label is `dynatrace`, the non-production account otherwise. This is
/// the rule of Dynatrace's monitoring-role template (`cProductionEnvironment` in
/// `da-aws-nested-monitoring-role.yaml`, as dtctl quotes it); `templates/dynatrace.yaml` carries
/// the same two accounts.
pub fn principal_account_id(environment_host: &str) -> &'static str {
    match environment_host.split('.').nth(2) {
        Some("dynatrace") => PRODUCTION_PRINCIPAL,
        _ => NON_PRODUCTION_PRINCIPAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_urls_are_canonical_platform_hosts() {
        for (url, host) in [
            (
                "https://abc12345.apps.dynatrace.com",
                "abc12345.apps.dynatrace.com",
            ),
            (
                "https://abc12345.live.dynatrace.com/",
                "abc12345.apps.dynatrace.com",
            ),
            (
                " https://ABC12345.Apps.Dynatrace.com. ",
                "abc12345.apps.dynatrace.com",
            ),
            (
                "https://abc12345.sprint.apps.dynatracelabs.com",
                "abc12345.sprint.apps.dynatracelabs.com",
            ),
            (
                "https://abc12345.sprint.dynatracelabs.com",
                "abc12345.sprint.apps.dynatracelabs.com",
            ),
            (
                "https://xyz-9.dev.apps.dynatracelabs.com",
                "xyz-9.dev.apps.dynatracelabs.com",
            ),
        ] {
            assert_eq!(environment_host(url).as_deref(), Ok(host), "{url}");
        }
    }

    #[test]
    fn anything_but_a_dynatrace_saas_environment_is_refused() {
        for url in [
            "http://abc12345.apps.dynatrace.com",
            "https://abc12345.apps.dynatrace.com.evil.example",
            "https://evil.example/abc12345.apps.dynatrace.com",
            "https://user:pw@abc12345.apps.dynatrace.com",
            "https://abc12345.apps.dynatrace.com/e/abc",
            "https://abc12345.apps.dynatrace.com?x=1",
            "https://abc12345.apps.dynatrace.com:8443",
            "https://apps.dynatrace.com",
            "https://a.b.apps.dynatrace.com",
            "https://abc12345.prod.apps.dynatracelabs.com",
            "https://abc12345.dynatrace.com",
            "https://127.0.0.1",
            "abc12345.apps.dynatrace.com",
            "",
        ] {
            assert!(environment_host(url).is_err(), "{url} was accepted");
        }
    }

    #[test]
    fn the_principal_follows_dynatraces_template_rule() {
        assert_eq!(
            principal_account_id("abc12345.apps.dynatrace.com"),
            "314146291599"
        );
        assert_eq!(
            principal_account_id("abc12345.live.dynatrace.com"),
            "314146291599"
        );
        assert_eq!(
            principal_account_id("abc12345.sprint.apps.dynatracelabs.com"),
            "476114158034"
        );
        assert_eq!(
            principal_account_id("abc12345.dev.apps.dynatracelabs.com"),
            "476114158034"
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hosts_fit_the_physical_id(url in ".{0,80}") {
            if let Ok(host) = environment_host(&url) {
                prop_assert!(!host.contains(':') && !host.contains('/'));
            }
        }
    }
}
