//! Statement shapes for the two backends: which backend a URL or a connection is, parameter
//! marks, multi-row `VALUES` lists and `IN` lists cut to a few fixed sizes.
//!
//! Shapes are chosen for SQLite's sake (they cost PostgreSQL nothing): parameters are
//! anonymous `?` there, since sqlx binds a named or numbered one by asking SQLite its name, a
//! walk of the statement's parameter list (O(n²) per statement: it was 40 % of the server's
//! CPU at 1 000 calls/s); and multi-row statements have one of a few fixed row counts
//! (`ROW_LADDER`), so each connection prepares each shape once and its statement cache hits.
//! PostgreSQL keeps `$N`, which it requires.
//!
//! Owns: the backend enum and the text of placeholders. Never does: run a statement, or know
//! a table.

use super::error::{Result, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Config {
                url: format!("{url:?}"),
                reason: "unsupported: use sqlite://FILE or postgres://…".into(),
            })
        }
    }

    /// The backend behind an `Any` connection (the pool only has the two).
    pub fn of_connection(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }
}

/// Row counts of multi-row statements, largest first: a batch is cut greedily into these, so a
/// connection only ever prepares five shapes per table. The largest, 256 rows × 32 columns of
/// `calls`, is 8 192 parameters: under SQLite's 32 766 and PostgreSQL's 65 535.
pub const ROW_LADDER: [usize; 5] = [256, 64, 16, 4, 1];

/// `($1,$2,$3),($4,$5,$6)` (PostgreSQL) or `(?,?,?),(?,?,?)` (SQLite) for `rows` rows of
/// `cols` parameters.
pub fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * (cols * 6 + 3));
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            push_mark(&mut s, backend, r * cols + c + 1);
        }
        s.push(')');
    }
    s
}

/// `$n` or `?` (SQLite binds anonymous parameters in order).
fn push_mark(s: &mut String, backend: Backend, n: usize) {
    match backend {
        Backend::Sqlite => s.push('?'),
        Backend::Postgres => {
            s.push('$');
            s.push_str(&n.to_string());
        }
    }
}

/// `items` cut greedily into slices whose lengths are all in `ROW_LADDER`.
pub fn ladder_chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let n = ROW_LADDER.iter().copied().find(|n| *n <= items.len())?;
        let (head, rest) = items.split_at(n);
        items = rest;
        Some(head)
    })
}

/// `IN (…)` lists are padded with their last item up to a ladder size, so each statement has
/// one of a few shapes (a repeated item in `IN` changes nothing): the size for `n` items.
pub fn in_list_size(n: usize) -> usize {
    ROW_LADDER
        .iter()
        .rev()
        .copied()
        .find(|k| *k >= n)
        .unwrap_or(n)
}

/// `$1,…,$n` or `?,…,?`.
pub fn in_list(backend: Backend, size: usize) -> String {
    let mut list = String::with_capacity(size * 5);
    for i in 1..=size {
        if i > 1 {
            list.push(',');
        }
        push_mark(&mut list, backend, i);
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_numbering() {
        assert_eq!(
            placeholders(Backend::Postgres, 2, 3),
            "($1,$2,$3),($4,$5,$6)"
        );
        assert_eq!(placeholders(Backend::Postgres, 1, 1), "($1)");
        assert_eq!(placeholders(Backend::Sqlite, 2, 2), "(?,?),(?,?)");
    }

    #[test]
    fn batches_are_cut_into_ladder_sizes() {
        let v: Vec<u32> = (0..2000).collect();
        let sizes: Vec<usize> = ladder_chunks(&v).map(<[u32]>::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 2000);
        assert!(sizes.iter().all(|n| ROW_LADDER.contains(n)));
        // 7 × 256 + 3 × 64 + 1 × 16
        assert_eq!(sizes.len(), 11);
        let seen: Vec<u32> = ladder_chunks(&v).flatten().copied().collect();
        assert_eq!(seen, v, "in order, nothing lost");
        assert_eq!(ladder_chunks::<u32>(&[]).count(), 0);
    }
}
