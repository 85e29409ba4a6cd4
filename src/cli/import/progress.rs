//! The progress of an import on stderr: a bar on a terminal (by file bytes, with rows,
//! rows/s, skipped and failed rows and the ETA), otherwise a plain line every five seconds.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// What an import has done so far.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    /// Rows read and dealt with (imported, skipped or failed).
    pub rows: u64,
    pub imported: u64,
    pub skipped: u64,
    pub failed: u64,
}

enum Display {
    Quiet,
    Bar(ProgressBar),
    Plain { next: Instant },
}

/// Shows the progress of an import, and notes about single rows, on stderr.
pub(crate) struct Progress {
    display: Display,
    start: Instant,
    total_bytes: u64,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise; nothing with `quiet`.
    pub(crate) fn new(total_bytes: u64, quiet: bool) -> Progress {
        let start = Instant::now();
        let display = if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total_bytes.max(1));
            if let Ok(style) =
                ProgressStyle::with_template("{bar:24} {percent:>3}% {msg}, ETA {eta}")
            {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            Display::Bar(bar)
        } else {
            Display::Plain {
                next: start + PLAIN_EVERY,
            }
        };
        Progress {
            display,
            start,
            total_bytes,
        }
    }

    /// The time since the import began.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Rows per second so far.
    pub(crate) fn rate(&self, rows: u64) -> f64 {
        rate(rows, self.elapsed())
    }

    /// Shows that `counts` are done, up to `bytes` of the file.
    pub(crate) fn update(&mut self, counts: &Counts, bytes: u64) {
        let rate = self.rate(counts.rows);
        match &mut self.display {
            Display::Quiet => {}
            Display::Bar(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!(
                    "{} rows, {rate:.0}/s, {} skipped, {} failed",
                    counts.rows, counts.skipped, counts.failed
                ));
            }
            Display::Plain { next } => {
                let now = Instant::now();
                if now < *next {
                    return;
                }
                *next = now + PLAIN_EVERY;
                let elapsed = self.start.elapsed();
                let (percent, eta) = if self.total_bytes > 0 && bytes > 0 {
                    let done = bytes as f64 / self.total_bytes as f64;
                    let eta = elapsed.as_secs_f64() * (1.0 - done) / done;
                    (
                        format!(" ({:.0}%)", done * 100.0),
                        format!(", ETA {eta:.0} s"),
                    )
                } else {
                    (String::new(), String::new())
                };
                eprintln!(
                    "customer-store: import: {} rows{percent}, {rate:.0} rows/s, imported {}, \
                     skipped {}, failed {}{eta}",
                    counts.rows, counts.imported, counts.skipped, counts.failed
                );
            }
        }
    }

    /// Prints a line on stderr (above the bar, if there is one).
    pub(crate) fn note(&self, text: &str) {
        match &self.display {
            Display::Quiet => {}
            Display::Bar(bar) => bar.suspend(|| eprintln!("{text}")),
            Display::Plain { .. } => eprintln!("{text}"),
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
    }
}

/// `rows` per second over `elapsed`.
pub(crate) fn rate(rows: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { rows as f64 / secs } else { 0.0 }
}
