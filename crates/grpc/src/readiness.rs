//! Readiness: whether a service can answer with current data right now. A service registers
//! probes (its store answers, its read-model database answers, its projections make progress);
//! a task runs them every few seconds and sets the gRPC health status of the service (and the
//! server-wide status `""`) to SERVING when every probe passed, NOT_SERVING otherwise, logging
//! each change with the reasons. `GET /readyz` answers the last report as JSON: 200 when ready,
//! 503 with the failing probes when not.
//!
//! Invariant: a service is never reported SERVING before its probes passed once.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

type ProbeFn =
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync + 'static;

/// The probes, by name, in the order they were added.
type Probes = Vec<(String, Arc<ProbeFn>)>;

/// How long one probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How often the probes run.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// The last verdict of the probes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Every probe passed.
    pub ready: bool,
    /// One line per failing probe: `name: why`.
    pub problems: Vec<String>,
}

/// A service's readiness probes and their last report; cheap to clone.
#[derive(Clone)]
pub struct Readiness {
    probes: Arc<Mutex<Probes>>,
    report: Arc<Mutex<Report>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("report", &self.report())
            .finish()
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    /// Returns readiness without probes, not ready until they ran once.
    pub fn new() -> Self {
        Self {
            probes: Arc::new(Mutex::new(Vec::new())),
            report: Arc::new(Mutex::new(Report {
                ready: false,
                problems: vec!["starting: not checked yet".to_owned()],
            })),
        }
    }

    /// Returns the readiness of a read-side service: its read-model database answers, and none
    /// of its projections `names` reports a problem (a stalled consumer, a failing source:
    /// `mom_projection::status`).
    pub fn read_side(models: &mom_projection::ReadModels, names: &[&'static str]) -> Self {
        let readiness = Self::new();
        readiness.add("read-model database", {
            let models = models.clone();
            move || {
                let models = models.clone();
                async move { models.ping().await.map_err(|err| err.to_string()) }
            }
        });
        let names = names.to_vec();
        readiness.add("projections", move || {
            let problems = mom_projection::status::problems_of(&names);
            async move {
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(problems.join("; "))
                }
            }
        });
        readiness
    }

    /// Adds the probe `name`: `Ok` when what it checks answers, else why not.
    pub fn add<F, Fut>(&self, name: &str, probe: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let probe: Arc<ProbeFn> = Arc::new(move || Box::pin(probe()));
        if let Ok(mut probes) = self.probes.lock() {
            probes.push((name.to_owned(), probe));
        }
    }

    /// Sets the report (the probes' next run replaces it): for the start-up phase, before the
    /// probes are added.
    pub fn set(&self, report: Report) {
        if let Ok(mut last) = self.report.lock() {
            *last = report;
        }
    }

    /// Returns the last report.
    pub fn report(&self) -> Report {
        self.report
            .lock()
            .map(|report| report.clone())
            .unwrap_or_else(|_| Report {
                ready: false,
                problems: vec!["readiness state poisoned".to_owned()],
            })
    }

    /// Runs every probe once (each within 3 s) and stores the report.
    pub async fn check(&self) -> Report {
        let probes: Probes = self
            .probes
            .lock()
            .map(|probes| probes.clone())
            .unwrap_or_default();
        let mut problems = Vec::new();
        for (name, probe) in probes {
            match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => problems.push(format!("{name}: {why}")),
                Err(_) => problems.push(format!(
                    "{name}: no answer within {}s",
                    PROBE_TIMEOUT.as_secs()
                )),
            }
        }
        let report = Report {
            ready: problems.is_empty(),
            problems,
        };
        self.set(report.clone());
        report
    }

    /// Runs the probes every `every` until `shutdown`, setting `service_name`'s health status
    /// (and the server's, `""`) from each report and logging every change.
    pub async fn run(
        self,
        health: HealthReporter,
        service_name: &'static str,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let mut serving = None;
        loop {
            let report = self.check().await;
            if serving != Some(report.ready) {
                let status = if report.ready {
                    tracing::info!(service = service_name, "ready: health SERVING");
                    ServingStatus::Serving
                } else {
                    tracing::warn!(
                        service = service_name,
                        problems = %report.problems.join("; "),
                        "not ready: health NOT_SERVING"
                    );
                    ServingStatus::NotServing
                };
                health.set_service_status(service_name, status).await;
                health.set_service_status("", status).await;
                serving = Some(report.ready);
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Returns the HTTP answer to `GET /readyz`: 200 or 503, with the report as JSON.
    pub fn http_answer(&self) -> (http::StatusCode, String) {
        let report = self.report();
        let status = if report.ready {
            http::StatusCode::OK
        } else {
            http::StatusCode::SERVICE_UNAVAILABLE
        };
        let body = serde_json::to_string(&report)
            .unwrap_or_else(|_| r#"{"ready":false,"problems":["report not encoded"]}"#.to_owned());
        (status, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_is_the_conjunction_of_the_probes_and_readyz_says_why() {
        let readiness = Readiness::new();
        assert!(
            !readiness.report().ready,
            "not ready before the first check"
        );
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        readiness.add("store", {
            let up = up.clone();
            move || {
                let up = up.load(std::sync::atomic::Ordering::SeqCst);
                async move {
                    if up {
                        Ok(())
                    } else {
                        Err("connection refused".to_owned())
                    }
                }
            }
        });
        assert!(readiness.check().await.ready);
        assert_eq!(readiness.http_answer().0, http::StatusCode::OK);
        up.store(false, std::sync::atomic::Ordering::SeqCst);
        let report = readiness.check().await;
        assert_eq!(
            report.problems,
            vec!["store: connection refused".to_owned()]
        );
        let (status, body) = readiness.http_answer();
        assert_eq!(status, http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            r#"{"ready":false,"problems":["store: connection refused"]}"#
        );
    }
}
