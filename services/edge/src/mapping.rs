//! The mapping file: which machine signal means what for which work unit (docs/edge.md).
//!
//! TOML, read and validated once at start; every error names the line (and the key) it is about,
//! so a plant engineer fixes the file without guessing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

/// Largest mapping file read (1 MiB): a site's mapping is a few hundred signals.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// A validated mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The Sparkplug host application's id (`spBv1.0/STATE/<host_id>`).
    pub host_id: String,
    /// How far a live value's device timestamp may be from the time the edge service received
    /// it before the device clock is not believed (the receive time is used instead).
    pub max_clock_skew: chrono::Duration,
    /// Every signal, in file order.
    pub signals: Vec<Signal>,
    /// Per work unit: the product assumed before any product tag was read, if given.
    pub default_products: BTreeMap<String, String>,
}

/// One machine value and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// The work unit the value is about.
    pub work_unit: String,
    /// Where the value comes from.
    pub source: Source,
    /// What it means.
    pub meaning: Meaning,
    /// The line of the signal's table in the mapping file (for messages).
    pub line: usize,
}

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A Sparkplug B metric of an edge node (`device` empty) or of one of its devices.
    Sparkplug {
        /// Sparkplug group id.
        group: String,
        /// Edge node id.
        node: String,
        /// Device id; empty for a metric of the edge node itself.
        device: String,
        /// Metric name as given in the birth certificate.
        metric: String,
    },
    /// A plain MQTT topic whose payload is JSON.
    Mqtt {
        /// The exact topic (no wildcards).
        topic: String,
        /// JSON pointer to the value (`/state`); empty: the whole payload.
        value: String,
        /// JSON pointer to the device timestamp (RFC 3339 text or ms since the epoch), if any.
        time: Option<String>,
    },
    /// An OPC UA node's value, by subscription.
    OpcUa {
        /// The node id in OPC UA's text form (`ns=2;s=Press1.State`).
        node: String,
    },
}

impl Source {
    /// Returns a short text naming the source, for logs, metrics and dedup keys.
    pub fn key(&self) -> String {
        match self {
            Source::Sparkplug {
                group,
                node,
                device,
                metric,
            } => format!("spb:{group}/{node}/{device}:{metric}"),
            Source::Mqtt { topic, value, .. } => format!("mqtt:{topic}#{value}"),
            Source::OpcUa { node } => format!("opcua:{node}"),
        }
    }
}

/// What a value means for its work unit.
#[derive(Debug, Clone, PartialEq)]
pub enum Meaning {
    /// A state code: each code is running, stopped (with a reason), setup or a planned stop.
    State {
        /// The codes, by their text form (a number's decimal digits, a text as is, `true` / `false`).
        codes: HashMap<String, UnitState>,
        /// What an unlisted code means (none: an unlisted code is reported and ignored).
        otherwise: Option<UnitState>,
    },
    /// A counter of units made (good and bad): deltas become counts.
    Count(CounterSpec),
    /// A counter of rejected units: deltas become failed inspection results.
    Rejects {
        /// The counter.
        counter: CounterSpec,
        /// The quality inspection plan the results are recorded against.
        plan: String,
        /// The plan's pass/fail characteristic the rejects fail.
        characteristic: String,
    },
    /// The product being made: a change becomes the work unit's current product.
    Product {
        /// Translation of tag values to product ids; a value not listed is the product id itself.
        names: HashMap<String, String>,
    },
    /// A process parameter of the work unit's bound recipe: each numeric value becomes a
    /// `ReportParameter` (docs/recipes.md).
    Parameter {
        /// The parameter's name in the recipe.
        name: String,
    },
}

/// A state a code stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitState {
    /// Producing.
    Running,
    /// Stopped for `reason`.
    Stopped(String),
    /// In a changeover or setup.
    Setup,
    /// Not planned to produce (a break, no orders) for `reason`.
    Planned(String),
}

/// How a counter behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterSpec {
    /// Bits of the counter register (1–64): after `2^width − 1` it rolls over to 0.
    pub width: u32,
}

