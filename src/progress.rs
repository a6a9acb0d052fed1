//! What the work of an event is doing right now, for the answer sent when it cannot finish.
//!
//! The vendor calls ([`crate::http`]), the secret reads ([`crate::secrets`]) and the IAM writes
//! record each step here; the guard ([`crate::cfn::guard`]) reads it when the work panics or
//! runs out of time, and the fallback PhysicalResourceId depends on whether anything that
//! changes state was sent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What the work is doing right now, in words for the person reading the stack's events, and
/// whether it has sent the vendor anything that changes state.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    doing: Arc<Mutex<String>>,
    changed_something: Arc<AtomicBool>,
}

impl Progress {
    pub fn set(&self, doing: impl Into<String>) {
        *self
            .doing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = doing.into();
    }

    /// Records that a call that may change the vendor's state has been sent.
    pub(crate) fn sent_a_change(&self) {
        self.changed_something.store(true, Ordering::SeqCst);
    }

    /// Whether the vendor may have acted on something this event sent.
    pub(crate) fn may_have_changed_something(&self) -> bool {
        self.changed_something.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self) -> String {
        let doing = self
            .doing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if doing.is_empty() {
            "starting".to_owned()
        } else {
            doing
        }
    }
}
