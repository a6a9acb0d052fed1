//! The AWS regions of each partition, for checking the `Regions` property before anything is
//! sent: a region Datadog would poll must exist in the member account's partition.
//!
//! Source: the AWS SDK's endpoint data, `botocore/data/endpoints.json` in boto/botocore
//! (`partitions[].regions`, botocore 1.44.8), which lists the regions of each partition; AWS's
//! own list is <https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html>.
//! A region AWS opens after this list was taken is refused until Registrar is updated (the
//! message says so): a typo must not silently make Datadog poll nothing.

use crate::identity::Partition;

const AWS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];
const AWS_CN: &[&str] = &["cn-north-1", "cn-northwest-1"];
const AWS_US_GOV: &[&str] = &["us-gov-east-1", "us-gov-west-1"];

/// The regions of `partition`.
pub(crate) fn of(partition: Partition) -> &'static [&'static str] {
    match partition {
        Partition::Aws => AWS,
        Partition::AwsCn => AWS_CN,
        Partition::AwsUsGov => AWS_US_GOV,
    }
}

/// Whether `region` is a region of `partition`.
pub(crate) fn exists(partition: Partition, region: &str) -> bool {
    of(partition).contains(&region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_region_belongs_to_one_partition() {
        assert!(exists(Partition::Aws, "eu-west-1"));
        assert!(!exists(Partition::Aws, "us-gov-west-1"));
        assert!(!exists(Partition::Aws, "cn-north-1"));
        assert!(exists(Partition::AwsCn, "cn-northwest-1"));
        assert!(exists(Partition::AwsUsGov, "us-gov-east-1"));
        for p in Partition::ALL {
            for q in Partition::ALL {
                if p != q {
                    assert!(of(p).iter().all(|r| !of(q).contains(r)));
                }
            }
        }
    }
}
