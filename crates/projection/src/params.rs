//! Placeholders of statements built at run time (multi-row inserts and updates).

use crate::Connection;

/// The placeholder syntax of a read-model connection: `$1, $2, ...` on Postgres; the anonymous
/// `?` on SQLite, bound in order. SQLite binds `$n` by looking its name up among all of the
/// statement's parameters, so binding a statement of many rows cost the square of its
/// parameters (28 % of an OEE rebuild at 900 parameters per statement, 7 % at 150); `?` costs
/// nothing to look up. Only for statements that use each parameter once, in binding order.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    anonymous: bool,
}

impl Params {
    /// Returns the syntax of `connection`'s backend.
    pub fn of(connection: &Connection) -> Self {
        Self {
            anonymous: connection.backend_name() == "SQLite",
        }
    }

    /// Returns the placeholder of the `n`th parameter (from 1).
    pub fn nth(self, n: usize) -> String {
        let mut out = String::new();
        self.push(&mut out, n);
        out
    }

    /// Appends the placeholder of the `n`th parameter to `out`.
    pub fn push(self, out: &mut String, n: usize) {
        if self.anonymous {
            out.push('?');
        } else {
            use std::fmt::Write as _;
            let _ = write!(out, "${n}");
        }
    }

    /// Returns `n` consecutive placeholders from the `first`th, comma-separated (the list of an
    /// `IN (...)`): `$3, $4`.
    pub fn list(self, first: usize, n: usize) -> String {
        let mut out = String::with_capacity(n * 6);
        for k in first..first + n {
            if k > first {
                out.push_str(", ");
            }
            self.push(&mut out, k);
        }
        out
    }

    /// Returns `rows` groups of `width` consecutive placeholders from the first:
    /// `($1, $2), ($3, $4)`. Built in one string: a statement of hundreds of parameters is
    /// built for every page a projection writes.
    pub fn rows(self, rows: usize, width: usize) -> String {
        let mut out = String::with_capacity(rows * (width * 6 + 4));
        for i in 0..rows {
            if i > 0 {
                out.push_str(", ");
            }
            out.push('(');
            for k in 1..=width {
                if k > 1 {
                    out.push_str(", ");
                }
                self.push(&mut out, width * i + k);
            }
            out.push(')');
        }
        out
    }
}

impl Params {
    /// Returns a condition that holds for the rows whose `columns` equal one of `rows` keys,
    /// bound in order (row by row): `(a, b) IN (VALUES ($1, $2), ($3, $4))` on Postgres, which
    /// plans it as a join over the key's index, and `((a = ? AND b = ?) OR (a = ? AND b = ?))` on
    /// SQLite, which searches the index once per key that way but scans the whole table for the
    /// `IN (VALUES ...)` form (53 ms instead of 0.1 ms for 100 keys of a 400 000-row table).
    pub fn keys_in(self, columns: &[&str], rows: usize) -> String {
        if rows == 0 {
            return "false".to_owned();
        }
        if !self.anonymous {
            return format!(
                "({}) IN (VALUES {})",
                columns.join(", "),
                self.rows(rows, columns.len())
            );
        }
        let key = columns
            .iter()
            .map(|column| format!("{column} = ?"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut out = String::with_capacity(rows * (key.len() + 6) + 2);
        out.push('(');
        for i in 0..rows {
            if i > 0 {
                out.push_str(" OR ");
            }
            out.push('(');
            out.push_str(&key);
            out.push(')');
        }
        out.push(')');
        out
    }
}

/// Returns the rows of `select` (a statement ending in the key column, without parameters)
/// whose key is one of `keys`: `{select} IN (...)`, the keys bound in order.
pub async fn fetch_in(
    connection: &mut Connection,
    select: &str,
    keys: &[&str],
) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
    let sql = format!(
        "{select} IN ({})",
        Params::of(connection).list(1, keys.len())
    );
    let mut query = sqlx::query(&sql);
    for key in keys {
        query = query.bind(*key);
    }
    query.fetch_all(&mut *connection).await
}

#[cfg(test)]
mod tests {
    use super::Params;

    #[test]
    fn postgres_numbers_and_sqlite_binds_in_order() {
        let postgres = Params { anonymous: false };
        let sqlite = Params { anonymous: true };
        assert_eq!(postgres.rows(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(sqlite.rows(2, 2), "(?, ?), (?, ?)");
        assert_eq!(postgres.nth(7), "$7");
        assert_eq!(postgres.list(3, 2), "$3, $4");
        assert_eq!(sqlite.list(3, 2), "?, ?");
        assert_eq!(postgres.rows(1, 3), "($1, $2, $3)");
        assert_eq!(postgres.rows(0, 3), "");
        assert_eq!(sqlite.nth(2), "?");
        assert_eq!(postgres.list(1, 0), "");
    }

    #[test]
    fn keys_in_is_a_join_on_postgres_and_or_terms_on_sqlite() {
        let postgres = Params { anonymous: false };
        let sqlite = Params { anonymous: true };
        assert_eq!(
            postgres.keys_in(&["a", "b"], 2),
            "(a, b) IN (VALUES ($1, $2), ($3, $4))"
        );
        assert_eq!(
            sqlite.keys_in(&["a", "b"], 2),
            "((a = ? AND b = ?) OR (a = ? AND b = ?))"
        );
        assert_eq!(sqlite.keys_in(&["a"], 1), "((a = ?))");
        assert_eq!(sqlite.keys_in(&["a"], 0), "false");
        assert_eq!(postgres.keys_in(&["a"], 0), "false");
    }
}
