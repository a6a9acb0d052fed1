//! The audit's output: a table for people (colour only on a terminal, never with `NO_COLOR`),
//! or JSON for scripts (the schema is documented in the README and stays stable: fields are
//! added, never renamed or removed).

use std::collections::BTreeMap;
use std::io::Write;

use registrar::integrations::{Listed, MadeBy};
use serde::Serialize;

use crate::join::{Finding, Instance, Verdict};

/// What the report is about.
pub struct Header<'a> {
    pub stack_set: &'a str,
    pub vendor: &'a str,
    pub location: &'a str,
}

/// The outcome of one deletion by `--prune-orphans`.
#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    pub account: String,
    pub registration_id: String,
    /// `removed`, `already gone` or `failed`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// How many findings have each verdict (every verdict named, zeros included).
pub fn summary(findings: &[Finding]) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> =
        Verdict::ALL.iter().map(|v| (v.as_str(), 0)).collect();
    for finding in findings {
        *counts.entry(finding.verdict.as_str()).or_default() += 1;
    }
    counts
}

/// The JSON document (`"schema": 1`).
pub fn json<'a>(
    out: &mut impl Write,
    header: &Header<'a>,
    findings: &'a [Finding],
    pruned: Option<&'a [Pruned]>,
) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct Document<'a> {
        schema: u32,
        stack_set: &'a str,
        vendor: &'a str,
        location: &'a str,
        summary: BTreeMap<&'static str, usize>,
        findings: Vec<JsonFinding<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pruned: Option<&'a [Pruned]>,
    }
    #[derive(Serialize)]
    struct JsonFinding<'a> {
        account: &'a str,
        account_name: Option<&'a str>,
        account_status: Option<&'a str>,
        verdict: Verdict,
        detail: &'a str,
        registration: Option<JsonRegistration<'a>>,
        stack_instance: Option<&'a Instance>,
    }
    #[derive(Serialize)]
    struct JsonRegistration<'a> {
        id: &'a str,
        /// `registrar` or `someone else`.
        made_by: &'static str,
        /// The Registrar stack its mark names (`<region>/<stack name>`), if any.
        stack: Option<&'a str>,
        role_name: Option<&'a str>,
        partition: Option<&'a str>,
    }
    let registration = |r: &'a Listed| JsonRegistration {
        id: &r.id,
        made_by: match r.made_by {
            MadeBy::Registrar(_) => "registrar",
            MadeBy::Someone => "someone else",
        },
        stack: match &r.made_by {
            MadeBy::Registrar(stack) => stack.as_deref(),
            MadeBy::Someone => None,
        },
        role_name: r.role_name.as_deref(),
        partition: r.partition.as_deref(),
    };
    let document = Document {
        schema: 1,
        stack_set: header.stack_set,
        vendor: header.vendor,
        location: header.location,
        summary: summary(findings),
        findings: findings
            .iter()
            .map(|f| JsonFinding {
                account: &f.account,
                account_name: f.account_name.as_deref(),
                account_status: f.account_status.as_deref(),
                verdict: f.verdict,
                detail: &f.detail,
                registration: f.registration.as_ref().map(registration),
                stack_instance: f.instance.as_ref(),
            })
            .collect(),
        pruned,
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}

/// The table, then a one-line summary.
pub fn table(
    out: &mut impl Write,
    header: &Header,
    findings: &[Finding],
    colour: bool,
) -> std::io::Result<()> {
    writeln!(
        out,
        "StackSet {} against {} ({}): {} line(s)",
        header.stack_set,
        header.vendor,
        header.location,
        findings.len()
    )?;
    let rows: Vec<[String; 5]> = findings
        .iter()
        .map(|f| {
            [
                f.verdict.as_str().to_owned(),
                f.account.clone(),
                f.account_name.clone().unwrap_or_else(|| "-".to_owned()),
                f.registration
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |r| r.id.clone()),
                f.detail.clone(),
            ]
        })
        .collect();
    let titles = ["VERDICT", "ACCOUNT", "NAME", "REGISTRATION", "DETAIL"];
    let mut widths = titles.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5], verdict: Option<Verdict>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == cells.len() - 1 {
                text.push_str(cell);
                break;
            }
            let padding = " ".repeat(widths[i] - cell.chars().count() + 2);
            match (i, verdict) {
                (0, Some(v)) if colour => {
                    text.push_str(&format!("\x1b[{}m{cell}\x1b[0m{padding}", colour_code(v)))
                }
                _ => text.push_str(&format!("{cell}{padding}")),
            }
        }
        text
    };
    writeln!(out, "{}", line(titles, None))?;
    for (row, finding) in rows.iter().zip(findings) {
        let cells = [
            row[0].as_str(),
            row[1].as_str(),
            row[2].as_str(),
            row[3].as_str(),
            row[4].as_str(),
        ];
        writeln!(out, "{}", line(cells, Some(finding.verdict)))?;
    }
    let counts: Vec<String> = summary(findings)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(verdict, n)| format!("{n} {verdict}"))
        .collect();
    writeln!(out, "summary: {}", counts.join(", "))
}

/// The ANSI colour of a verdict.
fn colour_code(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ok => "32",
        Verdict::Missing | Verdict::Drift | Verdict::Unhealthy => "33",
        Verdict::Failed | Verdict::Orphan => "31",
        Verdict::Foreign => "35",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(verdict: Verdict) -> Finding {
        Finding {
            account: "111111111111".into(),
            account_name: Some("prod".into()),
            account_status: Some("ACTIVE".into()),
            verdict,
            detail: "registered by someone else".into(),
            registration: Some(Listed {
                id: "abc".into(),
                account: "111111111111".into(),
                partition: Some("aws".into()),
                role_name: None,
                made_by: MadeBy::Someone,
                binding_scope: None,
                settings: BTreeMap::new(),
                unhealthy: None,
            }),
            instance: None,
        }
    }

    fn header() -> Header<'static> {
        Header {
            stack_set: "registrar",
            vendor: "datadog",
            location: "datadoghq.com",
        }
    }

    #[test]
    fn the_table_aligns_columns_and_colours_only_when_asked() {
        let findings = [finding(Verdict::Foreign), finding(Verdict::Ok)];
        let mut plain = Vec::new();
        table(&mut plain, &header(), &findings, false).unwrap();
        let plain = String::from_utf8(plain).unwrap();
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(
            plain.contains("foreign  111111111111  prod  abc           registered by someone else"),
            "{plain}"
        );
        assert!(plain.ends_with("summary: 1 foreign, 1 ok\n"), "{plain}");
        let mut coloured = Vec::new();
        table(&mut coloured, &header(), &findings, true).unwrap();
        assert!(
            String::from_utf8(coloured)
                .unwrap()
                .contains("\x1b[35mforeign\x1b[0m")
        );
    }

    #[test]
    fn the_json_names_every_verdict_in_its_summary() {
        let mut out = Vec::new();
        json(&mut out, &header(), &[finding(Verdict::Foreign)], None).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["schema"], 1);
        assert_eq!(value["summary"]["foreign"], 1);
        assert_eq!(value["summary"]["ok"], 0);
        assert_eq!(
            value["findings"][0]["registration"]["made_by"],
            "someone else"
        );
        assert!(value.get("pruned").is_none());
    }
}
