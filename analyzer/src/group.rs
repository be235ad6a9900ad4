//! This process's share of the consumer group: the partitions assigned to it and, per
//! partition, the committed offset, the high watermark and the lag between them (the records
//! the group has not settled yet), for `GET /stats` and the `messaging.kafka.consumer.lag`
//! gauge.
//!
//! The high watermarks come from librdkafka's statistics (`statistics.interval.ms`); the
//! committed offsets from the same statistics (what the consumer fetched at assignment or
//! committed itself) and, with exactly-once, from the transactions this process committed,
//! which the consumer does not see.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use opentelemetry::KeyValue;
use opentelemetry::metrics::ObservableGauge;
use rdkafka::TopicPartitionList;
use rdkafka::statistics::Statistics;
use serde::Serialize;

use crate::partition::PartitionKey;
use crate::settle::Settle;
use telemetry::attribute::{
    MESSAGING_CONSUMER_GROUP_NAME, MESSAGING_DESTINATION_NAME, MESSAGING_DESTINATION_PARTITION_ID,
    MESSAGING_SYSTEM,
};

/// One assigned partition and how far behind the group is on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// The group's committed offset (the next record to process), if known.
    pub committed: Option<i64>,
    /// The partition's high watermark (the offset the next record written will get), if known.
    pub high_watermark: Option<i64>,
    /// Records between the committed offset (or, with none committed, the log start) and the
    /// high watermark.
    pub lag: Option<i64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Offsets {
    committed: Option<i64>,
    low: Option<i64>,
    high: Option<i64>,
}

/// The assigned partitions and their offsets.
#[derive(Debug)]
pub(crate) struct GroupView {
    partitions: Mutex<BTreeMap<PartitionKey, Offsets>>,
    settle: Option<Arc<Settle>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// librdkafka's "no offset" values are negative.
fn known(offset: i64) -> Option<i64> {
    (offset >= 0).then_some(offset)
}

/// `topic[0,1,2] other[3]`, for the rebalance log lines.
pub(crate) fn describe(tpl: &TopicPartitionList) -> String {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for element in tpl.elements() {
        by_topic
            .entry(element.topic().to_owned())
            .or_default()
            .push(element.partition());
    }
    by_topic
        .into_iter()
        .map(|(topic, mut partitions)| {
            partitions.sort_unstable();
            let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
            format!("{topic}[{}]", list.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl GroupView {
    /// `settle` is the transactional producer, with exactly-once.
    pub(crate) fn new(settle: Option<Arc<Settle>>) -> GroupView {
        GroupView {
            partitions: Mutex::default(),
            settle,
        }
    }

    pub(crate) fn assigned(&self, tpl: &TopicPartitionList) {
        let mut partitions = lock(&self.partitions);
        for element in tpl.elements() {
            partitions
                .entry((element.topic().to_owned(), element.partition()))
                .or_default();
        }
    }

    pub(crate) fn revoked(&self, tpl: &TopicPartitionList) {
        let mut partitions = lock(&self.partitions);
        for element in tpl.elements() {
            partitions.remove(&(element.topic().to_owned(), element.partition()));
        }
    }

    /// Takes the offsets of the assigned partitions from librdkafka's statistics.
    pub(crate) fn update(&self, statistics: &Statistics) {
        let mut partitions = lock(&self.partitions);
        for ((topic, partition), offsets) in partitions.iter_mut() {
            let Some(stats) = statistics
                .topics
                .get(topic)
                .and_then(|t| t.partitions.get(partition))
            else {
                continue;
            };
            offsets.high = known(stats.hi_offset).or(offsets.high);
            offsets.low = known(stats.lo_offset).or(offsets.low);
            if let Some(committed) = known(stats.committed_offset) {
                offsets.committed = Some(offsets.committed.map_or(committed, |c| c.max(committed)));
            }
        }
    }

    /// The assigned partitions, in order, with their lag.
    pub(crate) fn snapshot(&self) -> Vec<PartitionLag> {
        let settled = self
            .settle
            .as_ref()
            .map(|s| s.committed())
            .unwrap_or_default();
        lock(&self.partitions)
            .iter()
            .map(|(key, offsets)| {
                let committed = match (offsets.committed, settled.get(key).copied()) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                let lag = offsets
                    .high
                    .zip(committed.or(offsets.low))
                    .map(|(high, from)| (high - from).max(0));
                PartitionLag {
                    topic: key.0.clone(),
                    partition: key.1,
                    committed,
                    high_watermark: offsets.high,
                    lag,
                }
            })
            .collect()
    }

    /// Reports each assigned partition's lag as the gauge `messaging.kafka.consumer.lag`
    /// through the global meter provider, for as long as the returned gauge and this view live.
    pub(crate) fn register_lag_gauge(self: &Arc<Self>, group: &str) -> ObservableGauge<i64> {
        let view: Weak<GroupView> = Arc::downgrade(self);
        let group = group.to_owned();
        opentelemetry::global::meter(crate::SCOPE)
            .i64_observable_gauge("messaging.kafka.consumer.lag")
            .with_unit("{message}")
            .with_description(
                "Records of a partition between the group's committed offset and the high watermark",
            )
            .with_callback(move |observer| {
                let Some(view) = view.upgrade() else { return };
                for partition in view.snapshot() {
                    let Some(lag) = partition.lag else { continue };
                    observer.observe(
                        lag,
                        &[
                            KeyValue::new(MESSAGING_SYSTEM, "kafka"),
                            KeyValue::new(MESSAGING_DESTINATION_NAME, partition.topic),
                            KeyValue::new(
                                MESSAGING_DESTINATION_PARTITION_ID,
                                partition.partition.to_string(),
                            ),
                            KeyValue::new(MESSAGING_CONSUMER_GROUP_NAME, group.clone()),
                        ],
                    );
                }
            })
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_described_by_topic() {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("b", 2);
        tpl.add_partition("a", 1);
        tpl.add_partition("b", 0);
        assert_eq!(describe(&tpl), "a[1] b[0,2]");
        assert_eq!(describe(&TopicPartitionList::new()), "");
    }

    #[test]
    fn lag_runs_from_the_committed_offset_or_the_log_start() {
        let view = GroupView::new(None);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("t", 0);
        tpl.add_partition("t", 1);
        view.assigned(&tpl);
        {
            let mut partitions = lock(&view.partitions);
            *partitions.get_mut(&("t".into(), 0)).unwrap() = Offsets {
                committed: Some(40),
                low: Some(0),
                high: Some(100),
            };
            *partitions.get_mut(&("t".into(), 1)).unwrap() = Offsets {
                committed: None,
                low: Some(10),
                high: Some(25),
            };
        }
        let lags: Vec<_> = view.snapshot().into_iter().map(|p| p.lag).collect();
        assert_eq!(lags, [Some(60), Some(15)]);
        let mut one = TopicPartitionList::new();
        one.add_partition("t", 0);
        view.revoked(&one);
        assert_eq!(view.snapshot().len(), 1);
    }
}
