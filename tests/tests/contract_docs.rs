//! The topic contract (docs/topics.md and docs/topics/*.md) names every event type that proto/
//! defines.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Returns the message names inside the `oneof event` of every `*Event` envelope in `proto`.
fn event_types(proto: &str) -> Vec<String> {
    let mut types = Vec::new();
    let mut in_oneof = false;
    for line in proto.lines().map(str::trim) {
        if line.starts_with("oneof event") {
            in_oneof = true;
        } else if in_oneof && line.starts_with('}') {
            in_oneof = false;
        } else if in_oneof && !line.is_empty() && !line.starts_with("//") {
            types.push(line.split_whitespace().next().unwrap().to_owned());
        }
    }
    types
}

fn proto_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            proto_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
}

#[test]
fn every_event_type_in_proto_is_documented_in_topics_md() {
    let mut docs = std::fs::read_to_string(workspace_root().join("docs/topics.md")).unwrap();
    for entry in std::fs::read_dir(workspace_root().join("docs/topics")).unwrap() {
        docs.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let mut files = Vec::new();
    proto_files(&workspace_root().join("proto"), &mut files);
    let mut checked = 0;
    let mut missing = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for event in event_types(&text) {
            checked += 1;
            if !docs.contains(&format!("| `{event}` |")) {
                missing.push(format!("{event} ({})", file.display()));
            }
        }
    }
    assert!(
        checked >= 17,
        "found only {checked} event types; is the parser still right?"
    );
    assert!(
        missing.is_empty(),
        "event types missing from docs/topics.md and docs/topics/*.md: {missing:?}"
    );
}

#[test]
fn event_type_parser_reads_oneof_members() {
    let proto =
        "message X {\n  oneof event {\n    // c\n    A a = 1;\n    B b = 2;\n  }\n  C c = 3;\n}";
    assert_eq!(event_types(proto), vec!["A", "B"]);
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_mom_environment_variable_is_in_the_readme_configuration_reference() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let mut files = Vec::new();
    for dir in ["src", "services", "crates"] {
        rust_files(&workspace_root().join(dir), &mut files);
    }
    let mut variables = std::collections::BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("env = \"MOM_") {
            let rest = &text[at + "env = \"".len()..];
            let end = rest.find('"').unwrap();
            variables.insert(rest[..end].to_owned());
        }
    }
    assert!(variables.len() >= 30, "found only {variables:?}");
    let missing: Vec<&String> = variables
        .iter()
        .filter(|v| !readme.contains(&format!("`{v}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "MOM_* variables missing from README.md: {missing:?}"
    );
}
