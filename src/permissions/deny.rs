//! The actions a vendor's role must never be allowed: reading data or secrets. The permissions
//! step drops any action of a vendor's list that covers one of them (and logs it), whatever
//! the vendor publishes; the permissions boundary each member template (`templates/`) sets on
//! every vendor principal denies them; the template tests hold the vendor roles to the same
//! list (`tests/template/data_reading_actions.json`, kept equal to [`DATA_READING_ACTIONS`] by a
//! test).
//!
//! An action in a policy may be a wildcard pattern (`s3:Get*`, `dynamodb:*`, `*`); it is refused
//! when the pattern matches any action below, case-insensitively, as IAM matches actions.

/// Actions that read stored data or secret values (not metadata about them). Each service's
/// actions and what they return: the Service Authorization Reference,
/// https://docs.aws.amazon.com/service-authorization/latest/reference/list_<service>.html
/// (the page named beside each group), and the service's API reference.
pub const DATA_READING_ACTIONS: [&str; 29] = [
    // list_amazons3.html: an object's content, any version.
    "s3:GetObject",
    "s3:GetObjectVersion",
    // list_amazondynamodb.html: items, by key, query, scan, PartiQL, or from the table's stream.
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PartiQLSelect",
    "dynamodb:GetRecords",
    // list_awssecretsmanager.html: secret values, one or many at once.
    "secretsmanager:GetSecretValue",
    "secretsmanager:BatchGetSecretValue",
    // list_awskeymanagementservice.html: the plaintext of anything a key encrypted.
    "kms:Decrypt",
    // list_awssystemsmanager.html: parameter values (SecureString decrypted on request),
    // the history too.
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "ssm:GetParameterHistory",
    // list_amazonkinesis.html, list_amazonsqs.html: stream records, queue messages.
    "kinesis:GetRecords",
    "sqs:ReceiveMessage",
    // list_amazoncloudwatchlogs.html: log events, by stream, Logs Insights query, live tail or
    // record. (logs:FilterLogEvents reads log events too; Datadog's standard list asks for it,
    // and docs/template.md says why it is kept.)
    "logs:GetLogEvents",
    "logs:StartQuery",
    "logs:GetQueryResults",
    "logs:StartLiveTail",
    "logs:GetLogRecord",
    // list_amazonkeyspacesforapachecassandra.html: Select reads a table's rows.
    "cassandra:Select",
    // list_amazonathena.html: a query's result rows.
    "athena:GetQueryResults",
    // list_amazonelasticcontainerregistry.html: image manifests and layers.
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    // list_awscodecommit.html: file contents.
    "codecommit:GetBlob",
    "codecommit:GetFile",
    // list_amazonec2.html: a Windows instance's encrypted administrator password.
    "ec2:GetPasswordData",
];

/// The data-reading action `pattern` allows, if any.
pub fn reads_data(pattern: &str) -> Option<&'static str> {
    DATA_READING_ACTIONS
        .iter()
        .copied()
        .find(|action| matches(pattern, action))
}

/// IAM's action matching: `*` any run of characters, `?` one, case-insensitive.
fn matches(pattern: &str, action: &str) -> bool {
    let pattern: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let action: Vec<char> = action.to_ascii_lowercase().chars().collect();
    // Classic wildcard matching with backtracking to the last `*`.
    let (mut p, mut a) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while a < action.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == action[a]) {
            p += 1;
            a += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, a));
            p += 1;
        } else if let Some((star_p, star_a)) = star {
            p = star_p + 1;
            a = star_a + 1;
            star = Some((star_p, star_a + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_that_cover_a_data_read_are_refused() {
        for refused in [
            "*",
            "s3:*",
            "s3:Get*",
            "S3:GETOBJECT",
            "s3:GetObject*",
            "dynamodb:*",
            "dynamodb:Get*",
            "secretsmanager:*",
            "kms:*",
            "kms:Decrypt",
            "ssm:GetParameter*",
            "*:GetItem",
            "s3:Get?bject",
        ] {
            assert!(reads_data(refused).is_some(), "{refused}");
        }
        for allowed in [
            "s3:GetBucketLocation",
            "s3:GetBucketTagging",
            "s3:ListAllMyBuckets",
            "dynamodb:Describe*",
            "dynamodb:List*",
            "cloudwatch:Get*",
            "ssm:GetServiceSetting",
            "kms:ListKeys",
            "kinesis:Describe*",
            "sqs:ListQueues",
            "ec2:Describe*",
        ] {
            assert_eq!(reads_data(allowed), None, "{allowed}");
        }
    }

    #[test]
    fn the_template_tests_list_is_this_list() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/template/data_reading_actions.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let listed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let listed: Vec<&str> = listed["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(listed, DATA_READING_ACTIONS);
    }
}
