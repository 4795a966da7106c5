#![allow(clippy::unwrap_used)]

use super::*;

pub(crate) const PRESS_LINE: &str = r#"
[edge]
host_id = "mom"
max_clock_skew = "30s"

[[unit]]
work_unit = "press-1"
product = "bracket"

[[signal]]
work_unit = "press-1"
kind = "state"
sparkplug = { group = "plant", node = "press-line", device = "press-1", metric = "State" }
codes = [
  { code = 1, state = "running" },
  { code = 2, state = "stopped", reason = "jam" },
  { code = 3, state = "setup" },
  { code = 4, state = "planned", reason = "break" },
]
otherwise = { state = "stopped", reason = "unknown code" }

[[signal]]
work_unit = "press-1"
kind = "count"
sparkplug = { group = "plant", node = "press-line", device = "press-1", metric = "Counter/Total" }
width = 16

[[signal]]
work_unit = "press-1"
kind = "rejects"
sparkplug = { group = "plant", node = "press-line", device = "press-1", metric = "Counter/Rejects" }
width = 16
plan = "press-visual"
characteristic = "visual"

[[signal]]
work_unit = "press-1"
kind = "product"
sparkplug = { group = "plant", node = "press-line", device = "press-1", metric = "Recipe" }
products = { "17" = "bracket", "18" = "hinge" }

[[signal]]
work_unit = "press-2"
kind = "state"
mqtt = { topic = "plant/press-2/status", value = "$.state", time = "/ts" }
codes = [{ code = "RUN", state = "running" }, { code = "STOP", state = "stopped" }]

[[signal]]
work_unit = "press-3"
kind = "count"
opcua = { node = "ns=2;s=Press3.Count" }
"#;

