//! A period written again writes only the reasons that changed (the projection remembers what
//! it wrote lately). Whatever the transactions, restarts and rollbacks, `oee_reasons` ends equal
//! to that of one projection that applied everything in one transaction, including a reason
//! that a late fact moved to another loss. On SQLite and on Postgres.

#![allow(clippy::unwrap_used)]

mod common;

use common::{at, counted, page, production, projection, running, stopped, transaction};
use mom_projection::{Message, ReadModels};
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::{SetupEnded, SetupStarted};

const UNIT: &str = "press-1";

/// A shift of small stops with three reasons, then a setup reported late that covers the
/// first "jam": its time moves from small stops to setup and adjustments.
fn messages() -> Vec<Message> {
    let mut messages = vec![running(UNIT, 360)];
    for (i, reason) in ["jam", "jam", "sensor", "jam", "blocked", "sensor"]
        .iter()
        .enumerate()
    {
        let minute = 400 + 30 * i as i64;
        messages.push(stopped(UNIT, minute, reason));
        messages.push(running(UNIT, minute + 2 + i as i64 % 2));
        messages.push(counted(UNIT, minute + 20, 40 + i as u64));
    }
    messages.push(production(
        UNIT,
        Event::SetupStarted(SetupStarted {
            next_product: "SKU-A".into(),
            at: at(399),
        }),
    ));
    messages.push(production(
        UNIT,
        Event::SetupEnded(SetupEnded {
            product: "SKU-A".into(),
            at: at(405),
        }),
    ));
    messages
}

type Reason = (String, String, i64, String, String, i64);

async fn reasons(models: &ReadModels) -> Vec<Reason> {
    sqlx::query_as(
        "SELECT equipment, granularity, start_ms, loss, reason, ms FROM oee_reasons \
         ORDER BY equipment, granularity, start_ms, loss, reason",
    )
    .fetch_all(models.pool())
    .await
    .unwrap()
}

/// The shift's reasons of `loss`, by reason.
fn of(reasons: &[Reason], loss: &str) -> Vec<(String, i64)> {
    reasons
        .iter()
        .filter(|r| r.1 == "shift" && r.3 == loss)
        .map(|r| (r.4.clone(), r.5))
        .collect()
}

async fn scenario(stepwise_url: &str, reference_url: &str) {
    let messages = messages();
    let reference_models = ReadModels::connect(reference_url).await.unwrap();
    let reference = projection(Some(7));
    reference_models.migrate(&reference).await.unwrap();
    page(&reference, &reference_models, &messages).await;
    let want = reasons(&reference_models).await;
    assert_eq!(
        of(&want, "small_stops"),
        vec![
            ("blocked".to_owned(), 120_000),
            ("jam".to_owned(), 360_000),
            ("sensor".to_owned(), 300_000)
        ],
        "{want:?}"
    );
    assert_eq!(
        of(&want, "setup_and_adjustments"),
        vec![("jam".to_owned(), 120_000)],
        "{want:?}"
    );

    // One message per transaction, a rolled-back page and a restart half-way.
    let models = ReadModels::connect(stepwise_url).await.unwrap();
    let first = projection(Some(7));
    models.migrate(&first).await.unwrap();
    let half = messages.len() / 2;
    for message in &messages[..half] {
        page(&first, &models, std::slice::from_ref(message)).await;
    }
    transaction(&first, &models, &messages[half..half + 3], false).await;
    page(&first, &models, &messages[half..half + 3]).await;
    let restarted = projection(Some(7));
    for message in &messages[half + 3..] {
        page(&restarted, &models, std::slice::from_ref(message)).await;
    }
    assert_eq!(reasons(&models).await, want);
}

#[tokio::test]
async fn reasons_written_again_equal_those_written_at_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(
        &format!("sqlite:{}", dir.path().join("stepwise.db").display()),
        &format!("sqlite:{}", dir.path().join("reference.db").display()),
    )
    .await;
}

#[tokio::test]
async fn reasons_written_again_equal_those_written_at_once_on_postgres() {
    let stepwise = mom_testkit::TestDatabase::create().await.unwrap();
    let reference = mom_testkit::TestDatabase::create().await.unwrap();
    scenario(&stepwise.url, &reference.url).await;
}

