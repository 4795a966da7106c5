//! Grafana provisioning (deploy/grafana): every dashboard panel's and template variable's SQL
//! runs against Postgres databases migrated to the real read-model schema (the OEE projection's
//! and every read model of `mom-projections`), so a renamed column breaks the build, not the
//! wall screen. Also checks that panels name provisioned datasources and that those databases
//! are the ones deploy/postgres creates.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sqlx::postgres::PgPoolOptions;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn grafana() -> PathBuf {
    root().join("deploy/grafana/provisioning")
}

/// Datasource uid → database name, from the provisioning file.
fn datasources() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(grafana().join("datasources/postgres.yaml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    yaml["datasources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|ds| {
            (
                ds["uid"].as_str().unwrap().to_owned(),
                ds["jsonData"]["database"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn dashboards() -> Vec<(String, Value)> {
    let dir = grafana().join("dashboards/json");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("{name} is not JSON: {err}"));
            (name, value)
        })
        .collect()
}

/// One SQL query of a dashboard: where it is, its datasource uid and its text.
struct Query {
    place: String,
    datasource: String,
    sql: String,
}

fn queries(name: &str, dashboard: &Value) -> Vec<Query> {
    let mut found = Vec::new();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] == "query" {
            found.push(Query {
                place: format!("{name}: variable {}", variable["name"]),
                datasource: variable["datasource"]["uid"].as_str().unwrap().to_owned(),
                sql: variable["query"].as_str().unwrap().to_owned(),
            });
        }
    }
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            found.push(Query {
                place: format!("{name}: panel {}", panel["title"]),
                datasource: target["datasource"]["uid"]
                    .as_str()
                    .or(panel["datasource"]["uid"].as_str())
                    .unwrap()
                    .to_owned(),
                sql: target["rawSql"].as_str().unwrap().to_owned(),
            });
        }
    }
    found
}

/// Expands the Grafana macros and template variables the dashboards use, as Grafana would for
/// 2026-01-01 (a day) and one work unit.
fn expand(sql: &str) -> String {
    let expanded = sql
        .replace("$__unixEpochFrom()", "1767225600")
        .replace("$__unixEpochTo()", "1767312000")
        .replace("$work_unit", "'press-1'")
        .replace("$granularity", "hour");
    assert!(
        !expanded.contains('$'),
        "a macro or variable the test does not know: {sql}"
    );
    expanded
}

#[test]
fn provisioning_names_the_databases_deploy_creates_and_the_mounted_dashboards() {
    let init = std::fs::read_to_string(root().join("deploy/postgres/init-databases.sql")).unwrap();
    for (uid, database) in datasources() {
        assert!(
            init.lines().any(|line| line
                .trim()
                .strip_prefix("CREATE DATABASE ")
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|name| name.trim_end_matches(';') == database)),
            "datasource {uid}: database {database} is not created by init-databases.sql"
        );
        // Tables its owner creates later (at the service's first start) are readable too.
        let owner = init
            .lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix(&format!("CREATE DATABASE {database} OWNER "))
                    .map(|owner| owner.trim_end_matches(';').to_owned())
            })
            .unwrap_or_else(|| panic!("init-databases.sql: {database} has no OWNER"));
        assert!(
            init.contains(&format!(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;"
            )),
            "datasource {uid}: tables {owner} creates in {database} are not granted to grafana_reader"
        );
        assert!(
            init.contains(&format!(
                "GRANT CONNECT ON DATABASE {database} TO grafana_reader;"
            )),
            "datasource {uid}: grafana_reader may not connect to {database}"
        );
    }
    let provider = std::fs::read_to_string(grafana().join("dashboards/mom.yaml")).unwrap();
    let provider: serde_yaml::Value = serde_yaml::from_str(&provider).unwrap();
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    // docker-compose.yml mounts deploy/grafana/provisioning at /etc/grafana/provisioning.
    let compose = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    assert!(compose.contains("./deploy/grafana/provisioning:/etc/grafana/provisioning:ro"));
    let local = path.replacen("/etc/grafana/provisioning", "", 1);
    assert!(
        grafana().join(local.trim_start_matches('/')).is_dir(),
        "the dashboard provider's path {path} is not in deploy/grafana/provisioning"
    );

    let known = datasources();
    let (mut uids, mut titles) = (BTreeSet::new(), BTreeSet::new());
    let all = dashboards();
    assert!(
        all.len() >= 4,
        "OEE, downtime, quality and maintenance dashboards"
    );
    for (name, dashboard) in &all {
        assert!(
            uids.insert(dashboard["uid"].as_str().unwrap().to_owned()),
            "{name}: uid used twice"
        );
        assert!(
            titles.insert(dashboard["title"].as_str().unwrap().to_owned()),
            "{name}: title used twice"
        );
        let mut ids = BTreeSet::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            assert!(
                ids.insert(panel["id"].as_u64().unwrap()),
                "{name}: panel id used twice"
            );
        }
        for query in queries(name, dashboard) {
            assert!(
                known.contains_key(&query.datasource),
                "{}: datasource {} is not provisioned",
                query.place,
                query.datasource
            );
        }
    }
}

/// Creates a database with the read models' real tables: a rebuild from an empty event store
/// migrates them and leaves them empty.
async fn migrated(build: impl AsyncFnOnce(&str, &[String])) -> mom_testkit::TestDatabase {
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Vec::new();
    for domain in ["production", "quality", "maintenance", "inventory"] {
        let url = format!(
            "sqlite:{}",
            dir.path().join(format!("{domain}.db")).display()
        );
        let store = mom_eventstore::EventStore::connect(&url, &Default::default())
            .await
            .unwrap();
        store.close().await;
        sources.push(format!("{domain}={url}"));
    }
    build(&database.url, &sources).await;
    database
}

#[tokio::test]
async fn every_panel_query_runs_against_the_real_schema() {
    let oee = migrated(async |url, sources| {
        mom_oee_projection::rebuild(
            url,
            sources,
            "mom.",
            chrono_tz::UTC,
            std::time::Duration::from_secs(7 * 86_400),
            |_| {},
        )
        .await
        .unwrap();
    })
    .await;
    let read_models = migrated(async |url, sources| {
        for name in mom_projections::READ_MODELS {
            mom_projections::rebuild(name, url, sources, "mom.", |_| {})
                .await
                .unwrap();
        }
    })
    .await;
    let databases = BTreeMap::from([
        ("mom_oee".to_owned(), oee.url.clone()),
        ("mom_projections".to_owned(), read_models.url.clone()),
    ]);
    let mut pools = BTreeMap::new();
    for (uid, database) in datasources() {
        let url = databases
            .get(&database)
            .unwrap_or_else(|| panic!("no test schema for database {database} of {uid}"));
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await
            .unwrap();
        pools.insert(uid, pool);
    }

    let mut ran = 0;
    let mut failures = Vec::new();
    for (name, dashboard) in dashboards() {
        for query in queries(&name, &dashboard) {
            let sql = expand(&query.sql);
            if let Err(err) = sqlx::raw_sql(&sql)
                .fetch_all(&pools[&query.datasource])
                .await
            {
                failures.push(format!("{}: {err}\n  {sql}", query.place));
            }
            ran += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} queries fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ran >= 20, "only {ran} queries");
}
