//! The guard: whatever the work does (return, fail, panic or overrun), it becomes exactly one
//! [`Outcome`] before the work deadline.
//!
//! The work runs as its own task so a panic is caught at the join, and it is raced against the
//! [`Budget`]'s work deadline. The work's [`Progress`] says what it was waiting for, so an
//! answer sent at the deadline says what took the time.

use std::any::Any;
use std::future::Future;

use super::budget::Budget;
use super::response::Outcome;
use crate::progress::Progress;

/// Runs `work` under the budget. `fallback_id` gives the PhysicalResourceId to answer with when
/// the work panics or overruns (the incoming one, or a marker on Create that depends on whether
/// the vendor may have acted: see [`Progress::may_have_changed_something`]).
pub async fn run<F>(
    work: F,
    budget: &Budget,
    progress: &Progress,
    fallback_id: impl FnOnce(&Progress) -> String,
) -> Outcome
where
    F: Future<Output = Outcome> + Send + 'static,
{
    let task = tokio::spawn(work);
    let abort = task.abort_handle();
    match tokio::time::timeout_at(budget.work_deadline, task).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join_error)) => {
            let cause = if join_error.is_panic() {
                panic_message(join_error.into_panic())
            } else {
                "the work was cancelled".to_owned()
            };
            tracing::error!(panic = %cause, doing = %progress.get(), "the work panicked");
            Outcome::failed(
                fallback_id(progress),
                format!(
                    "Registrar hit an internal error while {} ({cause}). This is a bug in Registrar, not in your stack; retrying the stack operation is safe, and the function's log has the details.",
                    progress.get()
                ),
            )
        }
        Err(_deadline) => {
            abort.abort();
            let doing = progress.get();
            tracing::error!(doing = %doing, elapsed_ms = budget.elapsed().as_millis() as u64, "the work ran out of time");
            Outcome::failed(
                fallback_id(progress),
                format!(
                    "Registrar stopped after {:.1} s, before the function's timeout, while {doing}. Retrying the stack operation is safe; if this keeps happening, check the vendor's status page and the function's log.",
                    budget.elapsed().as_secs_f64()
                ),
            )
        }
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfn::response::Status;
    use std::time::Duration;

    #[tokio::test]
    async fn a_finished_outcome_passes_through() {
        let budget = Budget::lasting(Duration::from_secs(5), false);
        let outcome = run(
            async { Outcome::success("id", Default::default()) },
            &budget,
            &Progress::default(),
            |_: &Progress| "fallback".to_owned(),
        )
        .await;
        assert_eq!(outcome.status, Status::Success);
        assert_eq!(outcome.physical_resource_id, "id");
    }

    #[tokio::test]
    async fn a_panic_becomes_a_failed_outcome() {
        let budget = Budget::lasting(Duration::from_secs(5), false);
        let progress = Progress::default();
        progress.set("reading the secret");
        let outcome = run(
            async { panic!("boom") },
            &budget,
            &progress,
            |_: &Progress| "fallback".to_owned(),
        )
        .await;
        assert_eq!(outcome.status, Status::Failed);
        assert_eq!(outcome.physical_resource_id, "fallback");
        let reason = outcome.reason.unwrap();
        assert!(
            reason.contains("boom") && reason.contains("reading the secret"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn an_overrun_fails_before_the_deadline_and_says_what_it_waited_for() {
        let budget = Budget::lasting(Duration::from_secs(2), false);
        let progress = Progress::default();
        progress.set("waiting for Datadog");
        let started = std::time::Instant::now();
        let outcome = run(
            std::future::pending(),
            &budget,
            &progress,
            |_: &Progress| "fallback".to_owned(),
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(outcome.status, Status::Failed);
        assert!(outcome.reason.unwrap().contains("waiting for Datadog"));
    }

    #[tokio::test]
    async fn the_fallback_id_knows_whether_the_vendor_may_have_acted() {
        let budget = Budget::lasting(Duration::from_secs(5), false);
        let choose = |p: &Progress| {
            if p.may_have_changed_something() {
                "unconfirmed"
            } else {
                "failed"
            }
            .to_owned()
        };
        let progress = Progress::default();
        let outcome = run(
            async { panic!("before any call") },
            &budget,
            &progress,
            choose,
        )
        .await;
        assert_eq!(outcome.physical_resource_id, "failed");
        let progress = Progress::default();
        let sent = progress.clone();
        let outcome = run(
            async move {
                sent.sent_a_change();
                panic!("after a POST")
            },
            &budget,
            &progress,
            choose,
        )
        .await;
        assert_eq!(outcome.physical_resource_id, "unconfirmed");
    }
}
