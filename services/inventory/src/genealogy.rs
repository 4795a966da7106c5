//! Walking the genealogy of a lot through many levels: backward (which lots went into it, and
//! into those, ...) or forward (which output lots it went into, and those into, ...).
//!
//! Backward edges come from an output lot's own inputs; forward edges from the orders that
//! consumed a lot and the outputs those orders linked with it as an input (aggregate
//! `order_lots`). The walk is breadth first, visits every lot once and stops at a depth limit.
//!
//! Invariant: knows no storage and no gRPC; the caller hands in a [`GenealogySource`].

use std::collections::{BTreeSet, VecDeque};
use std::future::Future;

use crate::domain::{LotId, LotState, OrderId, OrderLotsRules};

/// The deepest walk allowed, in levels.
pub const MAX_DEPTH: u32 = 64;

/// Most lots one walk visits: a lot that went into thousands of others must not make one query
/// read the whole store.
pub const MAX_LOTS: usize = 5_000;

/// Most links one walk returns.
pub const MAX_LINKS: usize = 10_000;

/// The links a walk found, and whether a cap ([`MAX_LOTS`], [`MAX_LINKS`]) stopped it early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    /// The links in breadth-first order.
    pub links: Vec<Link>,
    /// True when the walk stopped at a cap before the depth limit.
    pub truncated: bool,
}

/// Which way to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Toward the inputs: where did this lot come from.
    Backward,
    /// Toward the outputs: where did this lot go.
    Forward,
}

/// One edge: `input` went into `output` in production order `order`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The input lot.
    pub input: LotId,
    /// The output lot.
    pub output: LotId,
    /// The order that made the output, when known.
    pub order: Option<OrderId>,
    /// 1 for the queried lot's own links, 2 for the next level, ...
    pub depth: u32,
}

/// Where the walk reads lots and orders from.
pub(crate) trait GenealogySource {
    /// A failed read.
    type Error;

    /// Returns the lot's state, or `None` when it does not exist.
    fn lot(
        &self,
        lot: &LotId,
    ) -> impl Future<Output = Result<Option<LotState>, Self::Error>> + Send;

    /// Returns the order's lots (empty when it has none).
    fn order_lots(
        &self,
        order: OrderId,
    ) -> impl Future<Output = Result<OrderLotsRules, Self::Error>> + Send;
}

/// Walks the genealogy of `root` in `direction` down to `max_depth` levels and returns its links
/// in breadth-first order, or `None` when `root` does not exist. The walk stops early, and says
/// so, after [`MAX_LOTS`] lots or [`MAX_LINKS`] links.
pub(crate) async fn walk<S: GenealogySource>(
    source: &S,
    root: &LotId,
    direction: Direction,
    max_depth: u32,
) -> Result<Option<Walked>, S::Error> {
    let Some(root_state) = source.lot(root).await? else {
        return Ok(None);
    };
    let mut links = Vec::new();
    let mut visited = BTreeSet::from([root.clone()]);
    let mut queue = VecDeque::from([(root_state, 0u32)]);
    while let Some((state, depth)) = queue.pop_front() {
        if depth >= max_depth {
            continue;
        }
        let next = match direction {
            Direction::Backward => backward(&state, depth + 1),
            Direction::Forward => forward(source, &state, depth + 1).await?,
        };
        for link in next {
            if links.len() >= MAX_LINKS || visited.len() >= MAX_LOTS {
                return Ok(Some(Walked {
                    links,
                    truncated: true,
                }));
            }
            let neighbour = match direction {
                Direction::Backward => link.input.clone(),
                Direction::Forward => link.output.clone(),
            };
            links.push(link);
            if visited.insert(neighbour.clone()) {
                if let Some(state) = source.lot(&neighbour).await? {
                    queue.push_back((state, depth + 1));
                }
            }
        }
    }
    Ok(Some(Walked {
        links,
        truncated: false,
    }))
}

