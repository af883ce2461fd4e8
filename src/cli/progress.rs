//! Progress of a long command (`lookout backfill`): a bar redrawn in place on a terminal, plain
//! lines (one per step) otherwise, always on stderr so stdout stays for results.

use std::io::{IsTerminal, Write};

/// Width of the bar in characters.
pub const BAR_WIDTH: usize = 30;

/// Reports `done` out of `total` steps.
#[derive(Debug)]
pub struct Progress {
    total: u64,
    done: u64,
    terminal: bool,
}

impl Progress {
    /// A reporter for `total` steps, drawing a bar when stderr is a terminal.
    pub fn new(total: u64) -> Progress {
        Progress {
            total,
            done: 0,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Starts at `done` steps (resuming).
    pub fn resume_at(&mut self, done: u64) {
        self.done = done.min(self.total);
    }

    /// One more step done; `label` says which.
    pub fn step(&mut self, label: &str) {
        self.done = (self.done + 1).min(self.total);
        let mut stderr = std::io::stderr().lock();
        let written = if self.terminal {
            write!(
                stderr,
                "\r\x1b[2K{}",
                bar_line(self.done, self.total, label)
            )
        } else {
            writeln!(stderr, "{}", plain_line(self.done, self.total, label))
        };
        // Progress is a courtesy: a closed stderr must not stop the work.
        drop(written);
    }

    /// Ends the bar's line on a terminal.
    pub fn finish(&self) {
        if self.terminal {
            drop(writeln!(std::io::stderr()));
        }
    }
}

fn percent(done: u64, total: u64) -> u64 {
    (done * 100).checked_div(total).unwrap_or(100)
}

/// `[#########.....................]  30% 3/10 label`
pub fn bar_line(done: u64, total: u64, label: &str) -> String {
    let filled = usize::try_from(percent(done, total)).unwrap_or(100) * BAR_WIDTH / 100;
    format!(
        "[{}{}] {:>3}% {done}/{total} {label}",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        percent(done, total)
    )
}

/// `backfill: 3/10 (30%) label`
pub fn plain_line(done: u64, total: u64, label: &str) -> String {
    format!(
        "backfill: {done}/{total} ({}%) {label}",
        percent(done, total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_in_proportion() {
        let line = bar_line(3, 10, "r1");
        assert_eq!(
            line,
            format!("[{}{}]  30% 3/10 r1", "#".repeat(9), ".".repeat(21))
        );
        assert!(bar_line(10, 10, "").starts_with(&format!("[{}]", "#".repeat(BAR_WIDTH))));
    }

    #[test]
    fn plain_lines_say_the_count_and_percentage() {
        assert_eq!(
            plain_line(1, 4, "rule r1 chunk"),
            "backfill: 1/4 (25%) rule r1 chunk"
        );
        assert_eq!(plain_line(0, 0, "nothing"), "backfill: 0/0 (100%) nothing");
    }
}
