//! Keyset paging of every list query of the read models, on SQLite and on Postgres: walking
//! every page returns every row exactly once, also when rows are inserted between two page
//! requests (before and after the page boundary, with ties on the leading sort column), and a
//! page token of another query, an edited one or garbage is refused naming `page_token`.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use common::backends;
use mom_projection::ReadModels;
use mom_projections::equipment::query::{DowntimeFilter, EquipmentQueries};
use mom_projections::inventory::{InventoryQueries, StockFilter};
use mom_projections::maintenance::query::{BacklogFilter, MaintenanceQueries};
use mom_projections::orders::{OrderFilter, OrderQueries};
use mom_projections::quality::{CapaFilter, NcrFilter, QualityQueries};
use mom_projections::query::{Page, QueryError, TimeRange};
use sqlx::AnyPool;

/// 2026-03-03T08:00:00Z in milliseconds.
const BASE_MS: i64 = 1_772_524_800_000;

/// Rows there before the first page.
const ROWS: i64 = 30;

fn base() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(BASE_MS).unwrap()
}

/// Row `i`'s id: not in the order of `i`, so the id tie-break does not follow insertion.
fn id(i: i64) -> String {
    format!("r{:04}", (i * 7919) % 10_000)
}

/// Row `i`'s time: seven distinct values, so most rows tie on the leading sort column and a
/// row inserted later lands before or after any page boundary.
fn time_ms(i: i64) -> i64 {
    BASE_MS + (i * 3 % 7) * 60_000
}

