//! Exponential backoff with jitter, shared by every retry loop.
//!
//! Randomness comes from the standard library's per-process random hash keys, which is plenty
//! for spreading retries and needs no extra crate.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Delays that double from `base` up to `cap`, each drawn from the upper half of its window
/// ("equal jitter"), so retries spread out but never collapse to zero.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The delay before the next retry.
    pub fn next_delay(&mut self) -> Duration {
        let window = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.cap);
        self.attempt += 1;
        window / 2 + random_up_to(window / 2)
    }
}

/// A uniformly random duration in `[0, max]`.
pub fn random_up_to(max: Duration) -> Duration {
    let nanos = max.as_nanos().min(u64::MAX as u128) as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(random_u64() % (nanos + 1))
}

fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_their_windows_and_stop_at_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let windows = [100, 200, 400, 800, 1000, 1000];
        for window in windows {
            let d = b.next_delay();
            let w = Duration::from_millis(window);
            assert!(d >= w / 2 && d <= w, "{d:?} outside [{:?}, {w:?}]", w / 2);
        }
    }

    #[test]
    fn random_durations_stay_in_range_and_vary() {
        let max = Duration::from_millis(10);
        let draws: Vec<_> = (0..64).map(|_| random_up_to(max)).collect();
        assert!(draws.iter().all(|d| *d <= max));
        assert!(draws.iter().any(|d| *d != draws[0]));
        assert_eq!(random_up_to(Duration::ZERO), Duration::ZERO);
    }
}
