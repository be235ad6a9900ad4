//! The partitions assigned to this process: one queue of records per partition, in offset
//! order, which the consumer's run loop fills and the partition's worker empties. A queue that
//! grows past [`HIGH_WATER`] asks for its partition to be paused, and to be resumed once drained
//! below [`LOW_WATER`]; a generation number voids the claims on records taken from a queue
//! whose partition was revoked or whose transaction aborted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::TopicPartitionList;
use rdkafka::message::{Message, OwnedMessage};
use tokio::sync::Notify;

/// Queued records at which a partition is paused.
pub const HIGH_WATER: usize = 512;
/// Queued records at which a paused partition is resumed.
pub const LOW_WATER: usize = 64;

/// A partition: topic and number.
pub(crate) type PartitionKey = (String, i32);
/// The queues of the partitions assigned to this process.
pub(crate) type Partitions = Arc<Mutex<HashMap<PartitionKey, Arc<PartitionQueue>>>>;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked must not take the others down with a poisoned lock.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records waiting for one partition's worker, in offset order.
#[derive(Debug)]
pub(crate) struct PartitionQueue {
    topic: String,
    partition: i32,
    state: Mutex<QueueState>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    records: VecDeque<OwnedMessage>,
    paused: bool,
    revoked: bool,
    /// Moves on whenever records taken from this queue can no longer be published: the
    /// partition was revoked, or a transaction holding some of its records aborted.
    generation: u64,
}

impl PartitionQueue {
    pub(crate) fn new(topic: String, partition: i32) -> PartitionQueue {
        PartitionQueue {
            topic,
            partition,
            state: Mutex::new(QueueState::default()),
            notify: Notify::new(),
        }
    }

    pub(crate) fn key(&self) -> PartitionKey {
        (self.topic.clone(), self.partition)
    }

    pub(crate) fn topic_partition_list(&self) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::with_capacity(1);
        tpl.add_partition(&self.topic, self.partition);
        tpl
    }

    /// Appends a record; `true` when the partition should now be paused.
    pub(crate) fn push(&self, record: OwnedMessage) -> bool {
        let pause = {
            let mut state = lock(&self.state);
            if state.revoked {
                return false;
            }
            state.records.push_back(record);
            let pause = !state.paused && state.records.len() >= HIGH_WATER;
            state.paused |= pause;
            pause
        };
        self.notify.notify_one();
        pause
    }

    /// The next record, whether the partition should now be resumed, and the generation the
    /// record was taken in; `None` once revoked.
    pub(crate) async fn pop(&self) -> Option<(OwnedMessage, bool, u64)> {
        loop {
            {
                let mut state = lock(&self.state);
                if state.revoked {
                    return None;
                }
                if let Some(record) = state.records.pop_front() {
                    let resume = state.paused && state.records.len() <= LOW_WATER;
                    state.paused &= !resume;
                    return Some((record, resume, state.generation));
                }
            }
            // `notify_one` keeps a permit when nobody waits, so a push between the check
            // above and this await is not lost.
            self.notify.notified().await;
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        lock(&self.state).generation
    }

    /// Puts records taken earlier back where their offsets belong (before the ones not taken
    /// yet), and voids every claim on records taken so far.
    pub(crate) fn replay(&self, records: Vec<OwnedMessage>) {
        let mut state = lock(&self.state);
        state.generation += 1;
        if state.revoked {
            return;
        }
        for record in records {
            insert_in_order(&mut state.records, record);
        }
        drop(state);
        self.notify.notify_one();
    }

    /// Puts back one record whose claim was voided by a [`replay`](Self::replay).
    pub(crate) fn put_back(&self, record: OwnedMessage) {
        let mut state = lock(&self.state);
        if state.revoked {
            return;
        }
        insert_in_order(&mut state.records, record);
        drop(state);
        self.notify.notify_one();
    }

    pub(crate) fn revoke(&self) {
        let mut state = lock(&self.state);
        state.revoked = true;
        state.generation += 1;
        state.records.clear();
        drop(state);
        self.notify.notify_one();
    }
}

/// Inserts `record` by offset into `records` (kept in offset order); a record already there
/// is not added twice.
fn insert_in_order(records: &mut VecDeque<OwnedMessage>, record: OwnedMessage) {
    match records.binary_search_by_key(&record.offset(), |r| r.offset()) {
        Ok(_) => {}
        Err(at) => records.insert(at, record),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rdkafka::Timestamp;

    use super::*;

    fn record(offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            None,
            None,
            "t".into(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        )
    }

    #[tokio::test]
    async fn a_queue_pauses_when_full_resumes_when_drained_and_keeps_order() {
        let queue = PartitionQueue::new("t".into(), 0);
        let mut paused_at = None;
        for offset in 0..HIGH_WATER as i64 {
            if queue.push(record(offset)) {
                paused_at = Some(offset);
            }
        }
        assert_eq!(paused_at, Some(HIGH_WATER as i64 - 1));
        let mut resumed_at = None;
        for expected in 0..HIGH_WATER as i64 {
            let (r, resume, _) = queue.pop().await.unwrap();
            assert_eq!(r.offset(), expected);
            if resume {
                assert!(resumed_at.is_none(), "resumed once");
                resumed_at = Some(expected);
            }
        }
        assert_eq!(resumed_at, Some(HIGH_WATER as i64 - 1 - LOW_WATER as i64));
    }

    #[tokio::test]
    async fn replayed_and_put_back_records_come_again_in_offset_order() {
        let queue = PartitionQueue::new("t".into(), 0);
        for offset in 0..6 {
            queue.push(record(offset));
        }
        let mut taken = Vec::new();
        for _ in 0..3 {
            taken.push(queue.pop().await.unwrap());
        }
        let (in_hand, _, generation) = queue.pop().await.unwrap();
        assert_eq!(in_hand.offset(), 3);
        assert_eq!(generation, queue.generation());
        // The transaction holding 0..3 aborted: they come first again, and the claim on the
        // record in hand is void.
        queue.replay(taken.into_iter().map(|(r, _, _)| r).collect());
        assert_ne!(generation, queue.generation());
        queue.put_back(in_hand);
        let mut order = Vec::new();
        for _ in 0..6 {
            let (r, _, g) = queue.pop().await.unwrap();
            assert_eq!(g, queue.generation());
            order.push(r.offset());
        }
        assert_eq!(order, [0, 1, 2, 3, 4, 5]);
        // A record already waiting is not queued twice.
        queue.push(record(6));
        queue.put_back(record(6));
        assert_eq!(queue.pop().await.unwrap().0.offset(), 6);
        queue.revoke();
        queue.put_back(record(7));
        assert!(queue.pop().await.is_none());
    }

    #[tokio::test]
    async fn a_revoked_queue_drops_its_records_and_wakes_its_worker() {
        let queue = Arc::new(PartitionQueue::new("t".into(), 0));
        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { queue.pop().await.is_none() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        queue.revoke();
        assert!(waiter.await.unwrap());
        queue.push(record(1));
        assert!(queue.pop().await.is_none());
    }
}
