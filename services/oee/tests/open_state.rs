//! The open state (a unit's last state, with no later fact) and periods that are still running
//! or lie in the future, as `docs/oee.md` states the rule: the stored periods are those that
//! start before the unit's latest fact (a break announced for later makes its hour exist), each
//! counting the open state to its end; nothing depends on the time the projection runs or on
//! how the messages are grouped. Live (a message per transaction, with restarts and a
//! redelivery), a rebuild (everything in one transaction) and another arrival order give the
//! same tables, for a plant whose last facts sit just before an hour, a shift and a day
//! boundary. On SQLite and on Postgres.

#![allow(clippy::unwrap_used)]

mod common;

use common::{at, counted, page, production, projection, running, stopped};
use mom_projection::{Message, ReadModels};
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::PlannedShutdownScheduled;

const UNIT: &str = "press-1";

/// A break of `minutes` announced for `from` (minutes after midnight of the test's day).
fn announced_break(from: i64, minutes: i64) -> Message {
    production(
        UNIT,
        Event::PlannedShutdownScheduled(PlannedShutdownScheduled {
            from: at(from),
            until: at(from + minutes),
            reason: "break".into(),
        }),
    )
}

/// A unit that runs with counts and a stop from `end - 150` minutes, reports its last count
/// two minutes before `end` (an hour, shift or day boundary), and has a 55-minute break
/// announced an hour ahead, starting at `end` (its end plus the startup window reaches into the
/// next hour, which has no row all the same): the open state (running) reaches past the
/// boundary into the announced break.
fn story(end: i64) -> Vec<Message> {
    let start = end - 150;
    let mut messages = vec![running(UNIT, start)];
    for k in 1..=5 {
        messages.push(counted(UNIT, start + 20 * k, 100 + k as u64));
    }
    messages.push(stopped(UNIT, start + 101, "jam"));
    messages.push(announced_break(end, 55));
    messages.push(running(UNIT, start + 104));
    messages.push(counted(UNIT, end - 2, 77));
    messages
}

type Row = (String, String, i64, i64, i64, i64, i64, i64);

async fn periods(models: &ReadModels) -> Vec<Row> {
    sqlx::query_as(
        "SELECT equipment, granularity, start_ms, calendar_ms, planned_production_ms, \
         run_ms, reduced_speed_ms, total_count FROM oee_periods \
         ORDER BY equipment, granularity, start_ms",
    )
    .fetch_all(models.pool())
    .await
    .unwrap()
}

async fn fresh(url: &str) -> ReadModels {
    let models = ReadModels::connect(url).await.unwrap();
    let projection = projection(None);
    models.migrate(&projection).await.unwrap();
    models
}

/// Applies `messages` one per transaction, with a restart (a new projection over the same
/// tables) every `restart_every` messages and the message before each restart delivered again.
async fn live(models: &ReadModels, messages: &[Message], restart_every: usize) {
    let mut current = projection(None);
    for (i, message) in messages.iter().enumerate() {
        page(&current, models, std::slice::from_ref(message)).await;
        if (i + 1) % restart_every == 0 {
            current = projection(None);
            page(&current, models, std::slice::from_ref(message)).await;
        }
    }
}

async fn check(url_of: impl Fn(&str) -> String) {
    // Minutes after midnight of the test's day: 10:00 (an hour), 14:00 (the end of shift
    // `early` and the start of `late`) and midnight (a day).
    for (name, end) in [("hour", 600), ("shift", 840), ("day", 1440)] {
        let messages = common::Sequencer::default().stamp_all(story(end));
        let live_models = fresh(&url_of(&format!("{name}_live"))).await;
        live(&live_models, &messages, 3).await;
        let rebuilt_models = fresh(&url_of(&format!("{name}_rebuilt"))).await;
        page(&projection(None), &rebuilt_models, &messages).await;
        // The same facts recorded in the opposite order (each event-time fact late).
        let mut reversed = story(end);
        reversed.reverse();
        let reversed = common::Sequencer::default().stamp_all(reversed);
        let reversed_models = fresh(&url_of(&format!("{name}_reversed"))).await;
        live(&reversed_models, &reversed, 4).await;

        let rows = periods(&live_models).await;
        assert_eq!(
            rows,
            periods(&rebuilt_models).await,
            "{name}: live vs rebuilt"
        );
        assert_eq!(
            rows,
            periods(&reversed_models).await,
            "{name}: arrival order"
        );

        // The hours stored: from the first fact's hour to the hour holding the end of the
        // announced break (the latest fact), none after it.
        let hours: Vec<i64> = rows
            .iter()
            .filter(|r| r.1 == "hour")
            .map(|r| (r.2 / 1000 - common::BASE) / 60)
            .collect();
        let first = (end - 150) / 60 * 60;
        let want: Vec<i64> = (first..end + 60).step_by(60).collect();
        assert_eq!(hours, want, "{name}: stored hours");
        // The hour after the boundary lies in the future of the facts: the open state
        // (running) counts to its end, the break inside it does not take running time out
        // of planned production time, and nothing was counted in it.
        let future = rows
            .iter()
            .find(|r| r.1 == "hour" && (r.2 / 1000 - common::BASE) / 60 == end)
            .unwrap();
        assert_eq!(
            (future.3, future.4, future.5, future.6, future.7),
            (3_600_000, 3_600_000, 3_600_000, 3_600_000, 0),
            "{name}: the future hour"
        );
    }
}

#[tokio::test]
async fn open_state_is_counted_alike_live_and_rebuilt_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    check(|name| format!("sqlite:{}", dir.path().join(format!("{name}.db")).display())).await;
}

#[tokio::test]
async fn open_state_is_counted_alike_live_and_rebuilt_on_postgres() {
    let mut databases = Vec::new();
    for name in ["hour", "shift", "day"] {
        for kind in ["live", "rebuilt", "reversed"] {
            databases.push((
                format!("{name}_{kind}"),
                mom_testkit::TestDatabase::create().await.unwrap(),
            ));
        }
    }
    check(|name| {
        databases
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, db)| db.url.clone())
            .unwrap()
    })
    .await;
}
