//! Storing a transaction's messages (`oee_input_batches`, `oee_inputs`, the sequence guard) and
//! the equipment hierarchy (`oee_assets`), many rows per statement.

use super::*;

/// The multi-row writes below bind their parameters in order ([`Params`]: anonymous on SQLite,
/// whose numbered parameters cost the square of their count to bind), a few hundred per
/// statement: fewer statements, each a round trip to the database (or to SQLite's thread).
///
/// Rows per multi-row insert of inputs (5 parameters each).
pub(super) const INPUT_CHUNK: usize = 100;

/// Stores the transaction's `messages` and returns, for each, whether it is new (a redelivery is
/// not stored again). A message with a sequence guard is new when its sequence is above its
/// aggregate's stored one (and, while `oee_inputs` holds rows, when an aggregate without one
/// has no row there with its event id); the new ones are written in batches, one per work unit
/// (lot origins first; see `inputs`). Any other is new when the insert of its own row into
/// `oee_inputs` stores it. Rows are numbered from the state's next `seq`: the single rows
/// first, then the batches.
pub(super) async fn store(
    connection: &mut Connection,
    state: &Mutex<State>,
    messages: &[Pending],
    sequences: &mut PageSequences,
    single_rows: bool,
) -> Result<Vec<bool>, ApplyError> {
    let singles = messages.iter().filter(|m| m.guard.is_none()).count();
    let first_seq = {
        let mut state = lock(state)?;
        let first = state.next_seq;
        state.next_seq += i64::try_from(singles).unwrap_or(i64::MAX);
        first
    };
    let numbered: Vec<(i64, &Pending)> = (first_seq..)
        .zip(messages.iter().filter(|m| m.guard.is_none()))
        .collect();
    let stored_singles = write_inputs(connection, &numbered).await?;
    if !stored_singles.is_empty() {
        lock(state)?.single_rows = true;
    }
    sequences
        .load(
            connection,
            SEQUENCES,
            messages
                .iter()
                .filter_map(|m| m.guard.as_ref().map(Deferred::aggregate)),
        )
        .await?;
    let mut new: Vec<bool> = messages
        .iter()
        .map(|m| match &m.guard {
            Some(guard) => sequences.decide(guard),
            None => stored_singles.contains(&m.event_id),
        })
        .collect();
    if single_rows {
        // Applied before the guard knew its aggregate: kept one by one in `oee_inputs`.
        let unknown: Vec<String> = messages
            .iter()
            .zip(&new)
            .filter_map(|(m, new)| {
                let guard = m.guard.as_ref()?;
                (*new && !sequences.had_stored(guard.aggregate())).then(|| m.event_id.to_string())
            })
            .collect();
        let mut known = HashSet::new();
        for chunk in unknown.chunks(INPUT_CHUNK) {
            let keys: Vec<&str> = chunk.iter().map(String::as_str).collect();
            for row in fetch_in(
                connection,
                "SELECT event_id FROM oee_inputs WHERE event_id",
                &keys,
            )
            .await?
            {
                known.insert(sqlx::Row::try_get::<String, _>(&row, 0)?);
            }
        }
        if !known.is_empty() {
            for (m, new) in messages.iter().zip(new.iter_mut()) {
                if m.guard.is_some() && known.contains(&m.event_id.to_string()) {
                    *new = false;
                }
            }
        }
    }
    sequences.write(connection, SEQUENCES).await?;
    // One batch per work unit (`None`: messages that gave no facts, the lots' origins, first),
    // each unit's messages in order.
    let mut batches: BTreeMap<Option<String>, Vec<&Pending>> = BTreeMap::new();
    for (m, new) in messages.iter().zip(&new) {
        if *new && m.guard.is_some() {
            batches.entry(m.equipment()).or_default().push(m);
        }
    }
    let first_batch = {
        let mut state = lock(state)?;
        let first = state.next_seq;
        state.next_seq += i64::try_from(batches.len()).unwrap_or(i64::MAX);
        first
    };
    let mut rows = Vec::with_capacity(batches.len());
    for ((equipment, batch), seq) in batches.into_iter().zip(first_batch..) {
        let encoded = inputs::encode(
            batch
                .iter()
                .map(|m| (m.topic.as_str(), m.payload.as_slice())),
        )
        .ok_or_else(|| ApplyError::Transient("a batch of inputs too large to encode".into()))?;
        rows.push((seq, equipment, encoded));
    }
    write_batches(connection, &rows).await?;
    Ok(new)
}

