//! `registrar`: the platform engineer's command line. `registrar audit` joins the
//! organisation's accounts, the StackSet's stack instances and the vendor's registrations into
//! one verdict per account; `--prune-orphans` deletes Registrar-made registrations of accounts
//! that are gone, and nothing else writes.
//!
//! The vendor is reached through the Lambda's own code (the `registrar` library: the secret,
//! the integrations and their ownership marks, the HTTP retry policy); the AWS reads are this
//! crate's, so the Lambda never links Organizations or CloudFormation.

mod aws;
mod error;
mod inputs;
mod join;
mod progress;
mod prune;
mod render;
mod told;

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_cloudformation::types::CallAs;
use clap::{Parser, Subcommand, ValueEnum};
use registrar::inventory::VendorView;
use registrar::progress::Progress;
use tokio::time::Instant;

use crate::aws::AwsOptions;
use crate::error::AuditError;
use crate::join::{Expected, Inputs, Verdict};
use crate::progress::Indicator;
use crate::render::Header;

const EXIT_CODES: &str = "Exit codes: 0 every line is ok; 1 the audit found something (a line that is not ok, or a \
deletion that failed); 2 the audit could not run (the message says what to do).";

const AUDIT_HELP: &str = "\
Examples:
  registrar audit --stack-set registrar-datadog
  registrar audit --stack-set registrar-datadog --profile management --region eu-west-1
  registrar audit --stack-set registrar-dynatrace --call-as DELEGATED_ADMIN --ou ou-ab12-workloads --format json
  registrar audit --stack-set registrar-datadog --prune-orphans

Verdicts (one line per account):
  ok       registered by Registrar as the StackSet says, its stack instance current (or a closed
           account, or the management account, with nothing registered)
  missing  an active account of the organisation that is not registered
  failed   the stack instance is not CURRENT/SUCCEEDED; the detail is its status reason
  foreign  registered by someone else (no Registrar ownership mark); never touched
  orphan   registered by Registrar, and the account is suspended, closed or no longer in the
           organisation (--prune-orphans deletes these, and only these)
  drift    registered by Registrar, but something differs from the StackSet (each difference named)

AWS: the profile, region and credentials come from the flags, else the SDK's usual chain
(AWS_PROFILE, AWS_REGION, ~/.aws/config and ~/.aws/credentials, SSO, instance metadata).
Every AWS call gives up after 10 s without an answer.

Exit codes: 0 every line is ok; 1 the audit found something (a line that is not ok, or a
deletion that failed); 2 the audit could not run (the message says what to do).";

#[derive(Parser)]
#[command(name = "registrar", version, about = "Registrar's command line for platform engineers.", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The organisation's accounts against the vendor's registrations: one line per account
    /// (ok, missing, failed, foreign, orphan, drift), plus registrations of accounts outside
    /// the organisation.
    #[command(after_help = EXIT_CODES, after_long_help = AUDIT_HELP)]
    Audit(AuditArgs),
}

