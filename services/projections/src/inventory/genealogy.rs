//! Walking the genealogy graph breadth first through many levels: backward (the lots that went
//! into a lot, and into those, ...) or forward (the lots it went into, and those into, ...).
//!
//! Each lot is expanded once, so a diamond (two inputs made from the same lot) or a bad cycle in
//! the data cannot loop; every edge out of an expanded lot is reported once, at the depth of the
//! lot it leaves plus one.

use std::collections::BTreeSet;

/// The deepest walk allowed, in levels (as the inventory service's `GetGenealogy`).
pub const MAX_DEPTH: u32 = 64;

/// Which way to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Toward the inputs.
    Backward,
    /// Toward the outputs.
    Forward,
}

impl Direction {
    /// Returns the direction named `name` (`backward` or `forward`).
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "backward" => Some(Self::Backward),
            "forward" => Some(Self::Forward),
            _ => None,
        }
    }

    /// Returns its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Backward => "backward",
            Self::Forward => "forward",
        }
    }
}

/// One edge: `input` went into `output` in production order `order_id`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Edge {
    /// The input lot.
    pub input_lot: String,
    /// The output lot.
    pub output_lot: String,
    /// The order that made the output (empty when not known).
    pub order_id: String,
}

/// An edge found by the walk, with its level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The edge.
    pub edge: Edge,
    /// 1 for the root's own edges, 2 for the next level, ...
    pub depth: u32,
}

/// The state of a breadth-first walk: the caller asks for the next level's lots, reads their
/// edges and hands them back, until [`Walk::frontier`] is empty.
#[derive(Debug)]
pub struct Walk {
    direction: Direction,
    max_depth: u32,
    depth: u32,
    frontier: Vec<String>,
    visited: BTreeSet<String>,
    order: Vec<String>,
    links: Vec<Link>,
}

impl Walk {
    /// Starts a walk at `root`, at most `max_depth` levels deep.
    pub fn new(root: &str, direction: Direction, max_depth: u32) -> Self {
        Self {
            direction,
            max_depth,
            depth: 0,
            frontier: vec![root.to_owned()],
            visited: BTreeSet::from([root.to_owned()]),
            order: vec![root.to_owned()],
            links: Vec::new(),
        }
    }

    /// Returns the lots whose edges the next level needs (empty when the walk is over).
    pub fn frontier(&self) -> &[String] {
        if self.depth >= self.max_depth {
            &[]
        } else {
            &self.frontier
        }
    }

    /// Takes the edges of the frontier's lots (in the walk's direction: edges whose output is a
    /// frontier lot when walking backward, whose input is when walking forward), ordered by
    /// frontier lot, and moves one level on.
    pub fn step(&mut self, edges: Vec<Edge>) {
        self.depth += 1;
        let mut next = Vec::new();
        for edge in edges {
            let far = match self.direction {
                Direction::Backward => &edge.input_lot,
                Direction::Forward => &edge.output_lot,
            };
            if self.visited.insert(far.clone()) {
                self.order.push(far.clone());
                next.push(far.clone());
            }
            self.links.push(Link {
                edge,
                depth: self.depth,
            });
        }
        self.frontier = next;
    }

    /// Returns the links found, breadth first, and every lot named, root first.
    pub fn finish(self) -> (Vec<Link>, Vec<String>) {
        (self.links, self.order)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn edge(input: &str, output: &str) -> Edge {
        Edge {
            input_lot: input.into(),
            output_lot: output.into(),
            order_id: format!("order-{output}"),
        }
    }

    /// Runs a walk over an in-memory graph.
    fn walk(
        edges: &[Edge],
        root: &str,
        direction: Direction,
        depth: u32,
    ) -> (Vec<Link>, Vec<String>) {
        let mut by_lot: BTreeMap<&str, Vec<Edge>> = BTreeMap::new();
        for e in edges {
            let key = match direction {
                Direction::Backward => e.output_lot.as_str(),
                Direction::Forward => e.input_lot.as_str(),
            };
            by_lot.entry(key).or_default().push(e.clone());
        }
        let mut walk = Walk::new(root, direction, depth);
        while !walk.frontier().is_empty() {
            let level: Vec<Edge> = walk
                .frontier()
                .iter()
                .flat_map(|lot| by_lot.get(lot.as_str()).cloned().unwrap_or_default())
                .collect();
            walk.step(level);
        }
        walk.finish()
    }

    /// steel → blank → bracket → assembly → pallet, with a second input (bolt) at the assembly.
    fn chain() -> Vec<Edge> {
        vec![
            edge("steel", "blank"),
            edge("blank", "bracket"),
            edge("bracket", "assembly"),
            edge("bolt", "assembly"),
            edge("assembly", "pallet"),
        ]
    }

    #[test]
    fn backward_walks_every_level_to_the_raw_material() {
        let (links, lots) = walk(&chain(), "pallet", Direction::Backward, MAX_DEPTH);
        let depths: Vec<(&str, u32)> = links
            .iter()
            .map(|l| (l.edge.input_lot.as_str(), l.depth))
            .collect();
        assert_eq!(
            depths,
            [
                ("assembly", 1),
                ("bracket", 2),
                ("bolt", 2),
                ("blank", 3),
                ("steel", 4)
            ]
        );
        assert_eq!(
            lots,
            ["pallet", "assembly", "bracket", "bolt", "blank", "steel"]
        );
    }

    #[test]
    fn forward_walks_from_a_raw_lot_to_every_product_it_went_into() {
        let (links, lots) = walk(&chain(), "steel", Direction::Forward, MAX_DEPTH);
        assert_eq!(links.len(), 4);
        assert_eq!(links.last().map(|l| l.depth), Some(4));
        assert_eq!(lots, ["steel", "blank", "bracket", "assembly", "pallet"]);
    }

    #[test]
    fn depth_limits_the_levels_walked() {
        let (links, lots) = walk(&chain(), "pallet", Direction::Backward, 2);
        assert_eq!(links.len(), 3);
        assert_eq!(lots, ["pallet", "assembly", "bracket", "bolt"]);
    }

    #[test]
    fn a_diamond_is_expanded_once_and_a_cycle_ends() {
        let diamond = vec![
            edge("coil", "left"),
            edge("coil", "right"),
            edge("left", "kit"),
            edge("right", "kit"),
        ];
        let (links, lots) = walk(&diamond, "kit", Direction::Backward, MAX_DEPTH);
        assert_eq!(links.len(), 4, "both edges into coil are reported");
        assert_eq!(lots, ["kit", "left", "right", "coil"]);
        let cycle = vec![edge("a", "b"), edge("b", "a")];
        let (links, lots) = walk(&cycle, "a", Direction::Forward, MAX_DEPTH);
        assert_eq!(links.len(), 2);
        assert_eq!(lots, ["a", "b"]);
    }
}