/// The sequence guard's table.
pub(super) const SEQUENCES: &str = "oee_sequences";

/// Batch rows per multi-row insert (3 parameters each).
pub(super) const BATCH_CHUNK: usize = 100;

/// Writes `rows` (`seq`, work unit, encoded messages) to `oee_input_batches`, many rows per
/// statement.
async fn write_batches(
    connection: &mut Connection,
    rows: &[(i64, Option<String>, Vec<u8>)],
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    for chunk in rows.chunks(BATCH_CHUNK) {
        let sql = format!(
            "INSERT INTO oee_input_batches (seq, equipment, messages) VALUES {}",
            params.rows(chunk.len(), 3)
        );
        let mut query = sqlx::query(&sql);
        for (seq, equipment, messages) in chunk {
            query = query
                .bind(*seq)
                .bind(equipment.as_deref())
                .bind(messages.as_slice());
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// Stores the transaction's messages (with their `seq`), many rows per statement, and returns
/// the event ids stored now: a message whose id is stored already is a redelivery. A statement
/// that stored all of its rows says so in its count; only one that stored fewer reads back
/// which (the `seq`s given are new, so a row holding one was stored now). Returning every
/// stored id instead cost a row handed over per message (5 % of a rebuild).
pub(super) async fn write_inputs(
    connection: &mut Connection,
    messages: &[(i64, &Pending)],
) -> Result<HashSet<Uuid>, ApplyError> {
    let mut stored = HashSet::with_capacity(messages.len());
    let params = Params::of(connection);
    for chunk in messages.chunks(INPUT_CHUNK) {
        let sql = format!(
            "INSERT INTO oee_inputs (seq, event_id, equipment, topic, payload) VALUES {} \
             ON CONFLICT (event_id) DO NOTHING",
            params.rows(chunk.len(), 5)
        );
        let mut query = sqlx::query(&sql);
        for (seq, message) in chunk {
            query = query
                .bind(*seq)
                .bind(message.event_id.to_string())
                .bind(message.equipment())
                .bind(message.topic.as_str())
                .bind(message.payload.as_slice());
        }
        let inserted = query.execute(&mut *connection).await?.rows_affected();
        if inserted == chunk.len() as u64 {
            stored.extend(chunk.iter().map(|(_, message)| message.event_id));
            continue;
        }
        let (first, last) = (chunk[0].0, chunk[chunk.len() - 1].0);
        let seqs: HashSet<i64> =
            sqlx::query_scalar("SELECT seq FROM oee_inputs WHERE seq >= $1 AND seq <= $2")
                .bind(first)
                .bind(last)
                .fetch_all(&mut *connection)
                .await?
                .into_iter()
                .collect();
        stored.extend(
            chunk
                .iter()
                .filter(|(seq, _)| seqs.contains(seq))
                .map(|(_, message)| message.event_id),
        );
    }
    Ok(stored)
}

pub(super) async fn write_asset(
    connection: &mut Connection,
    asset: &Input,
) -> Result<(), ApplyError> {
    match asset {
        Input::Asset {
            asset,
            level,
            parent,
        } => {
            sqlx::query(
                "INSERT INTO oee_assets (asset, level, parent) VALUES ($1, $2, $3) \
                 ON CONFLICT (asset) DO UPDATE SET level = excluded.level, parent = excluded.parent",
            )
            .bind(asset)
            .bind(*level)
            .bind(parent)
            .execute(&mut *connection)
            .await?;
        }
        Input::AssetMoved { asset, parent } => {
            sqlx::query("UPDATE oee_assets SET parent = $2 WHERE asset = $1")
                .bind(asset)
                .bind(parent)
                .execute(&mut *connection)
                .await?;
        }
        Input::Reason(change) => crate::reason_codes::write(connection, change).await?,
        Input::Calendar { scope, version } => {
            crate::calendars::write(connection, scope, version).await?
        }
        _ => {}
    }
    Ok(())
}