#[derive(clap::Args)]
struct AuditArgs {
    /// The StackSet that deploys Registrar: its parameters say which vendor, keys, role and
    /// settings every registration should have.
    #[arg(long, value_name = "NAME")]
    stack_set: String,
    /// SELF in the management account, DELEGATED_ADMIN in a delegated administrator account.
    #[arg(long, value_enum, default_value_t = CallAsArg::SelfAccount, value_name = "SELF|DELEGATED_ADMIN")]
    call_as: CallAsArg,
    /// Audit only the accounts under this OU (recursively); repeatable. Default: every account.
    #[arg(long = "ou", value_name = "ID")]
    ous: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Delete Registrar-made registrations of accounts that are closed, suspended or gone
    /// (never anyone else's), after printing the plan.
    #[arg(long)]
    prune_orphans: bool,
    /// Do not ask before pruning (required without a terminal).
    #[arg(long, requires = "prune_orphans")]
    yes: bool,
    /// The secret holding the vendor's keys, instead of the StackSet's SecretArn parameter.
    #[arg(long, value_name = "ARN")]
    secret_arn: Option<String>,
    /// A role to assume before reading the secret, instead of the StackSet's SecretRoleArn.
    #[arg(long, value_name = "ARN")]
    secret_role_arn: Option<String>,
    /// The AWS profile (default: AWS_PROFILE, else the default profile).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// The region of the StackSet (default: AWS_REGION, else the profile's region).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// No colour in the table (also when NO_COLOR is set, or stdout is not a terminal).
    #[arg(long)]
    no_color: bool,
    /// How long the vendor calls may take, retries included, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    vendor_timeout: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum CallAsArg {
    #[value(name = "SELF")]
    SelfAccount,
    #[value(name = "DELEGATED_ADMIN")]
    DelegatedAdmin,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Audit(args) = cli.command;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("registrar: could not start: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(audit(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            Indicator::on_stderr().clear();
            eprintln!("registrar audit: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the audit; `Ok(true)` when every line is ok (after pruning, if asked).
async fn audit(args: AuditArgs) -> Result<bool, AuditError> {
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if args.prune_orphans && !args.yes && !interactive {
        return Err(AuditError::NeedsYes);
    }
    let progress = Indicator::on_stderr();
    let call_as = match args.call_as {
        CallAsArg::SelfAccount => CallAs::SelfValue,
        CallAsArg::DelegatedAdmin => CallAs::DelegatedAdmin,
    };

    progress.show(&format!("reading StackSet {}", args.stack_set));
    let sdk = aws::config(&AwsOptions {
        profile: args.profile.clone(),
        region: args.region.clone(),
    })
    .await?;
    // Organizations answers in one region of the partition, whichever region the client names.
    let cfn_config = aws_sdk_cloudformation::config::Builder::from(&sdk);
    let org_config = aws_sdk_organizations::config::Builder::from(&sdk);
    let cloudformation = aws_sdk_cloudformation::Client::from_conf(cfn_config.build());
    let organizations = aws_sdk_organizations::Client::from_conf(org_config.build());

    let stack_set = inputs::stack_set(&cloudformation, &args.stack_set, &call_as).await?;
    let props = told::properties(
        &stack_set.parameters,
        &[
            ("SecretArn", args.secret_arn.clone()),
            ("SecretRoleArn", args.secret_role_arn.clone()),
        ],
    );
    let vendor = VendorView::new(props.clone()).map_err(AuditError::Parameters)?;
    let secret_arn = told::text(&props, "SecretArn").ok_or(AuditError::NoSecret)?;

    let management = inputs::management_account(&organizations).await?;
    let (accounts, organisation) = inputs::accounts(&organizations, &args.ous, &progress).await?;
    let instances =
        inputs::instances(&cloudformation, &args.stack_set, &call_as, &progress).await?;
    // The home region registers the account: `HomeRegion`, or the StackSet's only region.
    let regions: BTreeSet<&str> = instances.iter().map(|i| i.region.as_str()).collect();
    let home_region = told::text(&props, "HomeRegion").or_else(|| match regions.len() {
        1 => regions.first().map(|r| (*r).to_owned()),
        _ => None,
    });

    progress.show(&format!("reading the {} keys", vendor.display_name()));
    let deadline = Instant::now() + Duration::from_secs(args.vendor_timeout);
    let keys = vendor
        .read_keys(
            &sdk,
            &secret_arn,
            told::text(&props, "SecretRoleArn"),
            deadline,
        )
        .await
        .map_err(AuditError::Keys)?;
    progress.show(&format!(
        "reading {}'s registrations at {}",
        vendor.display_name(),
        vendor.location()
    ));
    let registrations = vendor
        .list_all(&keys, vendor.http(deadline, Progress::default()))
        .await
        .map_err(AuditError::Vendor)?;
    progress.clear();

    let expected = Expected {
        stack_set: args.stack_set.clone(),
        home_region,
        partition: stack_set.partition.clone(),
        role_name: told::text(&props, "RoleName").unwrap_or_default(),
        settings: vendor.managed_settings(),
    };
    let inputs = Inputs {
        accounts,
        organisation,
        instances,
        registrations,
        management,
    };
    let findings = join::audit(&inputs, &expected);

    let location = vendor.location();
    let header = Header {
        stack_set: &args.stack_set,
        vendor: vendor.name(),
        location: &location,
    };
    let stdout = std::io::stdout();
    let colour = !args.no_color
        && stdout.is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut out = stdout.lock();
    if args.format == Format::Table {
        render::table(&mut out, &header, &findings, colour)?;
        out.flush()?;
    }
    let pruned = if args.prune_orphans {
        let confirmed = args.yes;
        Some(
            prune::prune(
                &vendor,
                &keys,
                &findings,
                confirmed,
                Duration::from_secs(args.vendor_timeout),
                args.format == Format::Table,
            )
            .await?,
        )
    } else {
        None
    };
    if args.format == Format::Json {
        render::json(&mut out, &header, &findings, pruned.as_deref())?;
    }
    out.flush()?;
    let resolved = |f: &join::Finding| {
        pruned.as_ref().is_some_and(|pruned| {
            f.registration.as_ref().is_some_and(|r| {
                pruned
                    .iter()
                    .any(|p| p.registration_id == r.id && p.result != "failed")
            })
        })
    };
    Ok(findings
        .iter()
        .all(|f| f.verdict == Verdict::Ok || resolved(f)))
}
