//! Application Insights: each decision as a request, and metrics of the decisions, the
//! invitation store and the key fetches, sent to the ingestion endpoint of
//! `APPLICATIONINSIGHTS_CONNECTION_STRING` (Azure sets it when Application Insights is enabled for
//! the app).
//!
//! Telemetry never slows or breaks a decision: a call only puts a small record on a bounded
//! queue (when it is full the record is dropped and counted); a task off the request path turns
//! records into OpenTelemetry spans and metrics, which the SDK batches and
//! `opentelemetry-application-insights` sends ([`export`]). Export failures are logged at most
//! once a minute; what is queued is flushed on SIGTERM within the drain deadline. Without the
//! connection string nothing is started and each call costs one atomic load.
//!
//! What is sent is what the decision line says: masked addresses, ids, names of claims. Never an
//! address, a token, a password or a claim's value.

mod export;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

pub use self::export::TelemetryError;
pub use crate::decision_record::DecisionRecord;

/// Records waiting for the worker at most; beyond, they are dropped and counted.
const QUEUE: usize = 8192;
/// At most one log line a minute about dropped records or failed exports.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(60);

/// How an invitation lookup ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupResult {
    Answered,
    Failed,
    Late,
}

impl LookupResult {
    fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Failed => "failed",
            Self::Late => "deadline",
        }
    }
}

enum Record {
    Decision(Box<DecisionRecord>),
    Lookup {
        store: &'static str,
        elapsed: Duration,
        result: LookupResult,
    },
    KeyFetch {
        elapsed: Duration,
        ok: bool,
    },
    /// Everything before this is handed to the SDK; then the SDK exports what it holds.
    Flush(oneshot::Sender<()>),
}

/// The sink every part that reports telemetry is given (like the invitation store): a queue
/// to the exporter, or nothing when telemetry is off. Cloning shares the queue.
#[derive(Clone, Default)]
pub struct Telemetry(Option<Arc<Queue>>);

struct Queue {
    records: mpsc::Sender<Record>,
    dropped: Arc<AtomicU64>,
    /// When a drop was last reported (milliseconds since start-up; 0: never).
    reported: AtomicU64,
    began: Instant,
}

impl Telemetry {
    /// No telemetry: every call costs one branch.
    pub fn off() -> Self {
        Self(None)
    }

    /// Starts exporting to the connection string's endpoint: the settings are checked now, the
    /// exporter (its HTTP client, and with Entra authentication the managed identity's token) is
    /// built in the background, off the listener's path; records wait for it in the queue. Must
    /// run inside the Tokio runtime.
    pub fn start(
        connection_string: &str,
        authentication: Option<&str>,
    ) -> Result<Self, TelemetryError> {
        export::check(connection_string)?;
        if let Some(authentication) = authentication {
            export::identity_of(authentication)?;
        }
        let (telemetry, records) = Self::queue(QUEUE);
        let dropped = telemetry.0.as_ref().map(|queue| queue.dropped.clone());
        let (settings, identity) = (
            connection_string.to_owned(),
            authentication.map(str::to_owned),
        );
        tokio::spawn(async move {
            crate::outbound::load_trust_store().await;
            match export::Pipeline::new(&settings, identity.as_deref()) {
                Ok(pipeline) => work(pipeline, records, dropped.unwrap_or_default()).await,
                Err(error) => {
                    log::error!("{error}; running without telemetry");
                    discard(records).await;
                }
            }
        });
        log::info!(
            "sending decisions and metrics to Application Insights at {}{}",
            export::endpoint_of(connection_string),
            if authentication.is_some() {
                ", authenticated with the managed identity"
            } else {
                ""
            }
        );
        Ok(telemetry)
    }

    /// A sink whose records wait in a queue of `capacity` for the receiver.
    fn queue(capacity: usize) -> (Self, mpsc::Receiver<Record>) {
        let (records, receiver) = mpsc::channel(capacity);
        let queue = Queue {
            records,
            dropped: Arc::new(AtomicU64::new(0)),
            reported: AtomicU64::new(0),
            began: Instant::now(),
        };
        (Self(Some(Arc::new(queue))), receiver)
    }

    /// Whether telemetry is being sent (callers measure only then).
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Queues a decision.
    pub fn decision(&self, record: DecisionRecord) {
        self.send(Record::Decision(Box::new(record)));
    }

    /// Queues an invitation lookup's latency and result.
    pub fn lookup(&self, store: &'static str, elapsed: Duration, result: LookupResult) {
        self.send(Record::Lookup {
            store,
            elapsed,
            result,
        });
    }

    /// Queues a key-set fetch's latency and result.
    pub fn key_fetch(&self, elapsed: Duration, ok: bool) {
        self.send(Record::KeyFetch { elapsed, ok });
    }

