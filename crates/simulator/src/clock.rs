//! Simulated plant time: faster than the wall clock until it has caught up, then the wall clock.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::SimulatorError;

/// Maps simulated time to wall-clock instants.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall0: Instant,
    sim0: DateTime<Utc>,
    speed: f64,
    /// Wall seconds after `wall0` at which the simulation has caught up with real time.
    catch_up: f64,
}

impl Clock {
    /// Returns a clock at `start` now, running `speed` times faster than the wall clock until it
    /// reaches real time.
    pub fn new(start: DateTime<Utc>, speed: f64) -> Self {
        let lag = (mom_clock::now() - start).num_milliseconds().max(0) as f64 / 1000.0;
        let speed = speed.max(1.0);
        let catch_up = if speed > 1.0 {
            lag / (speed - 1.0)
        } else {
            0.0
        };
        Self {
            wall0: Instant::now(),
            sim0: start,
            speed,
            catch_up,
        }
    }

    /// Returns the current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        self.at_wall(self.wall0.elapsed().as_secs_f64())
    }

    fn at_wall(&self, elapsed: f64) -> DateTime<Utc> {
        let sim = if elapsed <= self.catch_up {
            elapsed * self.speed
        } else {
            self.catch_up * self.speed + (elapsed - self.catch_up)
        };
        self.sim0 + chrono::Duration::milliseconds((sim * 1000.0) as i64)
    }

    /// Returns the simulated time at which the plant catches up with real time: what happens
    /// before it is backfill, in the past when it is sent.
    pub fn live_from(&self) -> DateTime<Utc> {
        self.at_wall(self.catch_up)
    }

    /// Returns the wall-clock instant at which simulated time `t` is reached.
    pub fn wall_for(&self, t: DateTime<Utc>) -> Instant {
        let sim = (t - self.sim0).num_milliseconds().max(0) as f64 / 1000.0;
        let fast = self.catch_up * self.speed;
        let elapsed = if sim <= fast {
            sim / self.speed
        } else {
            self.catch_up + (sim - fast)
        };
        self.wall0 + Duration::from_secs_f64(elapsed)
    }
}

/// Returns where the plant starts: the saved clock when there is one (never in the future),
/// else `backfill` before now.
pub fn restore(state: Option<&Path>, backfill: Duration) -> DateTime<Utc> {
    let now = mom_clock::now();
    let saved = state
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|value| value["sim_time"].as_str().map(str::to_owned))
        .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
        .map(|t| t.with_timezone(&Utc));
    match saved {
        Some(t) => t.min(now),
        None => now - chrono::Duration::from_std(backfill).unwrap_or_default(),
    }
}

fn save(path: &Path, clock: &Clock) -> Result<(), SimulatorError> {
    let text = serde_json::json!({ "sim_time": clock.now().to_rfc3339() }).to_string();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| SimulatorError::State {
            path: path.to_owned(),
            source,
        })
}

/// Saves the clock every second until `shutdown`, and once more at the end.
pub async fn keep(
    path: Option<PathBuf>,
    clock: Clock,
    shutdown: CancellationToken,
) -> Result<(), SimulatorError> {
    let Some(path) = path else {
        return Ok(());
    };
    loop {
        save(&path, &clock)?;
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    save(&path, &clock)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn runs_fast_until_it_has_caught_up_then_follows_the_wall_clock() {
        let start = mom_clock::now() - chrono::Duration::hours(1);
        let clock = Clock::new(start, 61.0);
        // One hour behind at 61x: caught up after 60 wall seconds.
        assert!((clock.catch_up - 60.0).abs() < 0.5, "{}", clock.catch_up);
        let at_30 = clock.at_wall(30.0);
        assert_eq!((at_30 - start).num_seconds(), 30 * 61);
        let at_90 = clock.at_wall(90.0);
        assert!(((at_90 - start).num_seconds() - (60 * 61 + 30)).abs() <= 1);
        // wall_for inverts at_wall.
        let t = start + chrono::Duration::minutes(20);
        let wall = clock.wall_for(t).duration_since(clock.wall0).as_secs_f64();
        assert!((wall - 20.0 * 60.0 / 61.0).abs() < 0.01);
    }

    #[test]
    fn a_saved_clock_is_resumed_and_never_in_the_future() {
        let dir = std::env::temp_dir().join(format!("mom-sim-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("simulator.json");
        let backfill = Duration::from_secs(3600);
        let fresh = restore(Some(&path), backfill);
        assert!((mom_clock::now() - fresh).num_seconds() >= 3599);
        let clock = Clock::new(mom_clock::now() - chrono::Duration::minutes(5), 1.0);
        save(&path, &clock).unwrap();
        let resumed = restore(Some(&path), backfill);
        assert!(((mom_clock::now() - resumed).num_seconds() - 300).abs() <= 2);
        std::fs::write(&path, r#"{"sim_time":"2999-01-01T00:00:00Z"}"#).unwrap();
        assert!(restore(Some(&path), backfill) <= mom_clock::now());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
