//! The eight Nelson rules over one chart part.
//!
//! A rule *completes* at a point when the pattern holds over the window of points ending there;
//! every completing point is one violation (a longer run completes again at each further point).
//! Windows only cover consecutive points that have a value and limits from the same limit
//! segment. For rules 5 and 6 the completing point must itself be one of the points beyond the
//! zone (so "beyond, beyond, inside" completes at the second point only).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::limits::PartLimits;
use crate::model::Part;

/// A Nelson rule number, 1 to 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rule(pub u8);

impl Rule {
    /// All eight rules.
    pub const ALL: [Rule; 8] = [
        Rule(1),
        Rule(2),
        Rule(3),
        Rule(4),
        Rule(5),
        Rule(6),
        Rule(7),
        Rule(8),
    ];

    /// Points in the rule's window.
    pub fn window(self) -> usize {
        match self.0 {
            1 => 1,
            2 => 9,
            3 => 6,
            4 => 14,
            5 => 3,
            6 => 5,
            7 => 15,
            _ => 8,
        }
    }

    /// One-line description.
    pub fn describe(self) -> &'static str {
        match self.0 {
            1 => "one point beyond 3 sigma",
            2 => "nine points in a row on the same side of the center line",
            3 => "six points in a row steadily increasing or decreasing",
            4 => "fourteen points in a row alternating up and down",
            5 => "two of three points in a row beyond 2 sigma on the same side",
            6 => "four of five points in a row beyond 1 sigma on the same side",
            7 => "fifteen points in a row within 1 sigma of the center line",
            _ => "eight points in a row beyond 1 sigma on either side",
        }
    }
}

/// The longest rule window (rule 7).
pub const MAX_WINDOW: usize = 15;

/// A rule violation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// `{chart_id}/{part}/{rule}/{last point's subgroup start, RFC 3339 ms UTC}`.
    pub id: String,
    /// Rule.
    pub rule: Rule,
    /// Chart part.
    pub part: Part,
    /// Index of the last point.
    pub last_index: usize,
    /// The points that make the pattern, oldest first: (subgroup start, plotted value).
    pub points: Vec<(DateTime<Utc>, f64)>,
    /// The last point's subgroup start.
    pub at: DateTime<Utc>,
}

/// Returns the violation id of a rule on a part ending at `at`.
pub fn violation_id(chart_id: &str, part: Part, rule: Rule, at: DateTime<Utc>) -> String {
    format!(
        "{chart_id}/{}/{}/{}",
        part.as_str(),
        rule.0,
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

/// One point of a part as the rules see it: its value and limits and limit segment, or `None`
/// when it is not evaluated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Evaluated {
    pub value: f64,
    pub limits: PartLimits,
    pub segment: u32,
}

/// Returns the rules that complete at index `i` of `series`.
pub(crate) fn completing(series: &[Option<Evaluated>], i: usize) -> Vec<Rule> {
    let mut out = Vec::new();
    let Some(last) = series.get(i).copied().flatten() else {
        return out;
    };
    // Length of the run of evaluable points of the same segment ending at i.
    let mut run = 0usize;
    while run <= i && run < MAX_WINDOW {
        match series[i - run] {
            Some(e) if e.segment == last.segment => run += 1,
            _ => break,
        }
    }
    let window = |len: usize| -> Option<Vec<Evaluated>> {
        (run >= len).then(|| {
            series[i + 1 - len..=i]
                .iter()
                .map(|e| e.expect("the run covers evaluable points"))
                .collect()
        })
    };
    for rule in Rule::ALL {
        let Some(w) = window(rule.window()) else {
            continue;
        };
        if holds(rule, &w) {
            out.push(rule);
        }
    }
    out
}

fn holds(rule: Rule, w: &[Evaluated]) -> bool {
    let above = |e: &Evaluated, k: f64| e.value > e.limits.center + k * e.limits.sigma();
    let below = |e: &Evaluated, k: f64| e.value < e.limits.center - k * e.limits.sigma();
    let last = w[w.len() - 1];
    match rule.0 {
        1 => last.value > last.limits.upper || last.value < last.limits.lower,
        2 => w.iter().all(|e| above(e, 0.0)) || w.iter().all(|e| below(e, 0.0)),
        3 => {
            w.windows(2).all(|p| p[1].value > p[0].value)
                || w.windows(2).all(|p| p[1].value < p[0].value)
        }
        4 => {
            let d: Vec<f64> = w.windows(2).map(|p| p[1].value - p[0].value).collect();
            d.iter().all(|x| *x != 0.0) && d.windows(2).all(|p| (p[0] > 0.0) != (p[1] > 0.0))
        }
        5 | 6 => {
            let (k, need) = if rule.0 == 5 { (2.0, 2) } else { (1.0, 4) };
            (above(&last, k) && w.iter().filter(|e| above(e, k)).count() >= need)
                || (below(&last, k) && w.iter().filter(|e| below(e, k)).count() >= need)
        }
        7 => w
            .iter()
            .all(|e| (e.value - e.limits.center).abs() < e.limits.sigma()),
        _ => w
            .iter()
            .all(|e| (e.value - e.limits.center).abs() > e.limits.sigma()),
    }
}

/// Returns the bit of a rule in a flags byte.
pub(crate) fn bit(rule: Rule) -> u8 {
    1u8 << (rule.0 - 1)
}