/// Inserts row `i` into every table a list query reads.
async fn insert(pool: &AnyPool, i: i64) {
    let (id, t) = (id(i), time_ms(i));
    let statements: [(&str, Vec<Value>); 10] = [
        (
            "INSERT INTO equipment_downtime (id, work_unit, kind, reason, from_ms, to_ms, \
             duration_ms, source, work_order) VALUES ($1, 'press-2', $2, $1, $3, NULL, 0, \
             'production', '')",
            vec![
                id.clone().into(),
                if i % 2 == 0 { "stop" } else { "breakdown" }.into(),
                t.into(),
            ],
        ),
        (
            "INSERT INTO equipment_intervals (id, work_unit, state, reason, product, from_ms, \
             to_ms) VALUES ($1, 'press-1', $2, $1, '', $3, NULL)",
            vec![
                id.clone().into(),
                if i % 2 == 0 { "running" } else { "stopped" }.into(),
                t.into(),
            ],
        ),
        (
            "INSERT INTO maintenance_work_orders (work_order, kind, priority, status, work_unit, \
             reason, description, plan, occurrence, requested_ms) VALUES \
             ($1, 'corrective', 'high', 'requested', 'press-1', '', '', '', 0, $2)",
            vec![id.clone().into(), t.into()],
        ),
        (
            "INSERT INTO maintenance_pm (work_unit, plan, occurrence, due_ms, work_order, \
             completed_ms, cancelled, status) VALUES ('press-1', $1, $2, $3, '', NULL, 0, 'open')",
            vec![
                if i % 3 == 0 { "lube" } else { "oil" }.into(),
                i.into(),
                t.into(),
            ],
        ),
        (
            "INSERT INTO orders_orders (order_id, product, quantity, status, held, hold_reason, \
             held_ms, created_ms, last_operation, good, scrap, operations_total, \
             operations_done, progress) VALUES ($1, 'bracket', 1, 'created', 0, '', 0, $2, 0, \
             0, 0, 0, 0, 0.0)",
            vec![id.clone().into(), t.into()],
        ),
        (
            "INSERT INTO inventory_lots (lot, material, supplier_lot, expiry_ms, origin, \
             order_id, work_unit, created_ms, consumed, scrapped) VALUES \
             ($1, 'steel', '', $2, 'received', '', '', 0, 0, 0)",
            vec![id.clone().into(), t.into()],
        ),
        (
            "INSERT INTO inventory_stock (lot, location, quantity) VALUES ($1, $2, 1)",
            vec![
                id.clone().into(),
                if i % 2 == 0 { "WH1" } else { "WH2" }.into(),
            ],
        ),
        (
            "INSERT INTO inventory_holds (lot, hold, reason, since_ms) VALUES ($1, 'NCR-1', '', $2)",
            vec![id.clone().into(), t.into()],
        ),
        (
            "INSERT INTO quality_ncrs (ncr_id, product, work_unit, quantity, description, \
             inspection_id, status, opened_ms, remaining, scrap, rework, use_as_is, \
             return_to_supplier) VALUES ($1, 'bracket', '', 1, '', '', 'open', $2, 1, 0, 0, 0, 0)",
            vec![id.clone().into(), t.into()],
        ),
        (
            "INSERT INTO quality_capas (capa_id, kind, title, owner, due_ms, status, opened_ms, \
             reopened) VALUES ($1, 'corrective', '', '', $2, 'open', 0, 0)",
            vec![id.clone().into(), t.into()],
        ),
    ];
    for (sql, values) in statements {
        let mut query = sqlx::query(sql);
        for value in values {
            query = match value {
                Value::Int(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
            };
        }
        query.execute(pool).await.unwrap();
    }
}

enum Value {
    Int(i64),
    Text(String),
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

/// Every paged list query.
#[derive(Debug, Clone, Copy)]
enum List {
    Downtime,
    Timeline,
    Backlog,
    PmOccurrences,
    Orders,
    Lots,
    Holds,
    Expiring,
    Ncrs,
    Capas,
}

const LISTS: [List; 10] = [
    List::Downtime,
    List::Timeline,
    List::Backlog,
    List::PmOccurrences,
    List::Orders,
    List::Lots,
    List::Holds,
    List::Expiring,
    List::Ncrs,
    List::Capas,
];

/// One page of `list`: the ids of its rows and the next page's token.
async fn fetch(
    list: List,
    pool: &AnyPool,
    page: Page,
) -> Result<(Vec<String>, String), QueryError> {
    let far = base() + Duration::days(1);
    let ids = |rows: Vec<String>, next: String| Ok((rows, next));
    match list {
        List::Downtime => {
            let (rows, next) = EquipmentQueries::new(pool.clone())
                .downtime(&DowntimeFilter::default(), page)
                .await?;
            ids(rows.into_iter().map(|r| r.reason).collect(), next)
        }
        List::Timeline => {
            let (rows, next) = EquipmentQueries::new(pool.clone())
                .timeline("press-1", TimeRange::default(), page)
                .await?;
            ids(rows.into_iter().map(|r| r.reason).collect(), next)
        }
        List::Backlog => {
            let filter = BacklogFilter::new("", "all", "", TimeRange::default())?;
            let (rows, next) = MaintenanceQueries::new(pool.clone())
                .backlog(&filter, page, far)
                .await?;
            ids(rows.into_iter().map(|r| r.work_order).collect(), next)
        }
        List::PmOccurrences => {
            let range = TimeRange::new(Some(base() - Duration::days(1)), Some(far))?;
            let (_, rows, next) = MaintenanceQueries::new(pool.clone())
                .pm_compliance(None, None, range, far, page)
                .await?;
            ids(rows.into_iter().map(|r| id(r.occurrence)).collect(), next)
        }
        List::Orders => {
            let (rows, next) = OrderQueries::new(pool.clone())
                .list(&OrderFilter::default(), page)
                .await?;
            ids(rows.into_iter().map(|r| r.order_id).collect(), next)
        }
        List::Lots => {
            let (rows, next) = InventoryQueries::new(pool.clone())
                .lots(&StockFilter::default(), page)
                .await?;
            ids(rows.into_iter().map(|r| r.lot).collect(), next)
        }
        List::Holds => {
            let (rows, next) = InventoryQueries::new(pool.clone())
                .holds("", "", page)
                .await?;
            ids(rows.into_iter().map(|r| r.lot).collect(), next)
        }
        List::Expiring => {
            let within = std::time::Duration::from_secs(60);
            let (rows, next) = InventoryQueries::new(pool.clone())
                .expiring(far, within, "", "", page)
                .await?;
            ids(rows.into_iter().map(|r| r.lot).collect(), next)
        }
        List::Ncrs => {
            let filter = NcrFilter::new("", "", "", TimeRange::default())?;
            let (rows, next) = QualityQueries::new(pool.clone())
                .ncrs(&filter, page)
                .await?;
            ids(rows.into_iter().map(|(r, _)| r.ncr_id).collect(), next)
        }
        List::Capas => {
            let filter = CapaFilter::new("", "", false, far)?;
            let (rows, next) = QualityQueries::new(pool.clone())
                .capas(&filter, page)
                .await?;
            ids(rows.into_iter().map(|(r, _)| r.capa_id).collect(), next)
        }
    }
}

async fn models_with_tables(models: &ReadModels) {
    let topics = mom_bus::TopicNames::new("mom.");
    models
        .migrate(&mom_projections::equipment::projection(&topics))
        .await
        .unwrap();
    models
        .migrate(&mom_projections::maintenance::projection(&topics))
        .await
        .unwrap();
    models
        .migrate(&mom_projections::orders::projection(&topics))
        .await
        .unwrap();
    models
        .migrate(&mom_projections::inventory::projection(&topics))
        .await
        .unwrap();
    models
        .migrate(&mom_projections::quality::projection(&topics))
        .await
        .unwrap();
    sqlx::query("INSERT INTO equipment_units (work_unit) VALUES ('press-1')")
        .execute(models.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn every_list_pages_each_row_once_while_rows_are_inserted_on_sqlite_and_postgres() {
    for (backend, models, _storage) in backends().await {
        models_with_tables(&models).await;
        let pool = models.pool();
        for i in 0..ROWS {
            insert(pool, i).await;
        }
        let mut next_row = ROWS;
        for list in LISTS {
            let there: BTreeSet<String> = (0..next_row).map(id).collect();
            let (all, _) = fetch(list, pool, Page::new(1000, "").unwrap())
                .await
                .unwrap();
            assert_eq!(
                all.iter().cloned().collect::<BTreeSet<_>>(),
                there,
                "{backend} {list:?}: one page holds every row"
            );
            let mut seen = Vec::new();
            let mut token = String::new();
            let mut pages = 0;
            loop {
                let (rows, next) = fetch(list, pool, Page::new(4, &token).unwrap())
                    .await
                    .unwrap();
                assert!(rows.len() <= 4);
                seen.extend(rows);
                pages += 1;
                assert!(pages < 200, "{backend} {list:?}: the walk ends");
                if next.is_empty() {
                    break;
                }
                token = next;
                if pages > 5 {
                    continue;
                }
                // Two rows between two requests: their times tie with rows already listed and
                // with rows still to come.
                for _ in 0..2 {
                    insert(pool, next_row).await;
                    next_row += 1;
                }
            }
            let unique: BTreeSet<String> = seen.iter().cloned().collect();
            assert_eq!(
                unique.len(),
                seen.len(),
                "{backend} {list:?}: a row twice: {seen:?}"
            );
            let missing: Vec<&String> = there.difference(&unique).collect();
            assert!(
                missing.is_empty(),
                "{backend} {list:?}: rows skipped: {missing:?}"
            );
            assert!(pages >= 8, "{backend} {list:?}: {pages} pages");
        }
    }
}

#[tokio::test]
async fn a_token_of_another_query_or_an_edited_one_is_refused_on_sqlite_and_postgres() {
    for (backend, models, _storage) in backends().await {
        models_with_tables(&models).await;
        let pool = models.pool();
        for i in 0..10 {
            insert(pool, i).await;
        }
        let (_, orders_token) = fetch(List::Orders, pool, Page::new(2, "").unwrap())
            .await
            .unwrap();
        assert!(orders_token.starts_with("p2."), "{orders_token}");
        for list in LISTS {
            let (_, own) = fetch(list, pool, Page::new(2, "").unwrap()).await.unwrap();
            let mut edited = own.clone().into_bytes();
            edited[5] = if edited[5] == b'0' { b'1' } else { b'0' };
            let edited = String::from_utf8(edited).unwrap();
            let foreign = match list {
                List::Orders => {
                    fetch(List::Ncrs, pool, Page::new(2, "").unwrap())
                        .await
                        .unwrap()
                        .1
                }
                _ => orders_token.clone(),
            };
            for bad in [foreign, edited, "p1.2".to_owned()] {
                let err = match Page::new(2, &bad) {
                    Err(err) => err,
                    Ok(page) => fetch(list, pool, page).await.unwrap_err(),
                };
                assert!(
                    matches!(&err, QueryError::InvalidArgument { field, .. } if field == "page_token"),
                    "{backend} {list:?} {bad}: {err}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_genealogy_wider_than_its_cap_is_truncated_on_sqlite_and_postgres() {
    use mom_projections::inventory::{Direction, MAX_LOTS};
    for (backend, models, _storage) in backends().await {
        models_with_tables(&models).await;
        let pool = models.pool();
        insert(pool, 0).await;
        let coil = id(0);
        // One coil went into more lots than a walk may name.
        let outputs = MAX_LOTS as i64 + 1_000;
        for chunk in (0..outputs).collect::<Vec<_>>().chunks(500) {
            let values: Vec<String> = chunk
                .iter()
                .map(|n| format!("('{coil}', 'part-{n:06}', 'order-1')"))
                .collect();
            sqlx::query(&format!(
                "INSERT INTO inventory_links (input_lot, output_lot, order_id) VALUES {}",
                values.join(", ")
            ))
            .execute(pool)
            .await
            .unwrap();
        }
        let started = std::time::Instant::now();
        let (links, lots, truncated) = InventoryQueries::new(pool.clone())
            .genealogy(&coil, Direction::Forward, 64)
            .await
            .unwrap();
        let took = started.elapsed();
        assert!(truncated, "{backend}");
        assert_eq!(lots.len(), MAX_LOTS, "{backend}");
        assert_eq!(
            links.len(),
            MAX_LOTS - 1,
            "{backend}: links name listed lots only"
        );
        eprintln!("{backend}: a genealogy truncated at {MAX_LOTS} lots took {took:?}");
        let (links, _, truncated) = InventoryQueries::new(pool.clone())
            .genealogy(&coil, Direction::Forward, 1)
            .await
            .unwrap();
        assert!(truncated && links.len() == MAX_LOTS - 1, "{backend}");
    }
}
