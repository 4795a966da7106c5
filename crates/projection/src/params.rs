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
}
