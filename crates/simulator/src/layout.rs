//! A plant's layout as plain data: its ISA-95 equipment hierarchy from the enterprise down to the
//! work units, the materials it stocks and the locations it keeps them in, plus the master-data
//! vocabulary every simulated plant shares (defects, failure modes, preventive maintenance
//! plans). The simulator creates its plant's layout through the services' gRPC APIs
//! ([`crate::Plant::set_up`]); `mom bench rebuild` creates a [`Layout::uniform`] one through the
//! services' command handlers. Both take the hierarchy, materials and locations from here, so the
//! two plants are laid out alike.
//!
//! Invariant: data only. No IO, no clock, no proto or service types: each caller maps [`Level`]
//! to its own.

/// The reject reasons of a plant: the characteristics of every inspection plan.
pub const DEFECTS: [&str; 3] = ["burr", "crack", "dimension"];

/// What breaks down on a work unit.
pub const FAILURE_MODES: [&str; 4] = [
    "hydraulic leak",
    "motor overload",
    "sensor failure",
    "die crack",
];

/// The preventive maintenance plans of every work unit: (plan, run hours, description). They are
/// due by run hours, which a plant reports itself (so it learns the work orders they raise and
/// does them in the next break).
pub const PM_PLANS: [(&str, u32, &str); 2] = [
    ("lubrication", 4, "lubricate guides and bearings"),
    (
        "wear-inspection",
        12,
        "inspect wear parts and safety guards",
    ),
];

/// The raw material warehouse, where lots are received.
pub const WAREHOUSE: &str = "WH-RAW";

/// Finished goods: where the output lot of a completed order is booked.
pub const FINISHED_GOODS: &str = "FG";

/// A level of the ISA-95 equipment hierarchy, from the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// The enterprise: the root, without parent.
    Enterprise,
    /// A site of the enterprise.
    Site,
    /// An area of a site.
    Area,
    /// A work center (a line) of an area.
    WorkCenter,
    /// A work unit of a work center.
    WorkUnit,
}

impl Level {
    /// Returns the level of a parent of this level, or `None` for the enterprise.
    pub fn parent(self) -> Option<Level> {
        match self {
            Level::Enterprise => None,
            Level::Site => Some(Level::Enterprise),
            Level::Area => Some(Level::Site),
            Level::WorkCenter => Some(Level::Area),
            Level::WorkUnit => Some(Level::WorkCenter),
        }
    }
}

/// One asset of the hierarchy, as the maintenance service registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// Asset id (also its name).
    pub id: String,
    /// Its level.
    pub level: Level,
    /// Its parent, one level up; `None` for the enterprise.
    pub parent: Option<String>,
}

/// One line (work center) of an area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineLayout {
    /// Work center id.
    pub id: String,
    /// The location its raw material is moved to.
    pub line_side: String,
    /// Its work units.
    pub work_units: Vec<String>,
}

/// One area of the site, with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaLayout {
    /// Area id.
    pub id: String,
    /// Its lines.
    pub lines: Vec<LineLayout>,
}

/// A plant: one enterprise with one site, its areas, lines and work units, and the materials it
/// stocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Enterprise id.
    pub enterprise: String,
    /// Site id.
    pub site: String,
    /// Areas, in order.
    pub areas: Vec<AreaLayout>,
    /// Raw materials the lines consume, without repeats.
    pub raw_materials: Vec<String>,
    /// Products the lines make, without repeats. They are materials too: the output lots of
    /// completed orders are lots of them.
    pub products: Vec<String>,
}

impl Layout {
    /// Returns a plant of `work_units` work units `wu-0000`, `wu-0001`, ... in one area, in lines
    /// `line-00`, `line-01`, ... of `units_per_line` units each (the last one takes the rest),
    /// each with its line side `line-00-side`, ...; no materials yet.
    pub fn uniform(names: UniformNames<'_>, work_units: usize, units_per_line: usize) -> Self {
        let units_per_line = units_per_line.max(1);
        let lines = (0..work_units.div_ceil(units_per_line))
            .map(|line| {
                let id = format!("line-{line:02}");
                let first = line * units_per_line;
                let last = (first + units_per_line).min(work_units);
                LineLayout {
                    line_side: line_side_of(&id),
                    id,
                    work_units: (first..last).map(|unit| format!("wu-{unit:04}")).collect(),
                }
            })
            .collect();
        Layout {
            enterprise: names.enterprise.to_owned(),
            site: names.site.to_owned(),
            areas: vec![AreaLayout {
                id: names.area.to_owned(),
                lines,
            }],
            raw_materials: Vec::new(),
            products: Vec::new(),
        }
    }

