//! Progress of a long command (`lookout backfill`): a bar redrawn in place on a terminal, plain
//! lines otherwise (the first step, then each tenth of the way, and the last step: at most 12
//! lines however many steps), always on stderr so stdout stays for results.

use std::io::{IsTerminal, Write};

/// Width of the bar in characters.
pub const BAR_WIDTH: usize = 30;

/// Reports `done` out of `total` steps.
#[derive(Debug)]
pub struct Progress {
    total: u64,
    done: u64,
    terminal: bool,
    /// The step of the last plain line, `None` before the first.
    printed: Option<u64>,
}

impl Progress {
    /// A reporter for `total` steps, drawing a bar when stderr is a terminal.
    pub fn new(total: u64) -> Progress {
        Progress {
            total,
            done: 0,
            terminal: std::io::stderr().is_terminal(),
            printed: None,
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
        } else if self.plain_due() {
            self.printed = Some(self.done);
            writeln!(stderr, "{}", plain_line(self.done, self.total, label))
        } else {
            Ok(())
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

impl Progress {
    /// Whether the step just done gets a plain line: the first one (so a log shows the work
    /// started), the last one, and each one that enters a new tenth of the total.
    fn plain_due(&self) -> bool {
        match self.printed {
            None => true,
            Some(_) if self.done == self.total => true,
            Some(printed) => {
                percent(self.done, self.total) / 10 > percent(printed, self.total) / 10
            }
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

    /// The steps that get a plain line when `total` steps run from `resumed`.
    fn plain_steps(total: u64, resumed: u64) -> Vec<u64> {
        let mut progress = Progress {
            total,
            done: 0,
            terminal: false,
            printed: None,
        };
        progress.resume_at(resumed);
        let mut printed = Vec::new();
        while progress.done < total {
            progress.done += 1;
            if progress.plain_due() {
                progress.printed = Some(progress.done);
                printed.push(progress.done);
            }
        }
        printed
    }

    #[test]
    fn off_a_terminal_a_long_run_prints_the_first_step_each_tenth_and_the_last() {
        // Four hours of 5-minute chunks for six rules: 288 steps, 11 lines.
        let steps = plain_steps(288, 0);
        assert_eq!(steps.len(), 11, "{steps:?}");
        assert_eq!(steps.first(), Some(&1));
        assert_eq!(steps.last(), Some(&288));
        assert!(steps.windows(2).all(|w| w[1] - w[0] <= 29), "{steps:?}");
        // A short run prints every step.
        assert_eq!(plain_steps(3, 0), vec![1, 2, 3]);
        // A resumed run starts with its first new step.
        assert_eq!(plain_steps(100, 95), vec![96, 100]);
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