fn backward(state: &LotState, depth: u32) -> Vec<Link> {
    state
        .inputs()
        .iter()
        .map(|input| Link {
            input: input.clone(),
            output: state.id().clone(),
            order: state.produced_by(),
            depth,
        })
        .collect()
}

async fn forward<S: GenealogySource>(
    source: &S,
    state: &LotState,
    depth: u32,
) -> Result<Vec<Link>, S::Error> {
    let mut links = Vec::new();
    for order in state.consumed_by() {
        let lots = source.order_lots(*order).await?;
        for (output, entry) in lots.outputs() {
            if entry.inputs.contains(state.id()) {
                links.push(Link {
                    input: state.id().clone(),
                    output: output.clone(),
                    order: Some(*order),
                    depth,
                });
            }
        }
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;
    use std::convert::Infallible;

    use chrono::{DateTime, TimeZone, Utc};
    use mom_domain::Recorded;
    use uuid::Uuid;

    use super::*;
    use crate::domain::{
        LocationId, Lot, LotEvent, MaterialId, OrderLots, OrderLotsEvent, Quantity, WorkUnitId,
    };

    #[derive(Default)]
    struct Memory {
        lots: BTreeMap<LotId, Lot>,
        orders: BTreeMap<OrderId, OrderLots>,
    }

    impl GenealogySource for Memory {
        type Error = Infallible;

        async fn lot(&self, lot: &LotId) -> Result<Option<LotState>, Infallible> {
            Ok(self
                .lots
                .get(lot)
                .and_then(|lot| lot.state().as_ref().cloned()))
        }

        async fn order_lots(&self, order: OrderId) -> Result<OrderLotsRules, Infallible> {
            Ok(self
                .orders
                .get(&order)
                .map(|lots| lots.state().clone())
                .unwrap_or_default())
        }
    }

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
    }

    fn lot(id: &str) -> LotId {
        LotId::new(id).unwrap()
    }

    fn order(n: u128) -> OrderId {
        OrderId::new(Uuid::from_u128(n))
    }

    impl Memory {
        fn received(&mut self, id: &str) {
            self.apply_lot(LotEvent::LotReceived {
                lot: lot(id),
                material: MaterialId::new("resin").unwrap(),
                supplier_lot: None,
                expiry: None,
                location: LocationId::new("rack").unwrap(),
                quantity: Quantity(100),
                at: t(),
            });
        }

        fn apply_lot(&mut self, event: LotEvent) {
            let id = match &event {
                LotEvent::LotReceived { lot, .. }
                | LotEvent::LotProduced { lot, .. }
                | LotEvent::LotConsumed { lot, .. } => lot.clone(),
                _ => unreachable!("tests only use creations and consumes"),
            };
            self.lots
                .entry(id)
                .or_default()
                .evolve(Recorded::new(event));
        }

        /// Order `n` consumes `inputs` and makes `output` from them.
        fn make(&mut self, n: u128, inputs: &[&str], output: &str) {
            for input in inputs {
                self.apply_lot(LotEvent::LotConsumed {
                    lot: lot(input),
                    material: MaterialId::new("resin").unwrap(),
                    order: order(n),
                    work_unit: WorkUnitId::new("press").unwrap(),
                    location: LocationId::new("rack").unwrap(),
                    quantity: Quantity(1),
                    at: t(),
                });
            }
            let inputs: Vec<LotId> = inputs.iter().map(|id| lot(id)).collect();
            self.apply_lot(LotEvent::LotProduced {
                lot: lot(output),
                material: MaterialId::new("cap").unwrap(),
                order: order(n),
                work_unit: None,
                location: LocationId::new("fg").unwrap(),
                quantity: Quantity(10),
                inputs: inputs.clone(),
                expiry: None,
                at: t(),
            });
            self.orders
                .entry(order(n))
                .or_default()
                .evolve(Recorded::new(OrderLotsEvent::OrderOutputLinked {
                    order: order(n),
                    lot: lot(output),
                    material: MaterialId::new("cap").unwrap(),
                    quantity: Quantity(10),
                    inputs,
                    at: t(),
                }));
        }
    }

    /// resin-1 + resin-2 -> blend-1 (order 1); blend-1 + dye-1 -> cap-1 (order 2);
    /// cap-1 -> pack-1 (order 3).
    fn three_levels() -> Memory {
        let mut memory = Memory::default();
        for id in ["resin-1", "resin-2", "dye-1"] {
            memory.received(id);
        }
        memory.make(1, &["resin-1", "resin-2"], "blend-1");
        memory.make(2, &["blend-1", "dye-1"], "cap-1");
        memory.make(3, &["cap-1"], "pack-1");
        memory
    }

    fn edges(links: &[Link]) -> Vec<(String, String, u32)> {
        links
            .iter()
            .map(|l| (l.input.to_string(), l.output.to_string(), l.depth))
            .collect()
    }

    fn run(memory: &Memory, root: &str, direction: Direction, depth: u32) -> Option<Vec<Link>> {
        let walked = block_on(walk(memory, &lot(root), direction, depth)).unwrap()?;
        assert!(!walked.truncated);
        Some(walked.links)
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn e(input: &str, output: &str, depth: u32) -> (String, String, u32) {
        (input.to_owned(), output.to_owned(), depth)
    }

    #[test]
    fn backward_walk_finds_every_ancestor_level_by_level() {
        let links = run(&three_levels(), "pack-1", Direction::Backward, MAX_DEPTH).unwrap();
        assert_eq!(
            edges(&links),
            vec![
                e("cap-1", "pack-1", 1),
                e("blend-1", "cap-1", 2),
                e("dye-1", "cap-1", 2),
                e("resin-1", "blend-1", 3),
                e("resin-2", "blend-1", 3),
            ]
        );
        assert_eq!(links[0].order, Some(order(3)));
    }

    #[test]
    fn forward_walk_finds_every_descendant() {
        let links = run(&three_levels(), "resin-2", Direction::Forward, MAX_DEPTH).unwrap();
        assert_eq!(
            edges(&links),
            vec![
                e("resin-2", "blend-1", 1),
                e("blend-1", "cap-1", 2),
                e("cap-1", "pack-1", 3),
            ]
        );
    }

    #[test]
    fn walk_stops_at_the_depth_limit() {
        let links = run(&three_levels(), "pack-1", Direction::Backward, 2).unwrap();
        assert_eq!(links.len(), 3);
    }

    #[test]
    fn received_lot_has_no_ancestors_and_unknown_lot_is_none() {
        let memory = three_levels();
        assert_eq!(
            run(&memory, "dye-1", Direction::Backward, MAX_DEPTH),
            Some(vec![])
        );
        assert_eq!(run(&memory, "nope", Direction::Forward, MAX_DEPTH), None);
    }

    #[test]
    fn a_lot_reached_twice_is_walked_once() {
        let mut memory = Memory::default();
        memory.received("a");
        memory.make(1, &["a"], "b");
        memory.make(2, &["a", "b"], "c");
        let links = run(&memory, "c", Direction::Backward, MAX_DEPTH).unwrap();
        assert_eq!(
            edges(&links),
            vec![e("a", "c", 1), e("b", "c", 1), e("a", "b", 2)]
        );
    }

    #[test]
    fn a_walk_through_a_lot_made_of_thousands_stops_at_the_cap_and_says_so() {
        let mut memory = Memory::default();
        let inputs: Vec<String> = (0..MAX_LOTS + 10).map(|n| format!("resin-{n}")).collect();
        for input in &inputs {
            memory.received(input);
        }
        let names: Vec<&str> = inputs.iter().map(String::as_str).collect();
        memory.make(1, &names, "blend-1");
        let walked = block_on(walk(
            &memory,
            &lot("blend-1"),
            Direction::Backward,
            MAX_DEPTH,
        ))
        .unwrap()
        .unwrap();
        assert!(walked.truncated);
        assert_eq!(walked.links.len(), MAX_LOTS - 1);
    }
}
