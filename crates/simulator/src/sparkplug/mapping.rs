//! The edge service's mapping of the simulated plant, from its layout and the state codes.

use super::{COUNTER_METRIC, GROUP, HOST_ID, RECIPE_METRIC, STATE_METRIC};
use crate::signals::{StopReason, RUNNING, SETUP};
use crate::Plant;

impl Plant {
    /// Returns the edge service's mapping file (TOML, docs/edge.md) for this plant's Sparkplug B
    /// edge nodes: per work unit its `State` codes (running, setup, each stop reason), its
    /// `Counter/Total` (32 bits) and its `Recipe`, and its first product as the product assumed
    /// before the first `Recipe` is read.
    pub fn sparkplug_mapping(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# The plant simulator's Sparkplug B edge nodes (mom dev --sim-via), generated from its\n\
             # layout by mom_simulator::Plant::sparkplug_mapping: each line is an edge node of group\n",
        );
        out.push_str(&format!(
            "# {}, each work unit one of its devices. Written again at every start.\n\n",
            quote(GROUP)
        ));
        out.push_str(&format!(
            "[edge]\nhost_id = {}\nmax_clock_skew = \"1m\"\n",
            quote(HOST_ID)
        ));
        let mut codes = format!(
            "codes = [\n  {{ code = {RUNNING}, state = \"running\" }},\n  {{ code = {SETUP}, state = \"setup\" }},\n"
        );
        for reason in StopReason::ALL {
            match reason.text() {
                // The mapping cannot give an empty reason: the edge service reports "stopped".
                "" => codes.push_str(&format!(
                    "  {{ code = {}, state = \"stopped\" }},\n",
                    reason.code()
                )),
                text => codes.push_str(&format!(
                    "  {{ code = {}, state = \"stopped\", reason = {} }},\n",
                    reason.code(),
                    quote(text)
                )),
            }
        }
        codes.push_str("]\n");
        for (line, units) in self.units_by_line() {
            for index in units {
                let unit = &self.units[index];
                let source = |metric: &str| {
                    format!(
                        "sparkplug = {{ group = {}, node = {}, device = {}, metric = {} }}\n",
                        quote(GROUP),
                        quote(line),
                        quote(unit.id),
                        quote(metric)
                    )
                };
                let id = quote(unit.id);
                out.push('\n');
                if let Some(product) = unit.products.first() {
                    out.push_str(&format!(
                        "[[unit]]\nwork_unit = {id}\nproduct = {}\n\n",
                        quote(product.id)
                    ));
                }
                out.push_str(&format!(
                    "[[signal]]\nwork_unit = {id}\nkind = \"state\"\n{}{codes}\n",
                    source(STATE_METRIC)
                ));
                out.push_str(&format!(
                    "[[signal]]\nwork_unit = {id}\nkind = \"count\"\n{}width = 32\n\n",
                    source(COUNTER_METRIC)
                ));
                out.push_str(&format!(
                    "[[signal]]\nwork_unit = {id}\nkind = \"product\"\n{}",
                    source(RECIPE_METRIC)
                ));
            }
        }
        out
    }
}

/// Returns `text` as a TOML basic string.
pub(super) fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
