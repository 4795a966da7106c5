//! Whether each projection of this process has caught up with its source and is making
//! progress: the read side's readiness. A projection that started (or restarted) answers
//! queries from what its read model held before; until it has applied what its logs held when
//! it started, those answers can be behind the stores. Readers that must not see that (a test
//! comparing live figures with a rebuild) wait for [`caught_up`]; the dashboard's answers stay
//! available meanwhile.
//!
//! A projection that cannot go on (its read-model database or its broker does not answer, or
//! its Kafka consumer makes no progress while messages wait: the watchdog of `kafka.rs`) records
//! why in [`Status::error`]; [`problems`] lists them for the health service and `/readyz`.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// What one projection reported last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The projection has applied every entry its sources held at some moment after it
    /// started (a pass over every source read nothing new).
    pub caught_up: bool,
    /// Entries applied since the start of this process.
    pub applied: u64,
    /// The error of the last pass, when it failed (cleared by the next that succeeds).
    pub error: Option<String>,
}

static STATUS: Mutex<BTreeMap<String, Status>> = Mutex::new(BTreeMap::new());

fn update(name: &str, f: impl FnOnce(&mut Status)) {
    if let Ok(mut all) = STATUS.lock() {
        f(all.entry(name.to_owned()).or_default());
    }
}

/// Registers `name` as started and not caught up.
pub(crate) fn started(name: &str) {
    update(name, |s| *s = Status::default());
}

/// Records a pass over every source of `name`: `read` entries, or the error that stopped it.
pub(crate) fn pass(name: &str, read: usize, error: Option<String>) {
    update(name, |s| {
        s.applied += read as u64;
        if error.is_none() && read == 0 {
            s.caught_up = true;
        }
        s.error = error;
    });
}

/// Records a watchdog check of the Kafka consumer of `name`: `behind` messages wait on its
/// topics (high watermarks minus the read model's checkpoints), and `error` says why it cannot
/// go on (`None`: it is fine). No backlog and no error mean caught up.
pub(crate) fn consumer_checked(name: &str, behind: Option<u64>, error: Option<String>) {
    update(name, |s| {
        if error.is_none() && behind == Some(0) {
            s.caught_up = true;
        }
        s.error = error;
    });
}

/// Counts `applied` messages of `name` (a Kafka consumer).
pub(crate) fn consumed(name: &str, applied: u64) {
    update(name, |s| s.applied += applied);
}

/// Returns what keeps this process's projections from serving current answers, one line per
/// failing projection (`name: why`); empty when every one is fine.
pub fn problems() -> Vec<String> {
    statuses()
        .into_iter()
        .filter_map(|(name, status)| status.error.map(|error| format!("{name}: {error}")))
        .collect()
}

/// Returns [`problems`] of the projections named `names` only.
pub fn problems_of(names: &[&str]) -> Vec<String> {
    statuses()
        .into_iter()
        .filter(|(name, _)| names.contains(&name.as_str()))
        .filter_map(|(name, status)| status.error.map(|error| format!("{name}: {error}")))
        .collect()
}

/// Returns the status of every projection this process runs, by name.
pub fn statuses() -> BTreeMap<String, Status> {
    STATUS.lock().map(|all| all.clone()).unwrap_or_default()
}

/// Returns true when this process runs projections from logs, every one of them has caught up
/// and none is failing (false before the first has started).
pub fn caught_up() -> bool {
    let all = statuses();
    !all.is_empty() && all.values().all(|s| s.caught_up && s.error.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_projection_is_caught_up_after_a_pass_that_read_nothing_and_not_while_failing() {
        let name = "status-test-projection";
        started(name);
        assert!(!statuses()[name].caught_up);
        pass(name, 1000, None);
        assert!(!statuses()[name].caught_up, "a full page is not caught up");
        pass(name, 0, None);
        let status = statuses()[name].clone();
        assert!(status.caught_up && status.error.is_none());
        assert_eq!(status.applied, 1000);
        pass(name, 0, Some("production: database is down".into()));
        assert_eq!(
            statuses()[name].error.as_deref(),
            Some("production: database is down")
        );
        assert!(!caught_up(), "a failing reader is not ready");
        pass(name, 0, None);
        assert!(statuses()[name].error.is_none());
        // A restart starts over.
        started(name);
        assert!(!statuses()[name].caught_up);
    }

    #[test]
    fn a_stalled_consumer_is_a_problem_until_a_check_finds_it_fine() {
        let name = "status-test-consumer";
        started(name);
        consumer_checked(name, Some(12), Some("no progress for 20s".into()));
        assert!(problems().contains(&format!("{name}: no progress for 20s")));
        consumer_checked(name, Some(0), None);
        assert!(!problems().iter().any(|p| p.starts_with(name)));
        assert!(statuses()[name].caught_up);
    }
}
