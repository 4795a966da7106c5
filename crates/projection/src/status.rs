//! Whether each projection of this process has caught up with its logs: the read side's
//! readiness. A projection that started (or restarted) answers queries from what its read model
//! held before; until it has applied what its logs held when it started, those answers can be
//! behind the stores. Readers that must not see that (a readiness probe, a test comparing live
//! figures with a rebuild) wait for [`caught_up`]; the dashboard's answers stay available
//! meanwhile.

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

/// Returns the status of every projection this process runs from event-store logs, by name.
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
}
