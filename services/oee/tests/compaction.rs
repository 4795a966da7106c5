//! The projection forgets facts older than the lateness horizon (its memory stays flat however
//! long the history), and a fact that still changes a forgotten period is applied exactly: the
//! stored periods equal those of a projection that never forgot anything. On SQLite and on
//! Postgres, across a restart, and from a read model written before `oee_inputs` existed; with
//! messages kept one by one (without a sequence) and in batches (with one).

#![allow(clippy::unwrap_used)]

mod common;

use common::{counted, page, projection, running, stopped, Sequencer, BASE, DAY};
use mom_projection::{Message, ReadModels};

/// Ten days of two units: running from 06:00 with a count every hour and a stop at 22:00.
fn days() -> Vec<Vec<Message>> {
    (0..10)
        .map(|day| {
            let mut page = Vec::new();
            for unit in ["press-1", "press-2"] {
                let start = day * DAY + 360;
                page.push(running(unit, start));
                for hour in 1..=16 {
                    page.push(counted(unit, start + hour * 60 - 7, 50 + hour as u64));
                }
                page.push(stopped(unit, start + 16 * 60, "jam"));
            }
            page
        })
        .collect()
}

/// Facts of days 1 to 3 arriving on day 10: a micro-stop and a late count on a day the engine
/// forgot, and a count inside the last day it keeps.
fn late() -> Vec<Message> {
    vec![
        stopped("press-1", DAY + 600, "jam"),
        running("press-1", DAY + 603),
        counted("press-1", 2 * DAY + 700, 7),
        counted("press-2", 9 * DAY + 700, 3),
    ]
}

type Row = (String, String, i64, i64, i64, i64, i64, i64, i64, i64);

/// Every stored period (but its revision and late-fact count, which depend on arrival).
async fn periods(models: &ReadModels) -> Vec<Row> {
    sqlx::query_as(
        "SELECT equipment, granularity, start_ms, total_count, run_ms, net_run_ms, \
         planned_production_ms, equipment_failure_ms, small_stops_ms, fully_productive_ms \
         FROM oee_periods ORDER BY equipment, granularity, start_ms",
    )
    .fetch_all(models.pool())
    .await
    .unwrap()
}

async fn day_total(models: &ReadModels, unit: &str, day: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT total_count FROM oee_periods WHERE equipment = $1 AND granularity = 'day' \
         AND start_ms = $2",
    )
    .bind(unit)
    .bind((BASE + day * DAY * 60) * 1000)
    .fetch_one(models.pool())
    .await
    .unwrap()
}

/// `sequenced`: the messages carry their aggregate's sequence, as every domain event does, and
/// are kept in batches; without, each is kept in a row of its own.
async fn scenario(forgetting_url: &str, reference_url: &str, sequenced: bool) {
    let mut sequencer = Sequencer::default();
    let mut stamp = |messages: Vec<Message>| {
        if sequenced {
            sequencer.stamp_all(messages)
        } else {
            messages
        }
    };
    // One projection forgets facts older than a day; the reference keeps them all.
    let forgetting_models = ReadModels::connect(forgetting_url).await.unwrap();
    let reference_models = ReadModels::connect(reference_url).await.unwrap();
    let forgetting = projection(Some(1));
    let reference = projection(None);
    forgetting_models.migrate(&forgetting).await.unwrap();
    reference_models.migrate(&reference).await.unwrap();
    for day in days() {
        let day = stamp(day);
        page(&forgetting, &forgetting_models, &day).await;
        page(&reference, &reference_models, &day).await;
    }
    assert_eq!(
        periods(&forgetting_models).await,
        periods(&reference_models).await
    );
    let before = day_total(&reference_models, "press-1", 2).await;

    let late = stamp(late());
    page(&forgetting, &forgetting_models, &late[..2]).await;
    page(&reference, &reference_models, &late[..2]).await;
    assert_eq!(
        periods(&forgetting_models).await,
        periods(&reference_models).await,
        "a micro-stop on a forgotten day"
    );

    // A restarted process reloads (and forgets again) from what is stored.
    let restarted = projection(Some(1));
    page(&restarted, &forgetting_models, &late[2..]).await;
    page(&reference, &reference_models, &late[2..]).await;
    assert_eq!(
        day_total(&forgetting_models, "press-1", 2).await,
        before + 7
    );
    assert_eq!(
        periods(&forgetting_models).await,
        periods(&reference_models).await,
        "late counts after a restart"
    );

    // The late facts are flagged where they landed.
    let late_facts: i64 = sqlx::query_scalar(
        "SELECT late_facts FROM oee_periods WHERE equipment = 'press-1' AND granularity = 'day' \
         AND start_ms = $1",
    )
    .bind((BASE + 2 * DAY * 60) * 1000)
    .fetch_one(forgetting_models.pool())
    .await
    .unwrap();
    assert_eq!(late_facts, 1);

    // Every message is stored once, under the unit whose facts it gave: in rows of its own, or
    // in batches whose guard holds each unit's last sequence.
    let stored = |sql: &'static str| async {
        sqlx::query_as::<_, (String, i64)>(sql)
            .fetch_all(forgetting_models.pool())
            .await
            .unwrap()
    };
    let singles =
        stored("SELECT equipment, COUNT(*) FROM oee_inputs GROUP BY equipment ORDER BY equipment")
            .await;
    let batches = stored(
        "SELECT equipment, COUNT(*) FROM oee_input_batches GROUP BY equipment ORDER BY equipment",
    )
    .await;
    let guard = stored("SELECT aggregate, sequence FROM oee_sequences ORDER BY aggregate").await;
    let units = |a: i64, b: i64| vec![("press-1".to_owned(), a), ("press-2".to_owned(), b)];
    if sequenced {
        assert_eq!(singles, vec![]);
        // A batch per transaction that gave the unit facts: ten days, and one or two late pages.
        assert_eq!(batches, units(12, 11));
        assert_eq!(
            guard,
            vec![
                ("work_unit/press-1".to_owned(), 183),
                ("work_unit/press-2".to_owned(), 181)
            ]
        );
    } else {
        assert_eq!(singles, units(183, 181));
        assert_eq!((batches, guard), (vec![], vec![]));
    }
}

