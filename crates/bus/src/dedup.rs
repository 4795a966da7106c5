//! Bounded memory of recently seen event ids.

use std::collections::{HashSet, VecDeque};

use uuid::Uuid;

/// The last `capacity` event ids seen; redeliveries from the relay (at-least-once) and from
/// consumer rebalances arrive close to the original, so a bounded window catches them. Read models
/// that must be exact across restarts also keep a checkpoint in their own transaction.
#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    order: VecDeque<Uuid>,
    seen: HashSet<Uuid>,
}

impl RecentIds {
    /// Returns an empty window of `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            order: VecDeque::with_capacity(capacity),
            seen: HashSet::with_capacity(capacity),
        }
    }

    /// Returns whether `id` was seen recently.
    pub fn contains(&self, id: &Uuid) -> bool {
        self.seen.contains(id)
    }

    /// Remembers `id`, forgetting the oldest one when full.
    pub fn insert(&mut self, id: Uuid) {
        if !self.seen.insert(id) {
            return;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_up_to_capacity_and_forgets_the_oldest() {
        let mut ids = RecentIds::new(2);
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        ids.insert(a);
        ids.insert(b);
        ids.insert(b);
        assert!(ids.contains(&a) && ids.contains(&b));
        ids.insert(c);
        assert!(!ids.contains(&a));
        assert!(ids.contains(&b) && ids.contains(&c));
    }
}