    /// Records dropped because the queue was full, since start-up.
    pub fn dropped(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |queue| queue.dropped.load(Ordering::Relaxed))
    }

    fn send(&self, record: Record) {
        if let Some(queue) = &self.0 {
            queue.offer(record);
        }
    }

    /// Hands everything queued to the exporter and waits (at most `deadline`) until it is sent.
    /// Called once the server has stopped taking requests.
    pub async fn flush(&self, deadline: Duration) {
        let Some(queue) = &self.0 else {
            return;
        };
        let (done, finished) = oneshot::channel();
        let flushed = tokio::time::timeout(deadline, async {
            if queue.records.send(Record::Flush(done)).await.is_ok() {
                let _ = finished.await;
            }
        })
        .await;
        match flushed {
            Ok(()) => log::info!("telemetry flushed"),
            Err(_) => log::warn!(
                "telemetry not flushed within {} ms; what was left is lost",
                deadline.as_millis()
            ),
        }
    }
}

/// Whether Application Insights would take the connection string, and where it sends to (the
/// instrumentation key is not part of the answer); starts nothing.
pub fn check_connection_string(
    connection_string: &str,
    authentication: Option<&str>,
) -> Result<String, TelemetryError> {
    export::check(connection_string)?;
    if let Some(authentication) = authentication {
        export::identity_of(authentication)?;
    }
    Ok(export::endpoint_of(connection_string))
}

impl Queue {
    /// Queues a record without waiting; when the queue is full it is dropped and counted, and
    /// said at most once every [`REPORT_EVERY`].
    fn offer(&self, record: Record) {
        if self.records.try_send(record).is_ok() {
            return;
        }
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.began.elapsed().as_millis() as u64 + 1;
        let last = self.reported.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= REPORT_EVERY.as_millis() as u64)
            && self
                .reported
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            log::warn!(
                "telemetry queue full: {dropped} record(s) dropped since start-up (decisions are not affected)"
            );
        }
    }
}

/// The worker: records into spans and metrics, in order.
async fn work(
    pipeline: export::Pipeline,
    mut records: mpsc::Receiver<Record>,
    dropped: Arc<AtomicU64>,
) {
    let pipeline = Arc::new(pipeline);
    while let Some(record) = records.recv().await {
        match record {
            Record::Decision(decision) => pipeline.decision(&decision),
            Record::Lookup {
                store,
                elapsed,
                result,
            } => pipeline.lookup(store, elapsed, result.as_str()),
            Record::KeyFetch { elapsed, ok } => pipeline.key_fetch(elapsed, ok),
            Record::Flush(done) => {
                pipeline.dropped(dropped.load(Ordering::Relaxed));
                // The SDK's flush blocks its caller until the export is done.
                let exporting = pipeline.clone();
                let _ = tokio::task::spawn_blocking(move || exporting.flush()).await;
                let _ = done.send(());
            }
        }
    }
}

/// Without an exporter: records are dropped as they come, and a flush returns at once.
async fn discard(mut records: mpsc::Receiver<Record>) {
    while let Some(record) = records.recv().await {
        if let Record::Flush(done) = record {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full queue never waits: what does not fit is dropped and counted, and said once
    /// within [`REPORT_EVERY`].
    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (telemetry, _records) = Telemetry::queue(2);
        for _ in 0..5 {
            telemetry.key_fetch(Duration::ZERO, true);
        }
        assert_eq!(telemetry.dropped(), 3);
        let queue = telemetry.0.as_ref().unwrap();
        let reported = queue.reported.load(Ordering::Relaxed);
        assert_ne!(reported, 0);
        telemetry.key_fetch(Duration::ZERO, false);
        assert_eq!(telemetry.dropped(), 4);
        // Not said again within the minute.
        assert_eq!(queue.reported.load(Ordering::Relaxed), reported);
    }

    /// Off, nothing is measured or queued.
    #[test]
    fn off_sends_nothing() {
        let telemetry = Telemetry::off();
        assert!(!telemetry.enabled());
        telemetry.key_fetch(Duration::ZERO, true);
        assert_eq!(telemetry.dropped(), 0);
    }

    /// What a part reports reaches the queue in order.
    #[test]
    fn records_reach_the_queue_in_order() {
        let (telemetry, mut records) = Telemetry::queue(4);
        let shared = telemetry.clone();
        telemetry.lookup("file", Duration::from_millis(1), LookupResult::Late);
        shared.key_fetch(Duration::from_millis(2), false);
        assert!(matches!(
            records.try_recv(),
            Ok(Record::Lookup {
                store: "file",
                result: LookupResult::Late,
                ..
            })
        ));
        assert!(matches!(
            records.try_recv(),
            Ok(Record::KeyFetch { ok: false, .. })
        ));
    }
}
