//! Logs: JSON lines on stdout, at the level of `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (INFO by
//! default).
//!
//! Whatever level is asked for, the HTTP, TLS and runtime crates stay at INFO: at TRACE the
//! Lambda runtime logs the raw event (with the ResponseURL's signature) and the HTTP stack
//! logs wire details. Registrar's own lines never carry keys or the ResponseURL's query.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::util::SubscriberInitExt;

/// Crates whose verbose logs could carry request details.
const QUIET: &str = "lambda_runtime=info,lambda_runtime_api_client=info,hyper=info,hyper_util=info,h2=info,reqwest=info,rustls=info,aws_smithy_runtime=info,aws_smithy_http_client=info,aws_smithy_runtime_api=info,aws_config=info,aws_sdk_secretsmanager=info,aws_sdk_sts=info,aws_sdk_iam=info";

/// The filter directives for the given level settings.
pub(crate) fn directives(lambda_level: Option<&str>, rust_log: Option<&str>) -> String {
    let level = match lambda_level.map(str::to_ascii_lowercase).as_deref() {
        Some("fatal") => "error".to_owned(),
        Some(level @ ("trace" | "debug" | "info" | "warn" | "error")) => level.to_owned(),
        _ => rust_log
            .filter(|l| !l.trim().is_empty())
            .unwrap_or("info")
            .to_owned(),
    };
    format!("{level},{QUIET}")
}

/// Installs the JSON subscriber, writing to stdout.
pub fn init() {
    let lambda_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    subscriber(
        lambda_level.as_deref(),
        rust_log.as_deref(),
        std::io::stdout,
    )
    .init();
}

/// The subscriber `bootstrap` logs with: JSON lines at the level the settings ask for, written
/// to `writer`.
pub fn subscriber<W>(
    lambda_level: Option<&str>,
    rust_log: Option<&str>,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(directives(lambda_level, rust_log))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{QUIET}")));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_level_wins_and_noisy_crates_stay_quiet() {
        assert!(directives(Some("DEBUG"), Some("trace")).starts_with("debug,"));
        assert!(directives(Some("FATAL"), None).starts_with("error,"));
        assert!(directives(None, Some("trace")).starts_with("trace,"));
        assert!(directives(None, None).starts_with("info,"));
        assert!(directives(None, Some("trace")).contains("lambda_runtime=info"));
    }
}
