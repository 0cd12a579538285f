//! Progress bars and terminal output in one place, so commands stay about
//! what they do and `--quiet` silences everything but results.
use indicatif::{ProgressBar, ProgressStyle};

/// How the commands talk to the terminal.
pub struct Ui {
    quiet: bool,
}

impl Ui {
    pub fn new(quiet: bool) -> Self {
        Ui { quiet }
    }

    /// A bar of `len` steps with a message slot; hidden with `--quiet`.
    pub fn bar(&self, len: u64, prefix: &str) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(len);
        pb.set_style(
            ProgressStyle::with_template("{prefix:>12} [{elapsed_precise}] {bar:30} {pos}/{len} (eta {eta}) {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_prefix(prefix.to_string());
        pb
    }

    /// A line above `bar`; printed plainly when the bar is not drawn
    /// (stderr is not a terminal), so logs keep it. Hidden with `--quiet`.
    pub fn line(&self, bar: &ProgressBar, msg: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        if bar.is_hidden() {
            eprintln!("{}", msg.as_ref());
        } else {
            bar.println(msg.as_ref());
        }
    }

    /// A status line on stderr (hidden with `--quiet`).
    pub fn status(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }
}
