//! Datadog's sites: the nine documented ones, their API hosts, and the AWS account Datadog
//! assumes the integration role from for each site and partition.

use crate::identity::Partition;

/// A Datadog site (the `DatadogSite` a customer's organisation lives on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Site {
    Us1,
    Us3,
    Us5,
    Eu1,
    Ap1,
    Ap2,
    Uk1,
    Us1Fed,
    Us2Fed,
}

impl Site {
    /// The nine documented sites, in the order of Datadog's own template.
    pub const ALL: [Site; 9] = [
        Site::Us1,
        Site::Eu1,
        Site::Us3,
        Site::Us5,
        Site::Us1Fed,
        Site::Us2Fed,
        Site::Ap1,
        Site::Ap2,
        Site::Uk1,
    ];

    /// The site's domain, as customers write it (`datadoghq.com`, `us3.datadoghq.com`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Site::Us1 => "datadoghq.com",
            Site::Us3 => "us3.datadoghq.com",
            Site::Us5 => "us5.datadoghq.com",
            Site::Eu1 => "datadoghq.eu",
            Site::Ap1 => "ap1.datadoghq.com",
            Site::Ap2 => "ap2.datadoghq.com",
            Site::Uk1 => "uk1.datadoghq.com",
            Site::Us1Fed => "ddog-gov.com",
            Site::Us2Fed => "us2.ddog-gov.com",
        }
    }

    /// Parses a site domain; surrounding whitespace, case and a trailing dot are forgiven.
    pub(crate) fn parse(text: &str) -> Option<Site> {
        let text = text.trim().trim_end_matches('.').to_ascii_lowercase();
        Site::ALL.into_iter().find(|site| site.as_str() == text)
    }

    /// The API host for the site (`https://api.<site>`).
    pub(crate) fn api_base_url(self) -> String {
        format!("https://api.{}", self.as_str())
    }
}

/// The AWS account Datadog assumes the integration role from, for a site and the member
/// account's partition. `None` when Datadog cannot reach that partition from that site.
///
/// Source: Datadog's organisation template (DataDog/cloudformation-template,
/// `aws_organizations/main_organizations.yaml`, `Mappings.DdAccountIdBySite`) and Datadog's AWS
/// setup guides. `templates/datadog.yaml` carries the same table, and a test keeps the two equal.
pub fn principal_account_id(site: Site, partition: Partition) -> Option<&'static str> {
    match (partition, site) {
        (Partition::Aws, Site::Us1 | Site::Us3 | Site::Us5 | Site::Eu1) => Some("464622532012"),
        (Partition::Aws, Site::Ap1) => Some("417141415827"),
        (Partition::Aws, Site::Ap2) => Some("412381753143"),
        (Partition::Aws, Site::Uk1) => Some("117348461845"),
        (Partition::Aws, Site::Us1Fed) => Some("392588925713"),
        (Partition::Aws, Site::Us2Fed) => Some("382742775718"),
        (Partition::AwsUsGov, Site::Us1Fed) => Some("065115117704"),
        (Partition::AwsUsGov, Site::Us2Fed) => Some("486737091498"),
        // Datadog's commercial sites cannot assume roles in GovCloud, and no site serves China.
        (Partition::AwsUsGov, _) | (Partition::AwsCn, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_parse_leniently_and_round_trip() {
        for site in Site::ALL {
            assert_eq!(Site::parse(site.as_str()), Some(site));
        }
        assert_eq!(Site::parse(" DatadogHQ.EU. "), Some(Site::Eu1));
        assert_eq!(Site::parse("datadoghq.co"), None);
        assert_eq!(Site::Us3.api_base_url(), "https://api.us3.datadoghq.com");
    }

    #[test]
    fn government_sites_serve_govcloud_and_commercial_sites_do_not() {
        for site in Site::ALL {
            assert!(principal_account_id(site, Partition::Aws).is_some());
            assert_eq!(
                principal_account_id(site, Partition::AwsUsGov).is_some(),
                matches!(site, Site::Us1Fed | Site::Us2Fed),
                "only the government sites serve GovCloud: {site:?}"
            );
            assert_eq!(principal_account_id(site, Partition::AwsCn), None);
        }
        assert_eq!(
            principal_account_id(Site::Us1Fed, Partition::AwsUsGov),
            Some("065115117704")
        );
    }
}
