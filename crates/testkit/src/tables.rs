//! Read-model tables as text, for tests that compare two databases (a live run and a rebuild,
//! one event per transaction and all in one) column by column on Postgres and SQLite alike.

/// Returns the rows of each of `tables` (name, its columns comma-separated, the columns it is
/// ordered by) in key order, each row as its columns' text joined by `|` (`null` for NULL).
pub async fn rows_as_text(
    pool: &sqlx::AnyPool,
    tables: &[(&str, &str, &str)],
) -> anyhow::Result<Vec<Vec<String>>> {
    let mut all = Vec::with_capacity(tables.len());
    for (table, columns, order) in tables {
        let text: Vec<String> = columns
            .split(',')
            .map(|column| format!("COALESCE(CAST({} AS TEXT), 'null')", column.trim()))
            .collect();
        let sql = format!(
            "SELECT {} FROM {table} ORDER BY {order}",
            text.join(" || '|' || ")
        );
        all.push(sqlx::query_scalar(&sql).fetch_all(pool).await?);
    }
    Ok(all)
}
