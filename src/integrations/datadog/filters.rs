//! The three filter lists, each entry `<scope>:<value>`, grouped by scope in the order first
//! named: `MetricTagFilters` (`AWS/EC2:env:prod`), `MetricNameFilters`
//! (`AWS/EC2:aws.ec2.network_in`, `AWS/RDS:!aws.rds.aurora*`) and `LogSourceTagFilters`
//! (`s3:env:prod`). An entry splits at its first colon: the value keeps its own.

use super::account::{LogSourceTagFilter, MetricNameFilter, TagFilter};
use super::collection::invalid;
use crate::props::PropertyError;

/// `MetricTagFilters`: `namespace:tag` entries (`AWS/EC2:env:prod`, `AWS/EC2:!region:us-east-1`).
pub(super) fn tag_filters(entries: &[String]) -> Result<Vec<TagFilter>, PropertyError> {
    let mut filters: Vec<TagFilter> = Vec::new();
    for entry in entries {
        let (namespace, tag) = split(entry).ok_or_else(|| {
            invalid(
                "MetricTagFilters",
                entry,
                "a list of <namespace>:<tag> entries such as AWS/EC2:env:production (the tag may use ?, * and a leading !)",
            )
        })?;
        match filters.iter_mut().find(|f| f.namespace == namespace) {
            Some(filter) => filter.tags.push(tag.to_owned()),
            None => filters.push(TagFilter {
                namespace: namespace.to_owned(),
                tags: vec![tag.to_owned()],
            }),
        }
    }
    Ok(filters)
}

/// `MetricNameFilters`: `namespace:pattern` entries collect only the metrics named by a
/// pattern (`include_only`), `namespace:!pattern` all but them (`exclude_only`). Datadog takes
/// exactly one of the two per namespace (`aws_metric_name_filters.py`: "Exactly one of
/// include_only or exclude_only must be set"), so one namespace's entries are all with `!` or
/// all without.
pub(super) fn metric_name_filters(
    entries: &[String],
) -> Result<Vec<MetricNameFilter>, PropertyError> {
    const NAME: &str = "MetricNameFilters";
    let mut filters: Vec<MetricNameFilter> = Vec::new();
    for entry in entries {
        let (namespace, pattern) = split(entry)
            .filter(|(_, p)| is_pattern(p.strip_prefix('!').unwrap_or(p)))
            .ok_or_else(|| {
                invalid(
                    NAME,
                    entry,
                    "a list of <namespace>:<metric name> entries such as AWS/EC2:aws.ec2.network_in, or AWS/RDS:!aws.rds.aurora* to collect all but those (the name may use *)",
                )
            })?;
        let (exclude, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest.to_owned()),
            None => (false, pattern.to_owned()),
        };
        match filters.iter_mut().find(|f| f.namespace() == namespace) {
            Some(MetricNameFilter::IncludeOnly { include_only, .. }) if !exclude => {
                include_only.push(pattern)
            }
            Some(MetricNameFilter::ExcludeOnly { exclude_only, .. }) if exclude => {
                exclude_only.push(pattern)
            }
            Some(_) => {
                return Err(invalid(
                    NAME,
                    entry,
                    &format!(
                        "for {namespace} either names to collect or names (with !) to skip, not both: Datadog takes one of the two per namespace"
                    ),
                ));
            }
            None => filters.push(match exclude {
                false => MetricNameFilter::IncludeOnly {
                    namespace: namespace.to_owned(),
                    include_only: vec![pattern],
                },
                true => MetricNameFilter::ExcludeOnly {
                    namespace: namespace.to_owned(),
                    exclude_only: vec![pattern],
                },
            }),
        }
    }
    Ok(filters)
}

/// `LogSourceTagFilters`: `source:tag` entries (`s3:env:prod`): the log source (a `LogSources`
/// service id) forwards only the logs of resources with one of its tags.
pub(super) fn log_source_tag_filters(
    entries: &[String],
) -> Result<Vec<LogSourceTagFilter>, PropertyError> {
    let mut filters: Vec<LogSourceTagFilter> = Vec::new();
    for entry in entries {
        let (source, tag) = split(entry).ok_or_else(|| {
            invalid(
                "LogSourceTagFilters",
                entry,
                "a list of <log source>:<tag> entries such as s3:env:production",
            )
        })?;
        match filters.iter_mut().find(|f| f.source == source) {
            Some(filter) => filter.tags.push(tag.to_owned()),
            None => filters.push(LogSourceTagFilter {
                source: source.to_owned(),
                tags: vec![tag.to_owned()],
            }),
        }
    }
    Ok(filters)
}

/// `scope:value` with a plain-name scope and a value that is not empty.
fn split(entry: &str) -> Option<(&str, &str)> {
    entry
        .split_once(':')
        .map(|(n, t)| (n.trim(), t.trim()))
        .filter(|(n, t)| is_name(n) && !t.is_empty())
}

/// A metric name or pattern: letters, digits, `.`, `_`, `-`, `*`, `?`.
fn is_pattern(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*' | '?'))
}

/// A plain name (no spaces, no commas, no `:`).
pub(super) fn is_name(text: &str) -> bool {
    !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| (*e).to_owned()).collect()
    }

    #[test]
    fn metric_name_filters_group_by_namespace_in_the_recorded_shapes() {
        let filters = metric_name_filters(&list(&[
            "AWS/EC2:aws.ec2.network_in",
            "AWS/RDS:!aws.rds.aurora*",
            "AWS/EC2:aws.ec2.cpu*",
        ]))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&filters).unwrap(),
            serde_json::json!([
                {"namespace": "AWS/EC2", "include_only": ["aws.ec2.network_in", "aws.ec2.cpu*"]},
                {"namespace": "AWS/RDS", "exclude_only": ["aws.rds.aurora*"]}
            ])
        );
        for bad in [
            &["AWS/EC2"][..],
            &["AWS/EC2:"],
            &["AWS/EC2:!"],
            &["AWS/EC2:a b"],
            &[":aws.ec2.cpu"],
            &["AWS/EC2:aws.ec2.cpu", "AWS/EC2:!aws.ec2.disk"],
        ] {
            let err = metric_name_filters(&list(bad)).unwrap_err().to_string();
            assert!(
                err.starts_with("The MetricNameFilters property "),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn log_source_tag_filters_group_by_source() {
        let filters =
            log_source_tag_filters(&list(&["s3:env:prod", "lambda:team:a", "s3:tier"])).unwrap();
        assert_eq!(
            serde_json::to_value(&filters).unwrap(),
            serde_json::json!([
                {"source": "s3", "tags": ["env:prod", "tier"]},
                {"source": "lambda", "tags": ["team:a"]}
            ])
        );
        for bad in ["s3", "s3:", ":env:prod", "s 3:env:prod"] {
            let err = log_source_tag_filters(&list(&[bad]))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("The LogSourceTagFilters property "),
                "{bad}: {err}"
            );
        }
    }
}
