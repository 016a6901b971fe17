//! Logs for the Functions host: it files our stdout as Information and our stderr as Error, so
//! records are split by level (warnings and errors to stderr, the rest to stdout). `RUST_LOG`
//! filters as usual; the default is `info`.
//!
//! The server logs one information line per request. Those lines are collected in memory and
//! written to stdout every [`FLUSH_INTERVAL`] (or when [`BATCH_BYTES`] have gathered), so a
//! request does not pay for a `write` system call of its own; warnings and errors are written at
//! once. [`flush`], called before the process exits, writes what is left.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use env_logger::{Builder, Logger, Target};
use log::{LevelFilter, Log, Metadata, Record};

/// Longest an information line waits before it reaches stdout.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Lines gathered past this size are written at once.
const BATCH_BYTES: usize = 64 * 1024;

/// Information lines not yet written to stdout.
#[derive(Clone, Default)]
struct Batch(Arc<Mutex<Vec<u8>>>);

impl Batch {
    /// Writes what has gathered to `out`, swapping it with `spare` (emptied, capacity kept) so
    /// that the two buffers take turns instead of being allocated anew.
    fn write_to(&self, spare: &mut Vec<u8>, out: &mut impl Write) {
        std::mem::swap(
            &mut *self.0.lock().unwrap_or_else(PoisonError::into_inner),
            spare,
        );
        if !spare.is_empty() {
            let _ = out.write_all(spare);
            let _ = out.flush();
            spare.clear();
        }
    }
}

impl Write for Batch {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        lines.extend_from_slice(buf);
        if lines.len() >= BATCH_BYTES {
            let mut out = io::stdout().lock();
            let _ = out.write_all(&lines);
            let _ = out.flush();
            lines.clear();
        }
        Ok(buf.len())
    }

    /// env_logger flushes after every record; the batch is written by time instead.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Two env_logger instances with the same filter, one per stream.
struct SplitLogger {
    stdout: Logger,
    stderr: Logger,
    /// The information lines' batch, when they are batched.
    batch: Option<Batch>,
}

impl Log for SplitLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.stdout.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if record.level() <= log::Level::Warn {
            self.stderr.log(record);
        } else {
            self.stdout.log(record);
        }
    }

    fn flush(&self) {
        self.stdout.flush();
        self.stderr.flush();
        if let Some(batch) = &self.batch {
            batch.write_to(&mut Vec::new(), &mut io::stdout().lock());
        }
    }
}

/// Writes every log line gathered so far (before the process exits).
pub fn flush() {
    log::logger().flush();
}

/// Where log records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The server: information to stdout, warnings and errors to stderr, `info` by default.
    Host,
    /// A CLI command, whose stdout is its answer: everything to stderr, `warn` by default.
    Command,
}

/// Installs the logger; `filter` is the `RUST_LOG` value, if any. Calling it twice is harmless.
pub fn init(filter: Option<&str>, destination: Destination) {
    let (default_level, information) = match destination {
        Destination::Host => (LevelFilter::Info, Target::Stdout),
        Destination::Command => (LevelFilter::Warn, Target::Stderr),
    };
    let build = |target: Target| {
        let mut builder = Builder::new();
        builder.filter_level(default_level);
        if let Some(filter) = filter {
            builder.parse_filters(filter);
        }
        builder.target(target).format_timestamp_millis().build()
    };
    let (information, batch) = match information {
        Target::Stdout => {
            let batch = Batch::default();
            let writer = batch.clone();
            let flusher = std::thread::Builder::new()
                .name("log-flush".to_owned())
                .spawn(move || {
                    let mut spare = Vec::with_capacity(BATCH_BYTES);
                    loop {
                        std::thread::sleep(FLUSH_INTERVAL);
                        writer.write_to(&mut spare, &mut io::stdout().lock());
                    }
                });
            match flusher {
                Ok(_) => (Target::Pipe(Box::new(batch.clone())), Some(batch)),
                Err(_) => (Target::Stdout, None),
            }
        }
        other => (other, None),
    };
    let logger = SplitLogger {
        stdout: build(information),
        stderr: build(Target::Stderr),
        batch,
    };
    let max_level = logger.stdout.filter();
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max_level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_hands_over_its_lines_in_order_once() {
        let mut batch = Batch::default();
        for i in 0..100 {
            writeln!(batch, "line {i}").unwrap();
            batch.flush().unwrap();
        }
        let (mut spare, mut out) = (Vec::new(), Vec::new());
        batch.write_to(&mut spare, &mut out);
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert!(spare.is_empty() && spare.capacity() > 0);
        let mut again = Vec::new();
        batch.write_to(&mut spare, &mut again);
        assert!(again.is_empty());
    }
}
