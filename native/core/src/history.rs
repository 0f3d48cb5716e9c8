//! Event-time histories (`duanka/detector/core/history.py`): records kept sorted by event
//! time, queried by half-open windows.

/// A record of one event: its event time (epoch ms), event id and producer.
pub trait Timed {
    fn at(&self) -> i64;
    fn event_id(&self) -> &str;
    fn source(&self) -> &str;
}

/// Records of one kind for one subject, ordered by event time.
#[derive(Clone, Debug, PartialEq)]
pub struct History<R> {
    pub records: Vec<R>,
}

impl<R> Default for History<R> {
    fn default() -> Self {
        History {
            records: Vec::new(),
        }
    }
}

impl<R: Timed> History<R> {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Where a record at `at` goes: after every record at the same or an earlier time.
    fn after(&self, at: i64) -> usize {
        self.records.partition_point(|r| r.at() <= at)
    }

    /// Insert after every record at the same or an earlier time.
    pub fn add(&mut self, record: R) {
        let index = self.after(record.at());
        self.records.insert(index, record);
    }

    /// Whether this producer's event is already recorded (a re-delivery).
    pub fn has(&self, source: &str, event_id: &str) -> bool {
        self.records
            .iter()
            .any(|r| r.event_id() == event_id && r.source() == source)
    }

    /// Records in the half-open event-time interval (start, end].
    pub fn within(&self, start: i64, end: i64) -> &[R] {
        let (lo, hi) = (self.after(start), self.after(end));
        self.records.get(lo..hi.max(lo)).unwrap_or_default()
    }

    /// The newest record at or before `at`.
    pub fn latest_at_or_before(&self, at: i64) -> Option<&R> {
        self.after(at)
            .checked_sub(1)
            .and_then(|i| self.records.get(i))
    }

    /// Drop records at or before `horizon`, if there are any.
    pub fn forget_before(&mut self, horizon: i64) {
        if self.records.first().is_some_and(|r| r.at() <= horizon) {
            let end = self.after(horizon);
            self.records.drain(..end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Record(i64, &'static str);

    impl Timed for Record {
        fn at(&self) -> i64 {
            self.0
        }
        fn event_id(&self) -> &str {
            self.1
        }
        fn source(&self) -> &str {
            "s"
        }
    }

    #[test]
    fn windows_are_half_open_and_ties_keep_arrival_order() {
        let mut history = History::default();
        for record in [
            Record(5, "b"),
            Record(1, "a"),
            Record(5, "c"),
            Record(9, "d"),
        ] {
            history.add(record);
        }
        let ids: Vec<&str> = history.records.iter().map(|r| r.1).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(history.within(1, 5).len(), 2);
        assert_eq!(history.within(5, 1).len(), 0);
        assert!(history.has("s", "c") && !history.has("t", "c"));
        history.forget_before(5);
        assert_eq!(history.records, [Record(9, "d")]);
    }
}
