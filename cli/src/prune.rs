//! `--prune-orphans`: the plan printed first, a confirmation on a terminal (unless `--yes`),
//! then each deletion through the integration's own delete, each result reported. Only
//! Registrar-made registrations of accounts that are gone are ever deleted
//! ([`Finding::is_prunable`]), never anyone else's.

use std::io::{BufRead, Write};
use std::time::Duration;

use registrar::integrations::Removal;
use registrar::inventory::VendorView;
use registrar::progress::Progress;
use registrar::secrets::SecretJson;
use tokio::time::Instant;

use crate::error::AuditError;
use crate::join::Finding;
use crate::render::Pruned;

/// Prunes the orphans among `findings`. The plan and the results go to stdout for the table,
/// to stderr for JSON (whose document carries the results). `confirmed`: `--yes`; otherwise
/// the person at the terminal is asked.
pub async fn prune(
    vendor: &VendorView,
    keys: &SecretJson,
    findings: &[Finding],
    confirmed: bool,
    per_call: Duration,
    to_stdout: bool,
) -> Result<Vec<Pruned>, AuditError> {
    let say = |text: String| -> std::io::Result<()> {
        if to_stdout {
            writeln!(std::io::stdout().lock(), "{text}")
        } else {
            writeln!(std::io::stderr().lock(), "{text}")
        }
    };
    let plan: Vec<&Finding> = findings.iter().filter(|f| f.is_prunable()).collect();
    if plan.is_empty() {
        say("prune: no orphan registration to delete.".to_owned())?;
        return Ok(Vec::new());
    }
    say(format!(
        "prune: will delete {} Registrar-made {} at {} ({}), of accounts that are suspended, closed or no longer in the organisation:",
        plan.len(),
        what_is_deleted(vendor.name()),
        vendor.display_name(),
        vendor.location()
    ))?;
    for finding in &plan {
        let registration = finding.registration.as_ref().expect("prunable");
        say(format!(
            "  {}  {}  ({})",
            finding.account, registration.id, finding.detail
        ))?;
    }
    if !confirmed
        && !ask(&format!(
            "Delete these {} registration(s)? [y/N] ",
            plan.len()
        ))?
    {
        say("prune: nothing deleted.".to_owned())?;
        return Ok(Vec::new());
    }
    let mut results = Vec::new();
    for finding in plan {
        let registration = finding.registration.as_ref().expect("prunable");
        let http = vendor.http(Instant::now() + per_call, Progress::default());
        let (result, detail) = match vendor.delete(keys, http, registration).await {
            Ok(Removal::Removed) => ("removed", None),
            Ok(Removal::AlreadyGone) => ("already gone", None),
            Err(e) => ("failed", Some(e.to_string())),
        };
        say(format!(
            "  {result}: {} {}{}",
            finding.account,
            registration.id,
            detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ))?;
        results.push(Pruned {
            account: finding.account.clone(),
            registration_id: registration.id.clone(),
            result,
            detail,
        });
    }
    Ok(results)
}

/// Asks on stderr, reads a line from stdin: yes only for `y` or `yes`.
fn ask(question: &str) -> std::io::Result<bool> {
    let mut stderr = std::io::stderr().lock();
    write!(stderr, "{question}")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// What a registration is called at the vendor, as its console names it, and what goes with it.
fn what_is_deleted(vendor: &str) -> &'static str {
    match vendor {
        "datadog" => "AWS integration(s)",
        "dynatrace" => "AWS connection(s), each with the account's own monitoring configuration,",
        _ => "registration(s)",
    }
}
