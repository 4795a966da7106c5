//! The protobuf contract under `proto/` checked by buf (an outside tool, npm `@bufbuild/buf`,
//! installed into `tools/buf` by scripts/test): `buf lint` with the repository's `buf.yaml`, and
//! `buf breaking` against the last release's image in `proto/releases/` — which passes for
//! today's `proto/` and fails, naming the field, for a copy with one field renumbered.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The buf CLI of `tools/buf`; a missing one fails the test, it is never skipped.
fn buf() -> PathBuf {
    let bin = workspace_root().join("tools/buf/node_modules/.bin/buf");
    assert!(
        bin.is_file(),
        "the buf CLI is missing at {}: run scripts/test, or `npm ci --prefix tools/buf` \
         (Node.js and npm needed)",
        bin.display()
    );
    bin
}

/// The image of the last release: the newest `proto/releases/v*.binpb`.
fn last_release() -> PathBuf {
    let mut releases: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("proto/releases"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "binpb"))
        .collect();
    releases.sort_by_key(|path| release_version(path));
    releases
        .pop()
        .expect("no release image in proto/releases (docs/integrators.md: cutting a release)")
}

/// `v0.10.binpb` → `[0, 10]`, so releases sort by version, not by name.
fn release_version(path: &Path) -> Vec<u64> {
    let stem = path.file_stem().unwrap().to_str().unwrap();
    stem.trim_start_matches('v')
        .split('.')
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

/// Runs buf with `args` in `dir` (a directory holding `buf.yaml` and `proto/`).
fn run_buf(dir: &Path, args: &[&str]) -> Output {
    Command::new(buf())
        .args(args)
        .current_dir(dir)
        // No network, no user cache shared with other runs.
        .env("BUF_CACHE_DIR", dir.join(".buf-cache"))
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A copy of `buf.yaml` and `proto/` in a temporary directory.
fn copy_of_contract() -> tempfile::TempDir {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy_dir(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        workspace_root().join("buf.yaml"),
        dir.path().join("buf.yaml"),
    )
    .unwrap();
    copy_dir(&workspace_root().join("proto"), &dir.path().join("proto"));
    dir
}

#[test]
fn proto_passes_buf_lint() {
    let dir = copy_of_contract();
    let output = run_buf(dir.path(), &["lint"]);
    assert!(
        output.status.success(),
        "buf lint failed:\n{}",
        text(&output)
    );
}

#[test]
fn proto_is_compatible_with_the_last_release() {
    let dir = copy_of_contract();
    let release = last_release();
    let output = run_buf(
        dir.path(),
        &["breaking", "--against", release.to_str().unwrap()],
    );
    assert!(
        output.status.success(),
        "proto/ breaks compatibility with {}:\n{}",
        release.display(),
        text(&output)
    );
}

#[test]
fn renumbering_a_field_fails_the_breaking_change_check() {
    let dir = copy_of_contract();
    let file = dir.path().join("proto/mom/production/v1/events.proto");
    let proto = std::fs::read_to_string(&file).unwrap();
    let field = "  string reason_code = 3;\n}";
    let at = proto
        .find("message WorkUnitStopped {")
        .expect("WorkUnitStopped in events.proto");
    let offset = at
        + proto[at..]
            .find(field)
            .expect("WorkUnitStopped.reason_code = 3");
    let renumbered = format!(
        "{}  string reason_code = 30;\n}}{}",
        &proto[..offset],
        &proto[offset + field.len()..]
    );
    std::fs::write(&file, renumbered).unwrap();

    // The copy still builds: the change is valid protobuf, only incompatible.
    let build = run_buf(dir.path(), &["build"]);
    assert!(build.status.success(), "{}", text(&build));
    let release = last_release();
    let output = run_buf(
        dir.path(),
        &["breaking", "--against", release.to_str().unwrap()],
    );
    let report = text(&output);
    assert!(
        !output.status.success(),
        "renumbering a field passed the check:\n{report}"
    );
    assert!(
        report.contains("\"reason_code\"") && report.contains("\"WorkUnitStopped\""),
        "the report should name the field and its message:\n{report}"
    );
}

#[test]
fn releases_sort_by_version() {
    assert!(release_version(Path::new("v0.10.binpb")) > release_version(Path::new("v0.9.binpb")));
}
