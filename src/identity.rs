//! Who is being registered: the AWS account id and partition.
//!
//! Both come from the request's `StackId` (`arn:<partition>:cloudformation:<region>:<account>:stack/…`)
//! unless the `AccountId` / `Partition` properties override them.

use std::fmt;

/// An AWS partition. Vendors pick their principal account per partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    Aws,
    AwsCn,
    AwsUsGov,
}

impl Partition {
    /// Every partition Registrar knows, in a stable order.
    pub const ALL: [Partition; 3] = [Partition::Aws, Partition::AwsCn, Partition::AwsUsGov];

    /// The partition's name as it appears in ARNs.
    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    /// Parses a partition name (`aws`, `aws-cn`, `aws-us-gov`).
    pub(crate) fn parse(name: &str) -> Option<Partition> {
        Partition::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    /// Accepts exactly twelve ASCII digits.
    pub fn parse(text: &str) -> Option<AccountId> {
        (text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| AccountId(text.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The account a registration is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account: AccountId,
    pub partition: Partition,
}

/// The parts of a stack ARN that Registrar uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StackArn {
    pub(crate) partition: Partition,
    pub(crate) region: String,
    pub(crate) account: AccountId,
    /// The stack's name (for StackSets, `StackSet-<set>-<uuid>`).
    pub(crate) name: String,
    /// The stack's unique id (the last path segment).
    pub(crate) guid: String,
}

impl StackArn {
    /// Parses `arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<guid>`.
    pub(crate) fn parse(arn: &str) -> Option<StackArn> {
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some("cloudformation"),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return None;
        };
        let mut path = resource.splitn(3, '/');
        let (Some("stack"), Some(name), Some(guid)) = (path.next(), path.next(), path.next())
        else {
            return None;
        };
        Some(StackArn {
            partition: Partition::parse(partition)?,
            region: region.to_owned(),
            account: AccountId::parse(account)?,
            name: name.to_owned(),
            guid: guid.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stack_arn() {
        let arn = "arn:aws-us-gov:cloudformation:us-gov-west-1:123456789012:stack/StackSet-reg-1a2b/0b5e4b10-1f2a-11ef-9e3c-0a1b2c3d4e5f";
        let stack = StackArn::parse(arn).unwrap();
        assert_eq!(stack.partition, Partition::AwsUsGov);
        assert_eq!(stack.region, "us-gov-west-1");
        assert_eq!(stack.account.as_str(), "123456789012");
        assert_eq!(stack.name, "StackSet-reg-1a2b");
        assert_eq!(stack.guid, "0b5e4b10-1f2a-11ef-9e3c-0a1b2c3d4e5f");
    }

    #[test]
    fn rejects_what_is_not_a_stack_arn() {
        for arn in [
            "",
            "arn:aws:s3:::bucket",
            "arn:aws:cloudformation:us-east-1:12345:stack/a/b",
            "arn:aws-moon:cloudformation:us-east-1:123456789012:stack/a/b",
            "arn:aws:cloudformation:us-east-1:123456789012:changeSet/a/b",
            "arn:aws:cloudformation:us-east-1:123456789012:stack/only-name",
        ] {
            assert_eq!(StackArn::parse(arn), None, "{arn}");
        }
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(AccountId::parse("123456789012").is_some());
        assert!(AccountId::parse("12345678901").is_none());
        assert!(AccountId::parse("12345678901a").is_none());
        assert!(AccountId::parse("１２３４５６７８９０１２").is_none());
    }
}