impl CounterSpec {
    /// Returns the largest value the counter holds.
    pub fn max(&self) -> u64 {
        if self.width >= 64 {
            u64::MAX
        } else {
            (1u64 << self.width) - 1
        }
    }
}

/// A mapping file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The file cannot be read.
    #[error("mapping file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid: `line` is 1-based.
    #[error("mapping file {path}, line {line}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The line the problem is on.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    edge: Option<Spanned<EdgeDoc>>,
    #[serde(default)]
    unit: Vec<Spanned<UnitDoc>>,
    #[serde(default)]
    signal: Vec<Spanned<SignalDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EdgeDoc {
    host_id: Option<Spanned<String>>,
    max_clock_skew: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitDoc {
    work_unit: Spanned<String>,
    product: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalDoc {
    work_unit: Spanned<String>,
    kind: Spanned<String>,
    sparkplug: Option<Spanned<SparkplugDoc>>,
    mqtt: Option<Spanned<MqttDoc>>,
    opcua: Option<Spanned<OpcUaDoc>>,
    #[serde(default)]
    codes: Vec<Spanned<CodeDoc>>,
    otherwise: Option<Spanned<StateDoc>>,
    width: Option<Spanned<i64>>,
    plan: Option<Spanned<String>>,
    characteristic: Option<Spanned<String>>,
    #[serde(default)]
    products: BTreeMap<String, Spanned<String>>,
    parameter: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SparkplugDoc {
    group: Spanned<String>,
    node: Spanned<String>,
    #[serde(default)]
    device: Option<Spanned<String>>,
    metric: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MqttDoc {
    topic: Spanned<String>,
    #[serde(default)]
    value: Option<Spanned<String>>,
    #[serde(default)]
    time: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpcUaDoc {
    node: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeDoc {
    code: Spanned<toml::Value>,
    state: Spanned<String>,
    reason: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateDoc {
    state: Spanned<String>,
    reason: Option<Spanned<String>>,
}

/// Longest id or name in the file (work units, products, metric names, reasons).
const MAX_NAME: usize = 256;

struct Lines<'a> {
    path: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(path: &'a str, text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        Self { path, starts }
    }

    fn line(&self, span: Range<usize>) -> usize {
        match self.starts.binary_search(&span.start) {
            Ok(index) => index + 1,
            Err(index) => index,
        }
    }

    fn error(&self, span: Range<usize>, message: impl Into<String>) -> MappingError {
        MappingError::Invalid {
            path: self.path.to_owned(),
            line: self.line(span),
            message: message.into(),
        }
    }
}

impl Mapping {
    /// Reads and validates the mapping file at `path`.
    pub fn load(path: &Path) -> Result<Mapping, MappingError> {
        let shown = path.display().to_string();
        let read_error = |source| MappingError::Read {
            path: shown.clone(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_error)?.len();
        if size > MAX_FILE_BYTES {
            return Err(MappingError::Invalid {
                path: shown,
                line: 1,
                message: format!("the file has {size} bytes; at most {MAX_FILE_BYTES} are read"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        Mapping::parse(&shown, &text)
    }

    /// Parses and validates mapping `text`; `path` names it in errors.
    pub fn parse(path: &str, text: &str) -> Result<Mapping, MappingError> {
        let lines = Lines::new(path, text);
        let doc: FileDoc = toml::from_str(text).map_err(|err| {
            let span = err.span().unwrap_or(0..0);
            lines.error(span, err.message().to_owned())
        })?;
        let (host_id, max_clock_skew) = match &doc.edge {
            None => ("mom".to_owned(), chrono::Duration::minutes(1)),
            Some(edge) => {
                let edge = edge.get_ref();
                let host_id = match &edge.host_id {
                    None => "mom".to_owned(),
                    Some(id) => {
                        check_id(&lines, id, "edge.host_id")?;
                        if id.get_ref().contains(['/', '+', '#']) {
                            return Err(lines.error(
                                id.span(),
                                "edge.host_id must not contain '/', '+' or '#' (it is a topic level)",
                            ));
                        }
                        id.get_ref().clone()
                    }
                };
                let skew =
                    match &edge.max_clock_skew {
                        None => chrono::Duration::minutes(1),
                        Some(value) => match mom_clock::parse_limit(value.get_ref()) {
                            Ok(Some(limit)) => limit,
                            Ok(None) => return Err(lines.error(
                                value.span(),
                                "edge.max_clock_skew cannot be off: a device clock must be checked",
                            )),
                            Err(err) => {
                                return Err(lines
                                    .error(value.span(), format!("edge.max_clock_skew: {err}")))
                            }
                        },
                    };
                (host_id, skew)
            }
        };
        let mut default_products = BTreeMap::new();
        for unit in &doc.unit {
            let unit_doc = unit.get_ref();
            check_id(&lines, &unit_doc.work_unit, "work_unit")?;
            if default_products.contains_key(unit_doc.work_unit.get_ref())
                || doc
                    .unit
                    .iter()
                    .filter(|u| u.get_ref().work_unit.get_ref() == unit_doc.work_unit.get_ref())
                    .count()
                    > 1
            {
                return Err(lines.error(
                    unit_doc.work_unit.span(),
                    format!(
                        "work unit {:?} has a second [[unit]] table",
                        unit_doc.work_unit.get_ref()
                    ),
                ));
            }
            if let Some(product) = &unit_doc.product {
                check_id(&lines, product, "product")?;
                default_products.insert(
                    unit_doc.work_unit.get_ref().clone(),
                    product.get_ref().clone(),
                );
            }
        }
        let mut signals = Vec::with_capacity(doc.signal.len());
        let mut seen: HashSet<(Source, &'static str)> = HashSet::new();
        let mut unit_kinds: HashSet<(String, &'static str)> = HashSet::new();
        let mut parameters: HashSet<(String, String)> = HashSet::new();
        for spanned in &doc.signal {
            let signal = parse_signal(&lines, spanned)?;
            let kind = signal.meaning.kind();
            if !seen.insert((signal.source.clone(), kind)) {
                return Err(lines.error(
                    spanned.span(),
                    format!("{} is mapped twice as a {kind} signal", signal.source.key()),
                ));
            }
            // A unit has many rejects counters and parameters, but one of each other kind; a
            // parameter is mapped once per unit.
            let unique = match &signal.meaning {
                Meaning::Rejects { .. } => true,
                Meaning::Parameter { name } => {
                    parameters.insert((signal.work_unit.clone(), name.clone()))
                }
                _ => unit_kinds.insert((signal.work_unit.clone(), kind)),
            };
            if !unique {
                return Err(lines.error(
                    spanned.span(),
                    format!(
                        "work unit {:?} has a second {kind} signal: the two would contradict each other",
                        signal.work_unit
                    ),
                ));
            }
            signals.push(signal);
        }
        if signals.is_empty() {
            return Err(MappingError::Invalid {
                path: path.to_owned(),
                line: 1,
                message: "the mapping has no [[signal]]: nothing to read from the machines".into(),
            });
        }
        Ok(Mapping {
            host_id,
            max_clock_skew,
            signals,
            default_products,
        })
    }

    /// Returns true when any signal is read from Sparkplug B or plain MQTT.
    pub fn uses_mqtt(&self) -> bool {
        self.signals
            .iter()
            .any(|s| matches!(s.source, Source::Sparkplug { .. } | Source::Mqtt { .. }))
    }

    /// Returns true when any signal is read from OPC UA.
    pub fn uses_opcua(&self) -> bool {
        self.signals
            .iter()
            .any(|s| matches!(s.source, Source::OpcUa { .. }))
    }

    /// Returns the work units of the signals of Sparkplug edge node `group/node` (and, when
    /// `device` is given, only of that device).
    pub fn units_of(&self, group: &str, node: &str, device: Option<&str>) -> Vec<String> {
        let mut units: Vec<String> = self
            .signals
            .iter()
            .filter(|s| match &s.source {
                Source::Sparkplug {
                    group: g,
                    node: n,
                    device: d,
                    ..
                } => g == group && n == node && device.is_none_or(|device| d == device),
                _ => false,
            })
            .map(|s| s.work_unit.clone())
            .collect();
        units.sort();
        units.dedup();
        units
    }
}

impl Meaning {
    /// Returns the kind's name as the file spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Meaning::State { .. } => "state",
            Meaning::Count(_) => "count",
            Meaning::Rejects { .. } => "rejects",
            Meaning::Product { .. } => "product",
            Meaning::Parameter { .. } => "parameter",
        }
    }
}

fn check_id(lines: &Lines<'_>, value: &Spanned<String>, what: &str) -> Result<(), MappingError> {
    let text = value.get_ref();
    if text.trim().is_empty() {
        return Err(lines.error(value.span(), format!("{what} is empty")));
    }
    if text.len() > MAX_NAME {
        return Err(lines.error(
            value.span(),
            format!("{what} has {} bytes; at most {MAX_NAME}", text.len()),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(lines.error(value.span(), format!("{what} contains a control character")));
    }
    Ok(())
}

fn parse_signal(lines: &Lines<'_>, spanned: &Spanned<SignalDoc>) -> Result<Signal, MappingError> {
    let doc = spanned.get_ref();
    check_id(lines, &doc.work_unit, "work_unit")?;
    let source = match (&doc.sparkplug, &doc.mqtt, &doc.opcua) {
        (Some(spb), None, None) => {
            let spb = spb.get_ref();
            for (value, what) in [
                (&spb.group, "sparkplug.group"),
                (&spb.node, "sparkplug.node"),
            ] {
                check_id(lines, value, what)?;
                if value.get_ref().contains(['/', '+', '#']) {
                    return Err(lines.error(
                        value.span(),
                        format!("{what} must not contain '/', '+' or '#' (it is a topic level)"),
                    ));
                }
            }
            check_id(lines, &spb.metric, "sparkplug.metric")?;
            let device = match &spb.device {
                None => String::new(),
                Some(device) => {
                    check_id(lines, device, "sparkplug.device")?;
                    if device.get_ref().contains(['/', '+', '#']) {
                        return Err(lines.error(
                        device.span(),
                        "sparkplug.device must not contain '/', '+' or '#' (it is a topic level)",
                    ));
                    }
                    device.get_ref().clone()
                }
            };
            Source::Sparkplug {
                group: spb.group.get_ref().clone(),
                node: spb.node.get_ref().clone(),
                device,
                metric: spb.metric.get_ref().clone(),
            }
        }
        (None, Some(mqtt), None) => {
            let mqtt = mqtt.get_ref();
            check_id(lines, &mqtt.topic, "mqtt.topic")?;
            if mqtt.topic.get_ref().contains(['+', '#']) {
                return Err(lines.error(
                    mqtt.topic.span(),
                    "mqtt.topic names one topic: wildcards '+' and '#' are not allowed",
                ));
            }
            if mqtt.topic.get_ref().starts_with("spBv1.0/") {
                return Err(lines.error(
                mqtt.topic.span(),
                "mqtt.topic is in the Sparkplug namespace spBv1.0/: map it with sparkplug = { ... }",
            ));
            }
            let pointer = |value: &Option<Spanned<String>>,
                           what: &str|
             -> Result<Option<String>, MappingError> {
                match value {
                    None => Ok(None),
                    Some(value) => json_pointer(value.get_ref())
                        .map(Some)
                        .map_err(|err| lines.error(value.span(), format!("{what}: {err}"))),
                }
            };
            Source::Mqtt {
                topic: mqtt.topic.get_ref().clone(),
                value: pointer(&mqtt.value, "mqtt.value")?.unwrap_or_default(),
                time: pointer(&mqtt.time, "mqtt.time")?,
            }
        }
        (None, None, Some(opcua)) => {
            let opcua = opcua.get_ref();
            check_id(lines, &opcua.node, "opcua.node")?;
            if !is_node_id(opcua.node.get_ref()) {
                return Err(lines.error(
                opcua.node.span(),
                format!(
                    "opcua.node {:?} is not an OPC UA node id (ns=<n>;s=<name>, ns=<n>;i=<number>, i=<number>, ...)",
                    opcua.node.get_ref()
                ),
            ));
            }
            Source::OpcUa {
                node: opcua.node.get_ref().clone(),
            }
        }
        (spb, mqtt, opcua) => {
            let count = [spb.is_some(), mqtt.is_some(), opcua.is_some()]
                .into_iter()
                .filter(|set| *set)
                .count();
            return Err(lines.error(
                spanned.span(),
                format!(
                    "a signal has exactly one source (sparkplug, mqtt or opcua); this one has {count}"
                ),
            ));
        }
    };
    let kind = doc.kind.get_ref().as_str();
    let only = |present: bool, key: &str, span: Range<usize>| -> Result<(), MappingError> {
        if present {
            Err(lines.error(span, format!("{key} does not apply to a {kind} signal")))
        } else {
            Ok(())
        }
    };
    if kind != "parameter" {
        only(doc.parameter.is_some(), "parameter", spanned.span())?;
    }
    let meaning = match kind {
        "state" => {
            if doc.codes.is_empty() {
                return Err(lines.error(
                    spanned.span(),
                    "a state signal needs its codes: codes = [{ code = 1, state = \"running\" }, ...]",
                ));
            }
            only(doc.width.is_some(), "width", spanned.span())?;
            only(doc.plan.is_some(), "plan", spanned.span())?;
            let mut codes = HashMap::new();
            for code in &doc.codes {
                let code_doc = code.get_ref();
                let key = match code_doc.code.get_ref() {
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(lines.error(
                            code_doc.code.span(),
                            format!(
                                "a code is an integer, a string or a boolean, not a {}",
                                other.type_str()
                            ),
                        ))
                    }
                };
                let state = unit_state(lines, &code_doc.state, code_doc.reason.as_ref())?;
                if codes.insert(key.clone(), state).is_some() {
                    return Err(lines.error(code.span(), format!("code {key} is listed twice")));
                }
            }
            let otherwise = match &doc.otherwise {
                None => None,
                Some(state) => Some(unit_state(
                    lines,
                    &state.get_ref().state,
                    state.get_ref().reason.as_ref(),
                )?),
            };
            Meaning::State { codes, otherwise }
        }
        "count" | "rejects" => {
            only(!doc.codes.is_empty(), "codes", spanned.span())?;
            let width = match &doc.width {
                None => 64,
                Some(width) => match u32::try_from(*width.get_ref()) {
                    Ok(bits @ 1..=64) => bits,
                    _ => {
                        return Err(lines.error(
                            width.span(),
                            format!(
                                "width is the counter's bits, 1 to 64, not {}",
                                width.get_ref()
                            ),
                        ))
                    }
                },
            };
            let counter = CounterSpec { width };
            if kind == "count" {
                only(doc.plan.is_some(), "plan", spanned.span())?;
                Meaning::Count(counter)
            } else {
                let missing = |what: &str| {
                    lines.error(
                        spanned.span(),
                        format!("a rejects signal needs {what}: the quality plan and pass/fail characteristic its rejects fail"),
                    )
                };
                let plan = doc.plan.as_ref().ok_or_else(|| missing("plan"))?;
                check_id(lines, plan, "plan")?;
                let characteristic = doc
                    .characteristic
                    .as_ref()
                    .ok_or_else(|| missing("characteristic"))?;
                check_id(lines, characteristic, "characteristic")?;
                Meaning::Rejects {
                    counter,
                    plan: plan.get_ref().clone(),
                    characteristic: characteristic.get_ref().clone(),
                }
            }
        }
        "product" => {
            only(!doc.codes.is_empty(), "codes", spanned.span())?;
            only(doc.width.is_some(), "width", spanned.span())?;
            let mut names = HashMap::new();
            for (tag, product) in &doc.products {
                check_id(lines, product, "products")?;
                names.insert(tag.clone(), product.get_ref().clone());
            }
            Meaning::Product { names }
        }
        "parameter" => {
            only(!doc.codes.is_empty(), "codes", spanned.span())?;
            only(doc.width.is_some(), "width", spanned.span())?;
            only(doc.plan.is_some(), "plan", spanned.span())?;
            let name = doc.parameter.as_ref().ok_or_else(|| {
                lines.error(
                    spanned.span(),
                    "a parameter signal needs parameter = \"<name in the recipe>\"",
                )
            })?;
            check_id(lines, name, "parameter")?;
            Meaning::Parameter {
                name: name.get_ref().clone(),
            }
        }
        other => {
            return Err(lines.error(
                doc.kind.span(),
                format!("kind {other:?} is not one of state, count, rejects, product, parameter"),
            ))
        }
    };
    Ok(Signal {
        work_unit: doc.work_unit.get_ref().clone(),
        source,
        meaning,
        line: lines.line(spanned.span()),
    })
}

fn unit_state(
    lines: &Lines<'_>,
    state: &Spanned<String>,
    reason: Option<&Spanned<String>>,
) -> Result<UnitState, MappingError> {
    let reason_text = match reason {
        None => None,
        Some(reason) => {
            check_id(lines, reason, "reason")?;
            Some(reason.get_ref().clone())
        }
    };
    match state.get_ref().as_str() {
        "running" | "setup" if reason_text.is_some() => Err(lines.error(
            state.span(),
            format!("a {} code takes no reason", state.get_ref()),
        )),
        "running" => Ok(UnitState::Running),
        "setup" => Ok(UnitState::Setup),
        "stopped" => Ok(UnitState::Stopped(
            reason_text.unwrap_or_else(|| "stopped".into()),
        )),
        "planned" => Ok(UnitState::Planned(
            reason_text.unwrap_or_else(|| "planned stop".into()),
        )),
        other => Err(lines.error(
            state.span(),
            format!("state {other:?} is not one of running, stopped, setup, planned"),
        )),
    }
}

/// Returns the JSON pointer (RFC 6901) for `path`: a pointer as is (`/a/0/b`), or a simple JSON
/// path (`$.a[0].b`, `$['a b']` is not supported).
pub fn json_pointer(path: &str) -> Result<String, String> {
    if path.is_empty() || path.starts_with('/') {
        return Ok(path.to_owned());
    }
    let Some(rest) = path.strip_prefix('$') else {
        return Err(format!(
            "{path:?} is neither a JSON pointer (/a/b) nor a JSON path ($.a.b)"
        ));
    };
    let mut pointer = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&next) = chars.peek() {
                    if next == '.' || next == '[' {
                        break;
                    }
                    name.push(next);
                    chars.next();
                }
                if name.is_empty() {
                    return Err(format!("{path:?} has an empty member name"));
                }
                pointer.push('/');
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
            }
            '[' => {
                let mut index = String::new();
                for next in chars.by_ref() {
                    if next == ']' {
                        break;
                    }
                    index.push(next);
                }
                if index.is_empty() || !index.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!("{path:?}: only numeric indexes [n] are supported"));
                }
                pointer.push('/');
                pointer.push_str(&index);
            }
            other => return Err(format!("{path:?}: unexpected {other:?}")),
        }
    }
    Ok(pointer)
}

fn is_node_id(text: &str) -> bool {
    let rest = match text.strip_prefix("ns=") {
        Some(rest) => match rest.split_once(';') {
            Some((ns, rest)) if !ns.is_empty() && ns.chars().all(|c| c.is_ascii_digit()) => rest,
            _ => return false,
        },
        None => text,
    };
    match rest.split_once('=') {
        Some(("i", n)) => n.parse::<u32>().is_ok(),
        Some(("s" | "g" | "b", value)) => !value.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests;
