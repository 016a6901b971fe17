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

use crate::printable::Escaping;

/// Longest an information line waits before it reaches stdout.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Lines gathered past this size are written at once.
const BATCH_BYTES: usize = 64 * 1024;

/// Information lines not yet written, and where they go.
///
/// Two locks, always taken in this order: `out` (held while a batch is written, so batches
/// reach the output in order), then `lines` (held only to add a line or to swap the buffers).
/// A thread never waits for `out` while holding `lines`.
#[derive(Clone)]
struct Batch {
    lines: Arc<Mutex<Vec<u8>>>,
    out: Arc<Mutex<Output>>,
}

/// Where batches go, and the buffer that takes turns with the batch's: the lines gathered are
/// swapped into it and written from it, so the two buffers keep their capacity instead of being
/// allocated anew for every batch.
struct Output {
    writer: Box<dyn Write + Send>,
    spare: Vec<u8>,
}

impl Batch {
    fn new(writer: Box<dyn Write + Send>) -> Self {
        Self {
            lines: Arc::new(Mutex::new(Vec::with_capacity(BATCH_BYTES))),
            out: Arc::new(Mutex::new(Output {
                writer,
                spare: Vec::with_capacity(BATCH_BYTES),
            })),
        }
    }

    /// Writes what has gathered.
    fn write_out(&self) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let Output { writer, spare } = &mut *out;
        std::mem::swap(
            &mut *self.lines.lock().unwrap_or_else(PoisonError::into_inner),
            spare,
        );
        if !spare.is_empty() {
            let _ = writer.write_all(spare);
            let _ = writer.flush();
            spare.clear();
        }
    }
}

impl Write for Batch {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let full = {
            let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
            lines.extend_from_slice(buf);
            lines.len() >= BATCH_BYTES
        };
        if full {
            self.write_out();
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
            batch.write_out();
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

/// One record as env_logger's default format writes it (`[<time> <LEVEL> <target>] <message>`),
/// with everything in the message that is not printable escaped: a value from a caller or a
/// file must not forge a line (a newline) or reorder what the reader sees (U+202E).
fn write_line(out: &mut env_logger::fmt::Formatter, record: &Record<'_>) -> io::Result<()> {
    // The level padded to five, as `{:<5}` would, without formatting it on every line.
    let level = match record.level() {
        log::Level::Error => "ERROR",
        log::Level::Warn => "WARN ",
        log::Level::Info => "INFO ",
        log::Level::Debug => "DEBUG",
        log::Level::Trace => "TRACE",
    };
    write!(
        out,
        "[{} {level} {}] ",
        out.timestamp_millis(),
        record.target()
    )?;
    let mut message = Escaping(FmtToIo {
        out: &mut *out,
        error: None,
    });
    if std::fmt::write(&mut message, *record.args()).is_err() {
        return Err(message
            .0
            .error
            .unwrap_or_else(|| io::Error::other("a log message could not be formatted")));
    }
    out.write_all(b"\n")
}

/// `fmt::Write` over an `io::Write`, keeping the I/O error that `fmt::Error` cannot carry.
struct FmtToIo<'a, W: Write> {
    out: &'a mut W,
    error: Option<io::Error>,
}

impl<W: Write> std::fmt::Write for FmtToIo<'_, W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.out.write_all(text.as_bytes()).map_err(|error| {
            self.error = Some(error);
            std::fmt::Error
        })
    }
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
        // The telemetry SDK's own notes (providers built and dropped) are not the operator's
        // business unless asked for by name; its warnings and errors are.
        builder.filter_module("opentelemetry_sdk", LevelFilter::Warn.min(default_level));
        builder.filter_module("opentelemetry", LevelFilter::Warn.min(default_level));
        if let Some(filter) = filter {
            builder.parse_filters(filter);
        }
        builder.target(target).format(write_line).build()
    };
    let (information, batch) = match information {
        Target::Stdout => {
            let batch = Batch::new(Box::new(io::stdout()));
            let writer = batch.clone();
            let flusher = std::thread::Builder::new()
                .name("log-flush".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(FLUSH_INTERVAL);
                        writer.write_out();
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

    /// A batch over a shared buffer (slow to write to, as a pipe can be), and that buffer.
    fn batch() -> (Batch, Arc<Mutex<Vec<u8>>>) {
        #[derive(Clone, Default)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                std::thread::sleep(Duration::from_micros(50));
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let shared = Shared::default();
        (Batch::new(Box::new(shared.clone())), shared.0)
    }

    #[test]
    fn a_batch_hands_over_its_lines_in_order_once() {
        let (mut batch, out) = batch();
        for i in 0..100 {
            writeln!(batch, "line {i}").unwrap();
            batch.flush().unwrap();
        }
        batch.write_out();
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(
            String::from_utf8(out.lock().unwrap().clone()).unwrap(),
            expected
        );
        {
            let spare = &batch.out.lock().unwrap().spare;
            assert!(spare.is_empty() && spare.capacity() > 0);
        }
        batch.write_out();
        assert_eq!(out.lock().unwrap().len(), expected.len());
    }

    /// A full batch is written at once, and the lines after it gather in a buffer that is
    /// already the batch's size.
    #[test]
    fn a_full_batch_goes_out_and_the_next_starts_at_full_size() {
        let (mut batch, out) = batch();
        let line = [b'x'; 1000];
        while out.lock().unwrap().is_empty() {
            batch.write_all(&line).unwrap();
        }
        assert!(out.lock().unwrap().len() >= BATCH_BYTES);
        batch.write_all(&line).unwrap();
        let lines = batch.lines.lock().unwrap();
        assert_eq!(lines.len(), line.len());
        assert!(lines.capacity() >= BATCH_BYTES);
    }

    /// Writers that fill the batch past its size while the flusher runs: every line arrives
    /// once, each writer's lines in order, and nobody waits forever (the writers once took the
    /// two locks in the opposite order from the flusher and the server stopped answering).
    #[test]
    fn full_batches_and_the_flusher_never_wait_for_each_other() {
        let (batch, out) = batch();
        let (done, finished) = std::sync::mpsc::channel();
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let mut batch = batch.clone();
                let done = done.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        // One write per line, as env_logger hands over a formatted record.
                        let line = format!("writer {writer} line {i:05} {}\n", "x".repeat(40));
                        batch.write_all(line.as_bytes()).unwrap();
                    }
                    done.send(()).unwrap();
                })
            })
            .collect();
        let flusher = {
            let batch = batch.clone();
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    batch.write_out();
                    std::thread::yield_now();
                }
            })
        };
        for _ in &writers {
            finished
                .recv_timeout(Duration::from_secs(30))
                .expect("a writer is stuck: the batch's locks wait for each other");
        }
        writers
            .into_iter()
            .for_each(|writer| writer.join().unwrap());
        flusher.join().unwrap();
        batch.write_out();
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        for writer in 0..4 {
            let prefix = format!("writer {writer} line ");
            let numbers: Vec<usize> = text
                .lines()
                .filter_map(|line| line.strip_prefix(&prefix))
                .map(|rest| rest[..5].parse().unwrap())
                .collect();
            assert_eq!(numbers, (0..20_000).collect::<Vec<_>>(), "writer {writer}");
        }
    }
}
