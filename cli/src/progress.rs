//! The progress indicator: one line on stderr, rewritten as pages load, only when stderr is a
//! terminal (never in a pipe, a file or CI's log).

use std::io::{IsTerminal, Write};

/// Where progress goes: a terminal's stderr, or nowhere.
pub struct Indicator {
    shown: bool,
}

impl Indicator {
    /// Shows progress when stderr is a terminal.
    pub fn on_stderr() -> Indicator {
        Indicator {
            shown: std::io::stderr().is_terminal(),
        }
    }

    /// Replaces the line with `text`.
    pub fn show(&self, text: &str) {
        if self.shown {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[K{text}");
            let _ = stderr.flush();
        }
    }

    /// Clears the line.
    pub fn clear(&self) {
        if self.shown {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[K");
            let _ = stderr.flush();
        }
    }
}
