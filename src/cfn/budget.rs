//! Time: how long the work may run, and when the answer must be delivered.
//!
//! The Lambda runtime reports a deadline (epoch milliseconds). Registrar keeps a reserve before
//! it for delivering the answer, so the work stops early enough to say why. A deadline that is
//! already past, or further away than Lambda's 15-minute maximum allows, is not trusted (local
//! emulators send such values) and the configured fallback budget is used instead.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Lambda's longest timeout, plus slack for clock skew.
const LONGEST_PLAUSIBLE: Duration = Duration::from_secs(15 * 60 + 60);
/// Bounds of the reserve kept for delivering the answer.
const MIN_RESERVE: Duration = Duration::from_millis(500);
const MAX_RESERVE: Duration = Duration::from_secs(8);
/// Margin before the hard deadline by which the answer must be out (a loaded machine may take
/// a while between the last attempt and the kill).
const ANSWER_MARGIN: Duration = Duration::from_millis(500);

/// The time one event may use.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// When the event started.
    pub started: Instant,
    /// When the vendor and AWS calls must have finished.
    pub work_deadline: Instant,
    /// When the answer must have been delivered.
    pub answer_deadline: Instant,
    /// Whether the runtime's deadline was unusable and the fallback budget was used.
    pub fell_back: bool,
}

impl Budget {
    /// Computes the budget from the runtime's deadline (`deadline_ms`, epoch milliseconds).
    pub fn from_deadline(deadline_ms: u64, fallback: Duration) -> Budget {
        let now = SystemTime::now();
        let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
        match deadline.duration_since(now) {
            Ok(remaining) if remaining > MIN_RESERVE * 2 && remaining <= LONGEST_PLAUSIBLE => {
                Budget::lasting(remaining, false)
            }
            _ => Budget::lasting(fallback, true),
        }
    }

    /// A budget of `total` from now.
    pub fn lasting(total: Duration, fell_back: bool) -> Budget {
        let started = Instant::now();
        let reserve = (total / 6).clamp(MIN_RESERVE, MAX_RESERVE).min(total / 2);
        let answer_margin = ANSWER_MARGIN.min(reserve / 2);
        Budget {
            started,
            work_deadline: started + (total - reserve),
            answer_deadline: started + (total - answer_margin),
            fell_back,
        }
    }

    /// Time since the event started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms_in(d: Duration) -> u64 {
        (SystemTime::now() + d)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    #[test]
    fn a_sensible_deadline_is_used_with_a_reserve() {
        let b = Budget::from_deadline(
            epoch_ms_in(Duration::from_secs(300)),
            Duration::from_secs(60),
        );
        assert!(!b.fell_back);
        let work = b.work_deadline - b.started;
        let answer = b.answer_deadline - b.started;
        assert!(
            work > Duration::from_secs(290) && work <= Duration::from_secs(292),
            "{work:?}"
        );
        assert!(answer > work && answer < Duration::from_secs(300));
    }

    #[test]
    fn past_or_absurd_deadlines_fall_back() {
        // cargo-lambda sends 600000: ten minutes after the epoch.
        let past = Budget::from_deadline(600_000, Duration::from_secs(30));
        assert!(past.fell_back);
        assert!(past.work_deadline - past.started <= Duration::from_secs(30));
        let far = Budget::from_deadline(
            epoch_ms_in(Duration::from_secs(3 * 3600)),
            Duration::from_secs(30),
        );
        assert!(far.fell_back);
    }

    #[test]
    fn short_budgets_keep_room_for_the_answer() {
        let b = Budget::lasting(Duration::from_secs(3), false);
        let work = b.work_deadline - b.started;
        assert_eq!(work, Duration::from_millis(2500));
        assert!(b.answer_deadline > b.work_deadline);
    }
}