fn error_of(text: &str) -> (usize, String) {
    match Mapping::parse("m.toml", text).unwrap_err() {
        MappingError::Invalid { line, message, .. } => (line, message),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_press_line_mapping_reads() {
    let mapping = Mapping::parse("m.toml", PRESS_LINE).unwrap();
    assert_eq!(mapping.host_id, "mom");
    assert_eq!(mapping.max_clock_skew, chrono::Duration::seconds(30));
    assert_eq!(mapping.signals.len(), 6);
    assert_eq!(mapping.default_products["press-1"], "bracket");
    let Meaning::State { codes, otherwise } = &mapping.signals[0].meaning else {
        panic!("state expected")
    };
    assert_eq!(codes["1"], UnitState::Running);
    assert_eq!(codes["2"], UnitState::Stopped("jam".into()));
    assert_eq!(codes["4"], UnitState::Planned("break".into()));
    assert_eq!(otherwise, &Some(UnitState::Stopped("unknown code".into())));
    assert_eq!(
        mapping.signals[1].meaning,
        Meaning::Count(CounterSpec { width: 16 })
    );
    assert_eq!(mapping.signals[1].line, 22);
    assert_eq!(
        mapping.signals[4].source,
        Source::Mqtt {
            topic: "plant/press-2/status".into(),
            value: "/state".into(),
            time: Some("/ts".into()),
        }
    );
    assert!(mapping.uses_mqtt() && mapping.uses_opcua());
    assert_eq!(
        mapping.units_of("plant", "press-line", None),
        vec!["press-1"]
    );
    assert_eq!(
        mapping.units_of("plant", "press-line", Some("press-2")),
        Vec::<String>::new()
    );
}

#[test]
fn errors_name_the_line() {
    let bad_kind = PRESS_LINE.replace("kind = \"product\"", "kind = \"colour\"");
    let (line, message) = error_of(&bad_kind);
    assert_eq!(line, 38);
    assert!(
        message.contains("\"colour\" is not one of state, count"),
        "{message}"
    );

    let bad_width = PRESS_LINE.replacen("width = 16", "width = 65", 1);
    let (line, message) = error_of(&bad_width);
    assert_eq!(line, 26);
    assert!(message.contains("1 to 64, not 65"), "{message}");

    let bad_state = PRESS_LINE.replace("state = \"setup\"", "state = \"paused\"");
    let (line, message) = error_of(&bad_state);
    assert_eq!(line, 17);
    assert!(
        message.contains("\"paused\" is not one of running"),
        "{message}"
    );

    let (line, message) = error_of("[[signal]]\nwork_unit = \"a\"\nkind = \"count\"\nbogus = 1\n");
    assert_eq!(line, 4);
    assert!(message.contains("bogus"), "{message}");

    let (line, message) = error_of("[[signal]\n");
    assert_eq!(line, 1);
    assert!(!message.is_empty());
}

#[test]
fn contradictions_and_missing_parts_are_refused() {
    let (line, message) = error_of(
        "[[signal]]\nwork_unit = \"a\"\nkind = \"count\"\n\n[[signal]]\nwork_unit = \"a\"\nkind = \"count\"\nopcua = { node = \"i=5\" }\n",
    );
    assert_eq!(line, 1);
    assert!(message.contains("exactly one source"), "{message}");

    let twice = "[[signal]]\nwork_unit = \"a\"\nkind = \"count\"\nopcua = { node = \"i=5\" }\n\n[[signal]]\nwork_unit = \"a\"\nkind = \"count\"\nopcua = { node = \"i=6\" }\n";
    let (line, message) = error_of(twice);
    assert_eq!(line, 6);
    assert!(message.contains("second count signal"), "{message}");

    let (_, message) =
        error_of("[[signal]]\nwork_unit = \"a\"\nkind = \"rejects\"\nopcua = { node = \"i=5\" }\n");
    assert!(message.contains("needs plan"), "{message}");

    let (line, message) =
        error_of("[[signal]]\nwork_unit = \"a\"\nkind = \"state\"\nopcua = { node = \"i=5\" }\n");
    assert_eq!(line, 1);
    assert!(message.contains("needs its codes"), "{message}");

    let (line, message) = error_of(
        "[[signal]]\nwork_unit = \"a\"\nkind = \"count\"\nmqtt = { topic = \"plant/+/count\" }\n",
    );
    assert_eq!(line, 4);
    assert!(message.contains("wildcards"), "{message}");

    let (_, message) = error_of(
        "[[signal]]\nwork_unit = \"a\"\nkind = \"count\"\nopcua = { node = \"Press.Count\" }\n",
    );
    assert!(message.contains("not an OPC UA node id"), "{message}");

    let (_, message) = error_of("[edge]\nhost_id = \"mom\"\n");
    assert!(message.contains("no [[signal]]"), "{message}");

    let long = format!(
        "[[signal]]\nwork_unit = \"{}\"\nkind = \"count\"\nopcua = {{ node = \"i=5\" }}\n",
        "w".repeat(300)
    );
    let (line, message) = error_of(&long);
    assert_eq!(line, 2);
    assert!(message.contains("at most 256"), "{message}");
}

#[test]
fn json_paths_become_pointers() {
    assert_eq!(json_pointer("$.a.b[2].c").unwrap(), "/a/b/2/c");
    assert_eq!(json_pointer("/a/b").unwrap(), "/a/b");
    assert_eq!(json_pointer("").unwrap(), "");
    assert_eq!(json_pointer("$").unwrap(), "");
    assert!(json_pointer("a.b").is_err());
    assert!(json_pointer("$.a[x]").is_err());
}

#[test]
fn counter_widths() {
    assert_eq!(CounterSpec { width: 16 }.max(), 65_535);
    assert_eq!(CounterSpec { width: 64 }.max(), u64::MAX);
}

/// The mappings the README and docs/edge.md show are valid mappings.
#[test]
fn the_documented_mappings_read() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut checked = 0;
    for doc in ["README.md", "docs/edge.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for block in text.split("```toml\n").skip(1) {
            let toml = block.split("```").next().unwrap();
            if !toml.contains("[[signal]]") {
                continue;
            }
            if let Err(err) = Mapping::parse(doc, toml) {
                panic!("the mapping in {doc} does not read: {err}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "found only {checked} mappings in the docs");
}

#[test]
fn parameter_signals_name_their_recipe_parameter_once_per_unit() {
    let two = "[[signal]]\nwork_unit = \"a\"\nkind = \"parameter\"\nparameter = \"temp\"\nopcua = { node = \"i=5\" }\n\n[[signal]]\nwork_unit = \"a\"\nkind = \"parameter\"\nparameter = \"pressure\"\nopcua = { node = \"i=6\" }\n";
    let mapping = Mapping::parse("m.toml", two).unwrap();
    assert_eq!(
        mapping.signals[1].meaning,
        Meaning::Parameter {
            name: "pressure".into()
        }
    );
    let (line, message) = error_of(&two.replace("\"pressure\"", "\"temp\""));
    assert_eq!(line, 7);
    assert!(message.contains("second parameter signal"), "{message}");
    let (_, message) = error_of(
        "[[signal]]\nwork_unit = \"a\"\nkind = \"parameter\"\nopcua = { node = \"i=5\" }\n",
    );
    assert!(message.contains("needs parameter"), "{message}");
    let (_, message) = error_of(
        "[[signal]]\nwork_unit = \"a\"\nkind = \"count\"\nparameter = \"temp\"\nopcua = { node = \"i=5\" }\n",
    );
    assert!(
        message.contains("parameter does not apply to a count signal"),
        "{message}"
    );
}
