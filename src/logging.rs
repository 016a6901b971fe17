//! Logs for the Functions host: it files our stdout as Information and our stderr as Error, so
//! records are split by level (warnings and errors to stderr, the rest to stdout). `RUST_LOG`
//! filters as usual; the default is `info`.

use env_logger::{Builder, Logger, Target};
use log::{LevelFilter, Log, Metadata, Record};

/// Two env_logger instances with the same filter, one per stream.
struct SplitLogger {
    stdout: Logger,
    stderr: Logger,
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
    }
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
    let logger = SplitLogger {
        stdout: build(information),
        stderr: build(Target::Stderr),
    };
    let max_level = logger.stdout.filter();
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max_level);
    }
}
