//! Reads of the OEE read model for the query API: figures per period for a work unit or a
//! hierarchy node, summed from the stored work-unit rows (times and counts add; ratios come from
//! the sums), weeks summed from days, and the loss Pareto.
//!
//! With an `as_of` instant, a period still in progress at it is answered with the figures of
//! `[start, as_of)`, folded by the projection's in-memory engine (the same fold as the stored
//! rows, only cut at `as_of`), and periods starting at or after it are left out.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mom_oee::{Calendar, Figures, Granularity, Millis};
use sqlx::{AnyPool, Row as _};

use crate::projection::{granularity_name, paretos, OeeProjection};

/// Which equipment a query is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One work unit.
    WorkUnit(String),
    /// A hierarchy node: `site`, `area` or `work_center`, and its id.
    Node(&'static str, String),
}

impl Scope {
    /// Returns what the scope is called in messages, e.g. `work center "wc-1"`.
    pub fn describe(&self) -> String {
        match self {
            Scope::WorkUnit(id) => format!("work unit {id:?}"),
            Scope::Node(level, id) => format!("{} {id:?}", level.replace('_', " ")),
        }
    }
}

/// Why a query was refused.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request is malformed (gRPC INVALID_ARGUMENT with a `google.rpc.BadRequest` naming
    /// `field`, HTTP 400 with `field`).
    #[error("{message}")]
    InvalidArgument {
        /// The request field or query parameter at fault (`from`, `granularity`, `scope`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The scope names equipment the projection does not know (gRPC NOT_FOUND, HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The read model could not be read (gRPC UNAVAILABLE, HTTP 503).
    #[error("read model: {0}")]
    Database(#[from] sqlx::Error),
    /// `as_of` was asked of a query API that runs without the projection's engine (gRPC
    /// UNAVAILABLE, HTTP 503).
    #[error("as_of needs the oee projection running in this process")]
    NoLiveEngine,
}

impl QueryError {
    /// Returns an invalid argument naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// One loss of a Pareto: its name, total milliseconds and (reason, milliseconds), largest first.
pub type LossReasons = (String, i64, Vec<(String, i64)>);

/// Figures of one scope over one period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// First instant.
    pub start: DateTime<Utc>,
    /// First instant after.
    pub end: DateTime<Utc>,
    /// Shift name for shifts.
    pub label: String,
    /// The summed figures (their `reasons` are in [`Summary::reasons`]).
    pub figures: Figures,
    /// Time per reason per loss.
    pub reasons: BTreeMap<String, BTreeMap<String, i64>>,
    /// Highest revision among the summed rows.
    pub revision: u64,
    /// Set when the figures (of this period or of one summed into it) were cut at this
    /// instant because the period was in progress then: they cover `[start, as_of)`.
    pub as_of: Option<DateTime<Utc>>,
}

impl Summary {
    fn add(&mut self, other: &Summary) {
        self.figures.add(&other.figures);
        for (loss, reasons) in &other.reasons {
            let mine = self.reasons.entry(loss.clone()).or_default();
            for (reason, ms) in reasons {
                *mine.entry(reason.clone()).or_default() += ms;
            }
        }
        self.revision = self.revision.max(other.revision);
        self.as_of = self.as_of.or(other.as_of);
    }

    /// Returns the reasons of each loss, largest first.
    pub fn pareto(&self) -> Vec<LossReasons> {
        self.reasons
            .iter()
            .map(|(loss, reasons)| {
                let mut ranked: Vec<(String, i64)> =
                    reasons.iter().map(|(r, ms)| (r.clone(), *ms)).collect();
                ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                (loss.clone(), reasons.values().sum(), ranked)
            })
            .collect()
    }
}

/// Longest range per request, by granularity.
fn max_range(granularity: Granularity) -> Duration {
    match granularity {
        Granularity::Hour => Duration::days(93),
        Granularity::Shift => Duration::days(366),
        _ => Duration::days(3 * 366),
    }
}

/// The query side of the OEE read model.
#[derive(Debug, Clone)]
pub struct Queries {
    pool: AnyPool,
    calendar: Calendar,
    /// The projection whose engine computes periods cut at `as_of`.
    live: Option<Arc<OeeProjection>>,
}

const COLUMNS: &str = "equipment, start_ms, end_ms, label, calendar_ms, planned_production_ms, \
    run_ms, net_run_ms, fully_productive_ms, total_count, rejected_count, equipment_failure_ms, \
    setup_and_adjustments_ms, small_stops_ms, reduced_speed_ms, startup_rejects_ms, \
    production_rejects_ms, counts_without_cycle_time, rejects_without_cycle_time, \
    unassigned_stop_ms, late_facts, revision, granularity, \
    (SELECT r.refused_facts FROM oee_refused r WHERE r.equipment = oee_periods.equipment \
    AND r.granularity = oee_periods.granularity AND r.start_ms = oee_periods.start_ms), \
    (SELECT d.disconnected_ms FROM oee_disconnected d WHERE d.equipment = oee_periods.equipment \
    AND d.granularity = oee_periods.granularity AND d.start_ms = oee_periods.start_ms)";

fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// One stored row: (equipment, granularity, start) and its summary.
pub type Stored = (String, String, Summary);

fn summary(row: &sqlx::any::AnyRow) -> Result<Stored, sqlx::Error> {
    let ms = |i: usize| row.try_get::<i64, _>(i).map(Millis);
    let mut figures = Figures {
        calendar_time: ms(4)?,
        planned_production_time: ms(5)?,
        run_time: ms(6)?,
        net_run_time: ms(7)?,
        fully_productive_time: ms(8)?,
        total_count: unsigned(row.try_get(9)?),
        rejected_count: unsigned(row.try_get(10)?),
        ..Figures::default()
    };
    figures.losses.equipment_failure = ms(11)?;
    figures.losses.setup_and_adjustments = ms(12)?;
    figures.losses.small_stops = ms(13)?;
    figures.losses.reduced_speed = ms(14)?;
    figures.losses.startup_rejects = ms(15)?;
    figures.losses.production_rejects = ms(16)?;
    figures.flags.counts_without_cycle_time = unsigned(row.try_get(17)?);
    figures.flags.rejects_without_cycle_time = unsigned(row.try_get(18)?);
    figures.flags.unassigned_stop_time = ms(19)?;
    figures.flags.late_facts = unsigned(row.try_get(20)?);
    figures.flags.refused_facts = unsigned(row.try_get::<Option<i64>, _>(23)?.unwrap_or(0));
    figures.flags.disconnected_time = Millis(row.try_get::<Option<i64>, _>(24)?.unwrap_or(0));
    Ok((
        row.try_get(0)?,
        row.try_get(22)?,
        Summary {
            start: time(row.try_get(1)?),
            end: time(row.try_get(2)?),
            label: row.try_get(3)?,
            figures,
            reasons: BTreeMap::new(),
            revision: unsigned(row.try_get(21)?),
            as_of: None,
        },
    ))
}

impl Queries {
    /// Returns queries over `pool` (the OEE read model) with periods of `calendar`.
    pub fn new(pool: AnyPool, calendar: Calendar) -> Self {
        Self {
            pool,
            calendar,
            live: None,
        }
    }

    /// Returns these queries answering `as_of` with the engine of `projection` (the one that
    /// writes the read model, running in this process).
    pub fn with_live(mut self, projection: Arc<OeeProjection>) -> Self {
        self.live = Some(projection);
        self
    }

    /// Returns the calendar periods are cut by.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// Returns the plant calendar in force for `scope` over `days` local days from `from`
    /// (`crate::calendars::view`).
    pub async fn calendar_view(
        &self,
        scope: &str,
        from: chrono::NaiveDate,
        days: u64,
    ) -> Result<crate::schema::CalendarAnswer, QueryError> {
        crate::calendars::view(&self.pool, &self.calendar, scope, from, days).await
    }

    /// Returns the work units of `scope`, or NOT_FOUND when the projection knows no such
    /// equipment (a node with no work units yet has none, and sums to zero).
    pub async fn members(&self, scope: &Scope) -> Result<Vec<String>, QueryError> {
        match scope {
            Scope::WorkUnit(id) => {
                let known: Option<i64> = sqlx::query_scalar(
                    "SELECT 1 FROM oee_periods WHERE equipment = $1 \
                     UNION SELECT 1 FROM oee_assets WHERE asset = $1 AND level = 'work_unit' \
                     LIMIT 1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                match known {
                    Some(_) => Ok(vec![id.clone()]),
                    None => Err(QueryError::NotFound(format!(
                        "unknown {}: the OEE projection has no facts for it and maintenance registered no such asset",
                        scope.describe()
                    ))),
                }
            }
            Scope::Node(level, id) => {
                let assets: Vec<(String, String, String)> =
                    sqlx::query_as("SELECT asset, level, parent FROM oee_assets")
                        .fetch_all(&self.pool)
                        .await?;
                match assets.iter().find(|(asset, _, _)| asset == id) {
                    Some((_, found, _)) if found == level => {}
                    Some((_, found, _)) => {
                        return Err(QueryError::invalid(
                            "scope",
                            format!(
                                "{id:?} is a {}, not a {}",
                                found.replace('_', " "),
                                level.replace('_', " ")
                            ),
                        ))
                    }
                    None => {
                        return Err(QueryError::NotFound(format!(
                            "unknown {}: maintenance registered no such asset",
                            scope.describe()
                        )))
                    }
                }
                let mut children: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
                for (asset, level, parent) in &assets {
                    children
                        .entry(parent.as_str())
                        .or_default()
                        .push((asset.as_str(), level.as_str()));
                }
                let mut members = Vec::new();
                let mut todo = vec![id.as_str()];
                while let Some(node) = todo.pop() {
                    for (child, level) in children.get(node).into_iter().flatten() {
                        if *level == "work_unit" {
                            members.push((*child).to_owned());
                        } else {
                            todo.push(child);
                        }
                    }
                }
                members.sort();
                Ok(members)
            }
        }
    }

    /// Returns the equipment hierarchy maintenance registered, as (asset, level, parent) sorted
    /// by asset, plus the work units that have figures but no registered asset (with level
    /// `work_unit` and no parent).
    pub async fn assets(&self) -> Result<Vec<(String, String, String)>, QueryError> {
        let mut assets: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT asset, level, parent FROM oee_assets \
             UNION SELECT DISTINCT equipment, 'work_unit', '' FROM oee_periods \
             WHERE equipment NOT IN (SELECT asset FROM oee_assets)",
        )
        .fetch_all(&self.pool)
        .await?;
        assets.sort();
        Ok(assets)
    }

    fn check_range(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
    ) -> Result<(), QueryError> {
        if to <= from {
            return Err(QueryError::invalid(
                "to",
                format!(
                    "range end {} is not after its start {}",
                    to.to_rfc3339(),
                    from.to_rfc3339()
                ),
            ));
        }
        let max = max_range(granularity);
        if to - from > max {
            return Err(QueryError::invalid(
                "to",
                format!(
                    "range of {} days is too large for {} periods (at most {} days per request)",
                    (to - from).num_days(),
                    granularity_name(granularity),
                    max.num_days()
                ),
            ));
        }
        Ok(())
    }

    /// Returns the stored rows of `members` and `granularity` starting in `[from, to)`, with
    /// their reasons when `with_reasons`.
    async fn rows(
        &self,
        members: &[String],
        granularity: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        with_reasons: bool,
    ) -> Result<Vec<Stored>, QueryError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let list = placeholders(4, members.len());
        let sql = format!(
            "SELECT {COLUMNS} FROM oee_periods WHERE granularity = $1 AND start_ms >= $2 \
             AND start_ms < $3 AND equipment IN ({list}) ORDER BY start_ms, equipment"
        );
        let mut query = sqlx::query(&sql)
            .bind(granularity)
            .bind(from.timestamp_millis())
            .bind(to.timestamp_millis());
        for member in members {
            query = query.bind(member);
        }
        let mut rows = Vec::new();
        for row in query.fetch_all(&self.pool).await? {
            rows.push(summary(&row)?);
        }
        if with_reasons && !rows.is_empty() {
            let sql = format!(
                "SELECT equipment, granularity, start_ms, loss, reason, ms FROM oee_reasons \
                 WHERE granularity = $1 AND start_ms >= $2 AND start_ms < $3 \
                 AND equipment IN ({list})"
            );
            let mut query = sqlx::query_as::<_, ReasonRow>(&sql)
                .bind(granularity)
                .bind(from.timestamp_millis())
                .bind(to.timestamp_millis());
            for member in members {
                query = query.bind(member);
            }
            attach_reasons(&mut rows, query.fetch_all(&self.pool).await?);
        }
        Ok(rows)
    }

    /// Returns the stored rows cut at `as_of` (when given): rows starting at or after it are
    /// left out, a row whose period contains it gets the engine's figures of `[start, as_of)`
    /// (and their reasons), the others stay as stored.
    async fn cut(
        &self,
        rows: Vec<Stored>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Vec<Stored>, QueryError> {
        let Some(as_of) = as_of else {
            return Ok(rows);
        };
        let mut out = Vec::with_capacity(rows.len());
        for (equipment, granularity, mut summary) in rows {
            if summary.start >= as_of {
                continue;
            }
            if summary.end > as_of {
                let live = self.live.as_ref().ok_or(QueryError::NoLiveEngine)?;
                if let Some(mut figures) = live
                    .live_figures(&self.pool, &equipment, summary.start, as_of)
                    .await?
                {
                    let mut reasons: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
                    for (loss, pareto) in paretos(&figures.reasons) {
                        for (reason, time) in pareto.ranked() {
                            *reasons
                                .entry(loss.to_owned())
                                .or_default()
                                .entry(reason.to_string())
                                .or_default() += time.0;
                        }
                    }
                    // Stored summaries keep their reasons beside the figures, not in them.
                    figures.reasons = mom_oee::Reasons::default();
                    summary.figures = figures;
                    summary.reasons = reasons;
                    summary.as_of = Some(as_of);
                }
            }
            out.push((equipment, granularity, summary));
        }
        Ok(out)
    }

    /// Figures of `scope` per period of `granularity` starting in `[from, to)` (periods without
    /// data are left out), and their total. With `as_of`, the period in progress at `as_of`
    /// covers only `[start, as_of)` and later periods are left out (weeks sum the cut days).
    pub async fn oee(
        &self,
        scope: &Scope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<(Vec<Summary>, Summary), QueryError> {
        if granularity == Granularity::Custom {
            return Err(QueryError::invalid(
                "granularity",
                "granularity must be hour, shift, day or week",
            ));
        }
        Self::check_range(from, to, granularity)?;
        let members = self.members(scope).await?;
        let periods = if granularity == Granularity::Week {
            // Weeks are summed from days: every day belongs to exactly one week.
            let weeks: Vec<mom_oee::Period> = self
                .calendar
                .periods(Granularity::Week, from, to)
                .into_iter()
                .filter(|w| w.start() >= from)
                .collect();
            let (Some(first), Some(last)) = (weeks.first(), weeks.last()) else {
                return Ok((Vec::new(), Summary::default()));
            };
            let days = self
                .rows(&members, "day", first.start(), last.end(), false)
                .await?;
            let days = self.cut(days, as_of).await?;
            weeks
                .iter()
                .filter_map(|week| {
                    let mut sum = Summary {
                        start: week.start(),
                        end: week.end(),
                        ..Summary::default()
                    };
                    let mut any = false;
                    for (_, _, day) in days
                        .iter()
                        .filter(|(_, _, d)| d.start >= week.start() && d.start < week.end())
                    {
                        sum.add(day);
                        any = true;
                    }
                    any.then_some(sum)
                })
                .collect()
        } else {
            let rows = self
                .rows(&members, granularity_name(granularity), from, to, false)
                .await?;
            group(self.cut(rows, as_of).await?)
        };
        let mut total = Summary {
            start: from,
            end: to,
            ..Summary::default()
        };
        for period in &periods {
            total.add(period);
        }
        Ok((periods, total))
    }

    /// The six losses of `scope` with their reasons, summed over the hours of `[from, to)`;
    /// `from` and `to` must be whole hours of the calendar. With `as_of`, the hour in progress
    /// at `as_of` counts only up to it and later hours are left out.
    pub async fn losses(
        &self,
        scope: &Scope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Summary, QueryError> {
        let rows = self.loss_rows(scope, from, to, as_of).await?;
        Ok(Self::sum_losses(from, to, &rows))
    }

    /// [`Queries::losses`] with the Paretos by category and by reason of the sites' reason
    /// catalogues (`crate::reason_codes`).
    pub async fn losses_grouped(
        &self,
        scope: &Scope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<(Summary, crate::reason_codes::Grouped), QueryError> {
        let rows = self.loss_rows(scope, from, to, as_of).await?;
        let catalogues = crate::reason_codes::Catalogues::read(&self.pool).await?;
        let grouped = crate::reason_codes::group(&rows, &catalogues);
        Ok((Self::sum_losses(from, to, &rows), grouped))
    }

    fn sum_losses(from: DateTime<Utc>, to: DateTime<Utc>, rows: &[Stored]) -> Summary {
        let mut total = Summary {
            start: from,
            end: to,
            ..Summary::default()
        };
        for (_, _, row) in rows {
            total.add(row);
        }
        total
    }

    /// The hour rows of `scope` in `[from, to)` with their reasons, cut at `as_of`.
    async fn loss_rows(
        &self,
        scope: &Scope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Vec<Stored>, QueryError> {
        Self::check_range(from, to, Granularity::Day)?;
        for (name, at) in [("start", from), ("end", to)] {
            if self
                .calendar
                .period_containing(Granularity::Hour, at)
                .start()
                != at
            {
                return Err(QueryError::invalid(
                    name,
                    format!("range {name} {} is not on a whole hour", at.to_rfc3339()),
                ));
            }
        }
        let members = self.members(scope).await?;
        let rows = self.rows(&members, "hour", from, to, true).await?;
        self.cut(rows, as_of).await
    }

    /// Changes after `revision`: for a work unit its changed rows; for a node the sums of the
    /// periods in which any member changed. Granularity `None` means every stored one. Returns
    /// the changes (with their granularity) and the highest revision seen.
    pub async fn changes(
        &self,
        scope: &Scope,
        granularity: Option<Granularity>,
        revision: u64,
    ) -> Result<(Vec<(String, Summary)>, u64), QueryError> {
        let members = self.members(scope).await?;
        if members.is_empty() {
            return Ok((Vec::new(), revision));
        }
        let list = placeholders(2, members.len());
        let sql = format!(
            "SELECT {COLUMNS} FROM oee_periods WHERE revision > $1 AND equipment IN ({list}) \
             ORDER BY revision, granularity, start_ms LIMIT 10000"
        );
        let mut query = sqlx::query(&sql).bind(i64::try_from(revision).unwrap_or(i64::MAX));
        for member in &members {
            query = query.bind(member);
        }
        let mut changed = Vec::new();
        for row in query.fetch_all(&self.pool).await? {
            changed.push(summary(&row)?);
        }
        let wanted = granularity.map(granularity_name);
        let high = changed
            .iter()
            .map(|(_, _, s)| s.revision)
            .max()
            .unwrap_or(revision);
        changed.retain(|(_, g, _)| wanted.is_none_or(|w| w == g));
        if let Scope::WorkUnit(_) = scope {
            return Ok((changed.into_iter().map(|(_, g, s)| (g, s)).collect(), high));
        }
        let mut periods: Vec<(String, DateTime<Utc>)> = changed
            .iter()
            .map(|(_, g, s)| (g.clone(), s.start))
            .collect();
        periods.sort();
        periods.dedup();
        let mut out = Vec::with_capacity(periods.len());
        for (g, start) in periods {
            let rows = self
                .rows(
                    &members,
                    &g,
                    start,
                    start + Duration::milliseconds(1),
                    false,
                )
                .await?;
            if let Some(sum) = group(rows).pop() {
                out.push((g, sum));
            }
        }
        Ok((out, high))
    }

    /// Returns the work-unit rows changed after `revision`, with their reasons, for the first
    /// `revisions` revisions after it (every row of a revision is included).
    pub async fn changed_rows(
        &self,
        revision: u64,
        revisions: i64,
    ) -> Result<Vec<Stored>, QueryError> {
        let after = i64::try_from(revision).unwrap_or(i64::MAX);
        let window = "SELECT DISTINCT revision FROM oee_periods WHERE revision > $1 \
                      ORDER BY revision LIMIT $2";
        let sql = format!(
            "SELECT {COLUMNS} FROM oee_periods WHERE revision IN ({window}) \
             ORDER BY revision, equipment, granularity, start_ms"
        );
        let mut rows = Vec::new();
        for row in sqlx::query(&sql)
            .bind(after)
            .bind(revisions)
            .fetch_all(&self.pool)
            .await?
        {
            rows.push(summary(&row)?);
        }
        if rows.is_empty() {
            return Ok(rows);
        }
        let sql = format!(
            "SELECT r.equipment, r.granularity, r.start_ms, r.loss, r.reason, r.ms \
             FROM oee_reasons r JOIN oee_periods p ON p.equipment = r.equipment \
             AND p.granularity = r.granularity AND p.start_ms = r.start_ms \
             WHERE p.revision IN ({window})"
        );
        let reasons: Vec<ReasonRow> = sqlx::query_as(&sql)
            .bind(after)
            .bind(revisions)
            .fetch_all(&self.pool)
            .await?;
        attach_reasons(&mut rows, reasons);
        Ok(rows)
    }

    /// Returns the highest revision in the read model.
    pub async fn revision(&self) -> Result<u64, QueryError> {
        let revision: Option<i64> = sqlx::query_scalar("SELECT MAX(revision) FROM oee_periods")
            .fetch_one(&self.pool)
            .await?;
        Ok(unsigned(revision.unwrap_or(0)))
    }
}

/// One `oee_reasons` row: equipment, granularity, start_ms, loss, reason, ms.
type ReasonRow = (String, String, i64, String, String, i64);

/// Adds the reason rows to the summaries of their period rows.
fn attach_reasons(rows: &mut [Stored], reasons: Vec<ReasonRow>) {
    let index: HashMap<(String, String, i64), usize> = rows
        .iter()
        .enumerate()
        .map(|(i, (equipment, granularity, s))| {
            (
                (
                    equipment.clone(),
                    granularity.clone(),
                    s.start.timestamp_millis(),
                ),
                i,
            )
        })
        .collect();
    for (equipment, granularity, start_ms, loss, reason, ms) in reasons {
        if let Some(i) = index.get(&(equipment, granularity, start_ms)) {
            *rows[*i]
                .2
                .reasons
                .entry(loss)
                .or_default()
                .entry(reason)
                .or_default() += ms;
        }
    }
}

/// Sums rows with the same start (the members of a node), in time order.
fn group(rows: Vec<Stored>) -> Vec<Summary> {
    let mut out: Vec<Summary> = Vec::new();
    for (_, _, row) in rows {
        match out.last_mut() {
            Some(last) if last.start == row.start => last.add(&row),
            _ => out.push(row),
        }
    }
    out
}