#[tokio::test]
async fn forgetting_old_facts_changes_no_stored_period_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    for sequenced in [false, true] {
        scenario(
            &format!(
                "sqlite:{}",
                dir.path()
                    .join(format!("forgetting-{sequenced}.db"))
                    .display()
            ),
            &format!(
                "sqlite:{}",
                dir.path()
                    .join(format!("reference-{sequenced}.db"))
                    .display()
            ),
            sequenced,
        )
        .await;
    }
}

#[tokio::test]
async fn forgetting_old_facts_changes_no_stored_period_on_postgres() {
    for sequenced in [false, true] {
        let forgetting = mom_testkit::TestDatabase::create().await.unwrap();
        let reference = mom_testkit::TestDatabase::create().await.unwrap();
        scenario(&forgetting.url, &reference.url, sequenced).await;
    }
}

#[tokio::test]
async fn messages_stored_before_oee_inputs_are_moved_over_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("oee.db").display());
    let models = ReadModels::connect(&url).await.unwrap();
    // The table an earlier version kept its messages in, with the start of a run.
    let start = running("press-1", 360);
    sqlx::query(
        "CREATE TABLE oee_messages (event_id TEXT PRIMARY KEY, topic TEXT NOT NULL, \
         payload BYTEA NOT NULL)",
    )
    .execute(models.pool())
    .await
    .unwrap();
    sqlx::query("INSERT INTO oee_messages (event_id, topic, payload) VALUES ($1, $2, $3)")
        .bind(start.event_id.to_string())
        .bind(start.topic.as_str())
        .bind(start.payload.as_slice())
        .execute(models.pool())
        .await
        .unwrap();
    let projection = projection(Some(7));
    models.migrate(&projection).await.unwrap();
    let moved: Vec<(i64, String)> = sqlx::query_as("SELECT seq, equipment FROM oee_inputs")
        .fetch_all(models.pool())
        .await
        .unwrap();
    assert_eq!(moved, vec![(1, "*".to_owned())]);
    // The run started by the moved message holds the count made in its first hour.
    page(&projection, &models, &[counted("press-1", 419, 60)]).await;
    let (run_ms, total): (i64, i64) = sqlx::query_as(
        "SELECT run_ms, total_count FROM oee_periods WHERE equipment = 'press-1' \
         AND granularity = 'hour' AND start_ms = $1",
    )
    .bind((BASE + 360 * 60) * 1000)
    .fetch_one(models.pool())
    .await
    .unwrap();
    assert_eq!((run_ms, total), (3_600_000, 60));
    // A second migration moves nothing twice.
    models.migrate(&projection).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oee_inputs")
        .fetch_one(models.pool())
        .await
        .unwrap();
    assert_eq!(rows, 2);
}
