//! Walking the genealogy graph breadth first through many levels: backward (the lots that went
//! into a lot, and into those, ...) or forward (the lots it went into, and those into, ...).
//!
//! Each lot is expanded once, so a diamond (two inputs made from the same lot) or a bad cycle in
//! the data cannot loop; every edge out of an expanded lot is reported once, at the depth of the
//! lot it leaves plus one.
//!
//! A walk is bounded in breadth as well as depth: it names at most [`MAX_LOTS`] lots and reports
//! at most [`MAX_LINKS`] links; when a cap stops it, [`Walk::truncated`] says so (a lot that went
//! into a whole year's output must not make one request read the whole table).

use std::collections::BTreeSet;

/// The deepest walk allowed, in levels (as the inventory service's `GetGenealogy`).
pub const MAX_DEPTH: u32 = 64;

/// The most lots a walk names (the root included).
pub const MAX_LOTS: usize = 5_000;

/// The most links a walk reports.
pub const MAX_LINKS: usize = 10_000;

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
    max_lots: usize,
    max_links: usize,
    truncated: bool,
}

impl Walk {
    /// Starts a walk at `root`, at most `max_depth` levels deep, [`MAX_LOTS`] lots and
    /// [`MAX_LINKS`] links.
    pub fn new(root: &str, direction: Direction, max_depth: u32) -> Self {
        Self::with_caps(root, direction, max_depth, MAX_LOTS, MAX_LINKS)
    }

    /// Starts a walk with other caps on lots and links.
    pub fn with_caps(
        root: &str,
        direction: Direction,
        max_depth: u32,
        max_lots: usize,
        max_links: usize,
    ) -> Self {
        Self {
            direction,
            max_depth,
            depth: 0,
            frontier: vec![root.to_owned()],
            visited: BTreeSet::from([root.to_owned()]),
            order: vec![root.to_owned()],
            links: Vec::new(),
            max_lots,
            max_links,
            truncated: false,
        }
    }

    /// Returns the lots whose edges the next level needs (empty when the walk is over).
    pub fn frontier(&self) -> &[String] {
        if self.depth >= self.max_depth || self.truncated {
            &[]
        } else {
            &self.frontier
        }
    }

    /// Returns how many more links the walk reports: reading one edge more than this for a
    /// level is enough to know it is truncated.
    pub fn link_budget(&self) -> usize {
        self.max_links.saturating_sub(self.links.len())
    }

    /// Returns whether a cap stopped the walk before its depth.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Takes the edges of the frontier's lots (in the walk's direction: edges whose output is a
    /// frontier lot when walking backward, whose input is when walking forward), ordered by
    /// frontier lot, and moves one level on; an edge beyond a cap is dropped and ends the walk.
    pub fn step(&mut self, edges: Vec<Edge>) {
        self.depth += 1;
        let mut next = Vec::new();
        for edge in edges {
            if self.links.len() >= self.max_links {
                self.truncated = true;
                break;
            }
            let far = match self.direction {
                Direction::Backward => &edge.input_lot,
                Direction::Forward => &edge.output_lot,
            };
            if !self.visited.contains(far) && self.order.len() >= self.max_lots {
                self.truncated = true;
                continue;
            }
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
        let (links, lots, _) = walk_capped(edges, root, direction, depth, MAX_LOTS, MAX_LINKS);
        (links, lots)
    }

    /// Runs a walk with caps, returning whether it was truncated too.
    fn walk_capped(
        edges: &[Edge],
        root: &str,
        direction: Direction,
        depth: u32,
        max_lots: usize,
        max_links: usize,
    ) -> (Vec<Link>, Vec<String>, bool) {
        let mut by_lot: BTreeMap<&str, Vec<Edge>> = BTreeMap::new();
        for e in edges {
            let key = match direction {
                Direction::Backward => e.output_lot.as_str(),
                Direction::Forward => e.input_lot.as_str(),
            };
            by_lot.entry(key).or_default().push(e.clone());
        }
        let mut walk = Walk::with_caps(root, direction, depth, max_lots, max_links);
        while !walk.frontier().is_empty() {
            let level: Vec<Edge> = walk
                .frontier()
                .iter()
                .flat_map(|lot| by_lot.get(lot.as_str()).cloned().unwrap_or_default())
                .collect();
            walk.step(level);
        }
        let truncated = walk.truncated();
        let (links, lots) = walk.finish();
        (links, lots, truncated)
    }

    #[test]
    fn a_wide_graph_stops_at_the_caps_and_says_so() {
        let fan: Vec<Edge> = (0..50)
            .map(|i| edge("coil", &format!("part-{i:02}")))
            .chain((0..50).map(|i| edge(&format!("part-{i:02}"), "kit")))
            .collect();
        let (links, lots, truncated) =
            walk_capped(&fan, "coil", Direction::Forward, MAX_DEPTH, 10, 1_000);
        assert!(truncated);
        assert_eq!(lots.len(), 10, "{lots:?}");
        assert_eq!(links.len(), 9, "only links to listed lots");
        let (links, lots, truncated) =
            walk_capped(&fan, "coil", Direction::Forward, MAX_DEPTH, 1_000, 60);
        assert!(truncated);
        assert_eq!(links.len(), 60);
        assert!(lots.len() <= 61);
        let (links, _, truncated) =
            walk_capped(&fan, "coil", Direction::Forward, MAX_DEPTH, 1_000, 1_000);
        assert!(!truncated);
        assert_eq!(links.len(), 100);
        let (_, _, truncated) = walk_capped(&fan, "coil", Direction::Forward, 1, 1_000, 1_000);
        assert!(!truncated, "the requested depth is not a truncation");
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
