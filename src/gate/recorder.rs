//! Sign-up records written on invitations after a decision: in the background, bounded, and
//! drained when the process stops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::domain::invitation::InvitationKey;
use crate::invitations::InvitationStore;

/// How long one sign-up record may take (read and conditional write together).
pub(crate) const RECORD_DEADLINE: Duration = Duration::from_secs(5);
/// Records written at once; beyond this (a store that hangs), new ones are logged and dropped,
/// so that they cannot pile up connections and starve the decisions.
pub(crate) const MAX_RECORDS_IN_FLIGHT: usize = 64;

/// Writes sign-up records in the background: the answer does not wait for them, a failed write
/// is logged without changing the decision, at most [`MAX_RECORDS_IN_FLIGHT`] run at once, each
/// within [`RECORD_DEADLINE`], and [`Self::drain`] lets those in flight finish before the
/// process stops (scale-in and redeploys send SIGTERM while they run).
pub(crate) struct SignUpRecorder {
    store: Arc<dyn InvitationStore>,
    slots: Arc<Semaphore>,
    /// Masked address and correlation id of each record in flight, to name those a stop cut off.
    pending: Arc<Mutex<HashMap<u64, String>>>,
    next: AtomicU64,
}

impl SignUpRecorder {
    pub(crate) fn new(store: Arc<dyn InvitationStore>) -> Self {
        Self {
            store,
            slots: Arc::new(Semaphore::new(MAX_RECORDS_IN_FLIGHT)),
            pending: Arc::default(),
            next: AtomicU64::new(0),
        }
    }

    /// Starts recording the sign-up with the invitation at `key` (to `application`), if the
    /// store records any; `whose` names it in log lines (a masked address, or the id of a code
    /// invitation).
    pub(crate) fn record(
        &self,
        key: &InvitationKey,
        whose: String,
        application: Option<&str>,
        correlation_id: &str,
    ) {
        if !self.store.records_sign_ups() {
            return;
        }
        let correlation_id = correlation_id.to_owned();
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            log::error!(
                "the sign-up of {} is not recorded: {MAX_RECORDS_IN_FLIGHT} records are being written already \
                 (the invitation store is slow or not answering); correlation_id={correlation_id}",
                whose
            );
            return;
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let pending = self.pending.clone();
        pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, format!("{} (correlation_id={correlation_id})", whose));
        let store = self.store.clone();
        let (key, application) = (key.clone(), application.map(str::to_owned));
        tokio::spawn(async move {
            let written = tokio::time::timeout(
                RECORD_DEADLINE,
                store.record_sign_up(&key, application.as_deref(), RECORD_DEADLINE),
            )
            .await;
            let failure = match written {
                Ok(Ok(())) => {
                    log::debug!(
                        "the sign-up of {} is on record; correlation_id={correlation_id}",
                        whose
                    );
                    None
                }
                Ok(Err(error)) => Some(error.to_string()),
                Err(_) => Some(format!(
                    "no answer within {} ms",
                    RECORD_DEADLINE.as_millis()
                )),
            };
            if let Some(failure) = failure {
                log::error!(
                    "could not record the sign-up of {} on its invitation: {failure}; correlation_id={correlation_id}",
                    whose
                );
            }
            pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            drop(slot);
        });
    }

    /// Waits (at most `deadline`) for the records in flight; names those still unwritten.
    pub(crate) async fn drain(&self, deadline: Duration) {
        let all = u32::try_from(MAX_RECORDS_IN_FLIGHT).unwrap_or(u32::MAX);
        if tokio::time::timeout(deadline, self.slots.acquire_many(all))
            .await
            .is_ok()
        {
            return;
        }
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let mut left: Vec<&String> = pending.values().collect();
        left.sort();
        log::error!(
            "stopping with {} sign-up record(s) not written: {}",
            left.len(),
            left.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use futures_util::future::BoxFuture;

    use super::*;
    use crate::domain::email::EmailAddress;
    use crate::domain::invitation::Invitation;
    use crate::invitations::StoreError;

    /// A store whose records take `record` to write (forever: `None`).
    struct SlowRecords {
        record: Option<Duration>,
    }

    impl InvitationStore for SlowRecords {
        fn find<'a>(
            &'a self,
            _: &'a EmailAddress,
        ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
            Box::pin(std::future::ready(Ok(None)))
        }

        fn records_sign_ups(&self) -> bool {
            true
        }

        fn record_sign_up<'a>(
            &'a self,
            _: &'a InvitationKey,
            _: Option<&'a str>,
            _: Duration,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async move {
                match self.record {
                    Some(time) => tokio::time::sleep(time).await,
                    None => std::future::pending().await,
                }
                Ok(())
            })
        }
    }

    fn pending(recorder: &SignUpRecorder) -> usize {
        recorder.pending.lock().unwrap().len()
    }

    #[tokio::test(start_paused = true)]
    async fn records_are_drained_within_the_deadline_and_bounded_in_number() {
        let email = EmailAddress::parse("ada@contoso.com").unwrap();
        let key = InvitationKey::Email(email.clone());
        let whose = || email.masked().to_string();
        let slow = SignUpRecorder::new(Arc::new(SlowRecords {
            record: Some(Duration::from_secs(2)),
        }));
        slow.record(&key, whose(), None, "test");
        assert_eq!(pending(&slow), 1);
        slow.drain(Duration::from_secs(3)).await;
        assert_eq!(pending(&slow), 0, "drained: the record was written");

        let hung = SignUpRecorder::new(Arc::new(SlowRecords { record: None }));
        for _ in 0..MAX_RECORDS_IN_FLIGHT + 10 {
            hung.record(&key, whose(), None, "test");
        }
        assert_eq!(
            pending(&hung),
            MAX_RECORDS_IN_FLIGHT,
            "the rest were dropped"
        );
        let started = tokio::time::Instant::now();
        hung.drain(Duration::from_millis(100)).await;
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        assert_eq!(
            pending(&hung),
            MAX_RECORDS_IN_FLIGHT,
            "named in the log, still unwritten"
        );
        // Each gives up at its own deadline.
        tokio::time::sleep(RECORD_DEADLINE).await;
        hung.drain(Duration::from_millis(100)).await;
        assert_eq!(pending(&hung), 0);
    }
}
