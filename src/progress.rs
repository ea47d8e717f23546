//! Progress bars on standard error, and only where someone is watching.
//!
//! Standard output carries results (a digest, a JSON report) and must stay clean for
//! pipes; bars go to standard error, and only when it is a terminal and `-q` was not
//! given. Everywhere else (CI logs, redirected output, tests) every bar is hidden, so
//! code can report progress unconditionally without checking who is listening.

use std::borrow::Cow;
use std::fmt;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A handle on the terminal's progress area; cheap to clone and share across tasks.
#[derive(Clone)]
pub struct Progress {
    /// `None` when progress is hidden.
    multi: Option<MultiProgress>,
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("visible", &self.is_visible())
            .finish()
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::hidden()
    }
}

impl Progress {
    /// Bars on standard error when it is a terminal and `quiet` is false.
    pub fn for_stderr(quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        Progress {
            multi: Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// No output at all.
    pub fn hidden() -> Self {
        Progress { multi: None }
    }

    pub fn is_visible(&self) -> bool {
        self.multi.is_some()
    }

    /// A bar counting bytes, e.g. one download. `total` is the expected size, when
    /// known; without it the bar shows bytes and speed only.
    pub fn bytes(&self, label: impl Into<Cow<'static, str>>, total: Option<u64>) -> Bar {
        self.add(
            label,
            total,
            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            "{spinner} {prefix:.bold} {bytes} {bytes_per_sec}",
        )
    }

    /// A bar counting items, e.g. files of a lock.
    pub fn items(&self, label: impl Into<Cow<'static, str>>, total: u64) -> Bar {
        self.add(
            label,
            Some(total),
            "{prefix:.bold} [{bar:30}] {pos}/{len} {msg}",
            "{spinner} {prefix:.bold} {pos} {msg}",
        )
    }

    fn add(
        &self,
        label: impl Into<Cow<'static, str>>,
        total: Option<u64>,
        bar_template: &str,
        spinner_template: &str,
    ) -> Bar {
        let Some(multi) = &self.multi else {
            return Bar {
                bar: ProgressBar::hidden(),
            };
        };
        let (bar, template) = match total {
            Some(total) => (ProgressBar::new(total), bar_template),
            None => (ProgressBar::no_length(), spinner_template),
        };
        let style = ProgressStyle::with_template(template)
            .expect("progress templates are valid")
            .progress_chars("=> ");
        let bar = multi.add(bar.with_style(style).with_prefix(label));
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Bar { bar }
    }
}

/// One bar. It disappears when dropped, finished or not: finished work needs no bar, and
/// an error message reads better without a frozen bar above it.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn inc(&self, delta: u64) {
        self.bar.inc(delta);
    }

    pub fn set_position(&self, position: u64) {
        self.bar.set_position(position);
    }

    pub fn set_length(&self, length: u64) {
        self.bar.set_length(length);
    }

    pub fn set_message(&self, message: impl Into<Cow<'static, str>>) {
        self.bar.set_message(message);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_progress_draws_nothing_and_accepts_everything() {
        let progress = Progress::hidden();
        assert!(!progress.is_visible());
        let bar = progress.bytes("x.deb", Some(10));
        bar.inc(5);
        bar.set_length(20);
        bar.set_message("half");
    }

    #[test]
    fn quiet_hides_progress() {
        assert!(!Progress::for_stderr(true).is_visible());
    }
}