/// A site's reason catalogue as production's topic carries it (key = the site), and stops of
/// one reason spelled three ways plus one the catalogue does not know.
fn catalogue_messages(unit: &str) -> Vec<Message> {
    use mom_proto::production::v1::{
        ReasonCategoryDefined, ReasonDefined, ReasonLossClass, ReasonRetired,
    };
    let mut messages = vec![
        production(
            "site1",
            Event::ReasonCategoryDefined(ReasonCategoryDefined {
                site: "site1".into(),
                category: "mechanical".into(),
                name: "Mechanical".into(),
                at: at(300),
            }),
        ),
        production(
            "site1",
            Event::ReasonDefined(ReasonDefined {
                site: "site1".into(),
                code: "jam".into(),
                name: "Jam".into(),
                category: "mechanical".into(),
                loss_class: ReasonLossClass::SmallStops as i32,
                aliases: vec!["jammed".into()],
                at: at(300),
            }),
        ),
        running(unit, 360),
    ];
    for (minute, reason, length) in [
        (400, "Jam", 2),
        (420, "jammed", 1),
        (440, "JAM", 3),
        (460, "tea", 1),
    ] {
        messages.push(stopped(unit, minute, reason));
        messages.push(running(unit, minute + length));
    }
    // Retired later: history keeps it in its category.
    messages.push(production(
        "site1",
        Event::ReasonRetired(ReasonRetired {
            site: "site1".into(),
            code: "jam".into(),
            at: at(500),
        }),
    ));
    messages
}

type CatalogueRows = Vec<(String, String, String)>;

async fn catalogue_tables(
    models: &ReadModels,
) -> (CatalogueRows, Vec<(String, String, i64)>, CatalogueRows) {
    let categories = sqlx::query_as(
        "SELECT site, category, name FROM oee_reason_categories ORDER BY site, category",
    )
    .fetch_all(models.pool())
    .await
    .unwrap();
    let codes =
        sqlx::query_as("SELECT site, code, retired FROM oee_reason_codes ORDER BY site, code")
            .fetch_all(models.pool())
            .await
            .unwrap();
    let aliases =
        sqlx::query_as("SELECT site, alias, code FROM oee_reason_aliases ORDER BY site, alias")
            .fetch_all(models.pool())
            .await
            .unwrap();
    (categories, codes, aliases)
}

#[tokio::test]
async fn catalogue_paretos_fold_spellings_and_a_rebuild_gives_the_same_tables_on_sqlite() {
    use mom_oee_projection::query::{Queries, Scope};
    let unit = "site1.line1.press";
    let dir = tempfile::tempdir().unwrap();
    let messages = catalogue_messages(unit);
    let stepwise = ReadModels::connect(&format!("sqlite:{}", dir.path().join("a.db").display()))
        .await
        .unwrap();
    let first = projection(Some(7));
    stepwise.migrate(&first).await.unwrap();
    for message in &messages {
        page(&first, &stepwise, std::slice::from_ref(message)).await;
    }
    let rebuilt = ReadModels::connect(&format!("sqlite:{}", dir.path().join("b.db").display()))
        .await
        .unwrap();
    let second = projection(Some(7));
    rebuilt.migrate(&second).await.unwrap();
    page(&second, &rebuilt, &messages).await;
    let tables = catalogue_tables(&stepwise).await;
    assert_eq!(tables, catalogue_tables(&rebuilt).await);
    assert_eq!(
        tables.1,
        vec![("site1".to_owned(), "jam".to_owned(), 1)],
        "retired, still known"
    );

    let base = chrono::DateTime::from_timestamp(common::BASE, 0).unwrap();
    for models in [&stepwise, &rebuilt] {
        let queries = Queries::new(models.pool().clone(), mom_oee::Calendar::default());
        let (total, grouped) = queries
            .losses_grouped(
                &Scope::WorkUnit(unit.into()),
                base + chrono::Duration::hours(6),
                base + chrono::Duration::hours(9),
                None,
            )
            .await
            .unwrap();
        // The engine keeps the spellings; the catalogue folds them into one reason.
        assert_eq!(total.reasons["small_stops"].len(), 4, "{:?}", total.reasons);
        let lines = |groups: &[mom_oee_projection::reason_codes::Group]| {
            groups
                .iter()
                .map(|g| (g.code.clone(), g.name.clone(), g.ms))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            lines(&grouped.by_reason),
            vec![
                ("jam".to_owned(), "Jam".to_owned(), 360_000),
                ("unassigned".to_owned(), "unassigned".to_owned(), 60_000),
            ]
        );
        assert_eq!(
            lines(&grouped.by_category),
            vec![
                ("mechanical".to_owned(), "Mechanical".to_owned(), 360_000),
                ("unassigned".to_owned(), "unassigned".to_owned(), 60_000),
            ]
        );
    }
}
