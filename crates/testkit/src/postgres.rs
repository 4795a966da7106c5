//! A fresh database per test on the machine's Postgres.

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};

/// Where the admin connection goes unless `MOM_TEST_DATABASE_URL` says otherwise.
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database created for one test; [`TestDatabase::drop_database`] removes it, and so does
/// dropping the value (also when the test panics), so test runs leave no databases behind.
#[derive(Debug)]
pub struct TestDatabase {
    /// URL of the fresh database.
    pub url: String,
    name: String,
    admin_url: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates a database with a unique name on the server of `MOM_TEST_DATABASE_URL` (default
    /// postgres://postgres@127.0.0.1:5432/test).
    pub async fn create() -> anyhow::Result<Self> {
        let admin_url =
            std::env::var("MOM_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        Self::create_on(&admin_url).await
    }

    /// Creates a database with a unique name on the server of `admin_url`.
    pub async fn create_on(admin_url: &str) -> anyhow::Result<Self> {
        let admin_url = admin_url.to_owned();
        let mut admin = PgConnection::connect(&admin_url).await.with_context(|| {
            format!(
                "cannot reach Postgres at {admin_url}: start it (see README) or set MOM_TEST_DATABASE_URL"
            )
        })?;
        let name = format!("mom_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        admin.close().await?;
        let url = replace_database(&admin_url, &name);
        Ok(Self {
            url,
            name,
            admin_url,
            dropped: false,
        })
    }

    /// Drops the database (terminating leftover connections).
    pub async fn drop_database(mut self) -> anyhow::Result<()> {
        drop_named(&self.admin_url, &self.name).await?;
        self.dropped = true;
        Ok(())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // The test's runtime may be gone or shutting down: a thread with a runtime of its own
        // drops the database. A failure only leaves the database behind.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(drop_named(&admin_url, &name)).ok()
        })
        .join();
        drop(dropped);
    }
}

/// Drops database `name` on the server of `admin_url`, terminating leftover connections.
async fn drop_named(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(admin_url).await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    admin.close().await?;
    Ok(())
}

/// Replaces the database name (the URL path) of a Postgres URL, keeping any query string.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{host_part}/{name}?{query}"),
        None => format!("{host_part}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn database_name_is_replaced_and_query_kept() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h:1", "x"), "postgres://h:1/x");
    }
}