    /// Returns every asset with its parent, parents before their children: the enterprise, the
    /// site, each area followed by its lines, then every work unit, line by line.
    pub fn assets(&self) -> Vec<Asset> {
        let asset = |id: &str, level, parent: Option<&str>| Asset {
            id: id.to_owned(),
            level,
            parent: parent.map(str::to_owned),
        };
        let mut assets = vec![
            asset(&self.enterprise, Level::Enterprise, None),
            asset(&self.site, Level::Site, Some(&self.enterprise)),
        ];
        for area in &self.areas {
            assets.push(asset(&area.id, Level::Area, Some(&self.site)));
            for line in &area.lines {
                assets.push(asset(&line.id, Level::WorkCenter, Some(&area.id)));
            }
        }
        for (line, unit) in self.work_units() {
            assets.push(asset(unit, Level::WorkUnit, Some(&line.id)));
        }
        assets
    }

    /// Returns every work unit with its line, line by line.
    pub fn work_units(&self) -> impl Iterator<Item = (&LineLayout, &str)> {
        self.lines().flat_map(|line| {
            line.work_units
                .iter()
                .map(move |unit| (line, unit.as_str()))
        })
    }

    /// Returns every line, area by area.
    pub fn lines(&self) -> impl Iterator<Item = &LineLayout> {
        self.areas.iter().flat_map(|area| area.lines.iter())
    }

    /// Returns the materials to define: the raw materials, then the products.
    pub fn materials(&self) -> impl Iterator<Item = &str> {
        self.raw_materials
            .iter()
            .chain(&self.products)
            .map(String::as_str)
    }

    /// Returns the locations to define: the warehouse, finished goods and every line side.
    pub fn locations(&self) -> impl Iterator<Item = &str> {
        [WAREHOUSE, FINISHED_GOODS]
            .into_iter()
            .chain(self.lines().map(|line| line.line_side.as_str()))
    }
}

/// The names of the top of a [`Layout::uniform`] plant.
#[derive(Debug, Clone, Copy)]
pub struct UniformNames<'a> {
    /// Enterprise id.
    pub enterprise: &'a str,
    /// Site id.
    pub site: &'a str,
    /// The one area's id.
    pub area: &'a str,
}

/// Returns the line-side location of line `line`.
pub fn line_side_of(line: &str) -> String {
    format!("{line}-side")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: UniformNames<'static> = UniformNames {
        enterprise: "e",
        site: "s",
        area: "a",
    };

    #[test]
    fn a_uniform_layout_fills_lines_in_order_and_the_last_takes_the_rest() {
        let layout = Layout::uniform(NAMES, 23, 10);
        let lines: Vec<(&str, usize)> = layout
            .lines()
            .map(|line| (line.id.as_str(), line.work_units.len()))
            .collect();
        assert_eq!(lines, [("line-00", 10), ("line-01", 10), ("line-02", 3)]);
        let units: Vec<(&str, &str)> = layout
            .work_units()
            .map(|(line, unit)| (line.id.as_str(), unit))
            .collect();
        assert_eq!(units.len(), 23);
        assert_eq!(units[0], ("line-00", "wu-0000"));
        assert_eq!(units[10], ("line-01", "wu-0010"));
        assert_eq!(units[22], ("line-02", "wu-0022"));
        let locations: Vec<&str> = layout.locations().collect();
        assert_eq!(
            locations,
            [
                "WH-RAW",
                "FG",
                "line-00-side",
                "line-01-side",
                "line-02-side"
            ]
        );
    }

    #[test]
    fn every_asset_comes_after_its_parent_one_level_up() {
        let layout = Layout::uniform(NAMES, 12, 5);
        let assets = layout.assets();
        assert_eq!(assets.len(), 3 + 3 + 12);
        for (index, asset) in assets.iter().enumerate() {
            match &asset.parent {
                None => assert_eq!(asset.level, Level::Enterprise),
                Some(parent) => {
                    let found = assets[..index].iter().find(|a| &a.id == parent);
                    assert_eq!(
                        found.map(|a| a.level),
                        asset.level.parent(),
                        "{} and its parent {parent}",
                        asset.id
                    );
                }
            }
        }
    }
}
