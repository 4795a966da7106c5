//! How the OEE projection keeps the messages it applied, for its reload after a restart and for
//! a work unit's history when a late fact changes a period the engine forgot.
//!
//! A message that carries its aggregate and sequence (every domain event does) is kept in a
//! batch: one row of `oee_input_batches` per transaction and work unit, holding that unit's
//! messages of the transaction in order. Its redelivery is recognised by the per-aggregate
//! sequence guard (`oee_sequences`). A message without a sequence is kept in a row of its own in
//! `oee_inputs`, whose unique `event_id` recognises it again; read models written before the
//! batches hold all their messages there. Both tables share one numbering (`seq`), and are read
//! back merged in that order.

use mom_projection::Connection;

/// Format version of a batch (its first byte).
const VERSION: u8 = 1;

/// Encodes `messages` (topic and payload, in order) as one batch: the version, the distinct
/// topics, then per message the index of its topic and its payload, lengths as little-endian
/// integers. Returns `None` when a batch would need more than 255 topics or a payload longer
/// than 4 GiB (the projection reads four topics; its messages are kilobytes).
pub fn encode<'a>(messages: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Option<Vec<u8>> {
    let messages: Vec<(&str, &[u8])> = messages.into_iter().collect();
    let mut topics: Vec<&str> = Vec::new();
    let mut indexes = Vec::with_capacity(messages.len());
    for (topic, _) in &messages {
        let index = match topics.iter().position(|known| known == topic) {
            Some(index) => index,
            None => {
                topics.push(topic);
                topics.len() - 1
            }
        };
        indexes.push(u8::try_from(index).ok()?);
    }
    let size = 2
        + topics.iter().map(|t| 2 + t.len()).sum::<usize>()
        + messages.iter().map(|(_, p)| 5 + p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.push(VERSION);
    out.push(u8::try_from(topics.len()).ok()?);
    for topic in &topics {
        out.extend_from_slice(&u16::try_from(topic.len()).ok()?.to_le_bytes());
        out.extend_from_slice(topic.as_bytes());
    }
    for ((_, payload), index) in messages.iter().zip(indexes) {
        out.push(index);
        out.extend_from_slice(&u32::try_from(payload.len()).ok()?.to_le_bytes());
        out.extend_from_slice(payload);
    }
    Some(out)
}

/// Returns the messages of a batch made by [`encode`], in order, or an error that says what is
/// wrong with it.
pub fn decode(batch: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    let mut rest = batch;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if rest.len() < n {
            return Err(format!(
                "batch of {} bytes ends {} bytes early",
                batch.len(),
                n - rest.len()
            ));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let version = take(1)?[0];
    if version != VERSION {
        return Err(format!("batch version {version}, expected {VERSION}"));
    }
    let count = usize::from(take(1)?[0]);
    let mut topics = Vec::with_capacity(count);
    for _ in 0..count {
        let len = take(2)?;
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let topic = std::str::from_utf8(take(len)?).map_err(|err| format!("batch topic: {err}"))?;
        topics.push(topic.to_owned());
    }
    let mut messages = Vec::new();
    while let Ok(index) = take(1) {
        let index = usize::from(index[0]);
        let topic = topics
            .get(index)
            .ok_or_else(|| format!("batch message names topic {index} of {count}"))?
            .clone();
        let len = take(4)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
        let payload = take(usize::try_from(len).map_err(|err| err.to_string())?)?;
        messages.push((topic, payload));
    }
    Ok(messages)
}

/// A stored row, read back: one message (`oee_inputs`) or a batch (`oee_input_batches`).
pub struct Stored {
    /// The row's place in the common numbering.
    pub seq: i64,
    /// The message's topic, or empty for a batch.
    pub topic: String,
    /// The message's payload, or the batch.
    pub payload: Vec<u8>,
}

impl Stored {
    /// Returns the messages of the row, in order.
    pub fn messages(&self) -> Result<Vec<(String, &[u8])>, String> {
        if self.topic.is_empty() {
            decode(&self.payload)
                .map_err(|err| format!("oee_input_batches seq {}: {err}", self.seq))
        } else {
            Ok(vec![(self.topic.clone(), self.payload.as_slice())])
        }
    }
}

/// Both tables' rows after `after`, in order, at most `limit` of them (merged from the two `seq`
/// indexes, not sorted).
pub async fn page(
    connection: &mut Connection,
    after: i64,
    limit: i64,
) -> Result<Vec<Stored>, sqlx::Error> {
    let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, topic, payload FROM oee_inputs WHERE seq > $1 \
         UNION ALL SELECT seq, '' AS topic, messages AS payload FROM oee_input_batches \
         WHERE seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(after)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.into_iter().map(into_stored).collect())
}

/// The rows up to `up_to_seq` that hold messages giving facts of `equipment` (or of several
/// units), in order.
pub async fn unit(
    connection: &mut Connection,
    equipment: &str,
    up_to_seq: i64,
) -> Result<Vec<Stored>, sqlx::Error> {
    let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, topic, payload FROM oee_inputs \
         WHERE (equipment = $1 OR equipment = '*') AND seq <= $2 \
         UNION ALL SELECT seq, '' AS topic, messages AS payload FROM oee_input_batches \
         WHERE (equipment = $3 OR equipment = '*') AND seq <= $4 ORDER BY seq",
    )
    .bind(equipment)
    .bind(up_to_seq)
    .bind(equipment)
    .bind(up_to_seq)
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.into_iter().map(into_stored).collect())
}

fn into_stored((seq, topic, payload): (i64, String, Vec<u8>)) -> Stored {
    Stored {
        seq,
        topic,
        payload,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn a_batch_gives_back_its_messages_in_order() {
        let messages: Vec<(&str, &[u8])> = vec![
            ("mom.production.v1", b"one"),
            ("mom.quality.v1", b""),
            ("mom.production.v1", &[0, 255, 7]),
        ];
        let batch = encode(messages.clone()).unwrap();
        let back = decode(&batch).unwrap();
        let back: Vec<(&str, &[u8])> = back.iter().map(|(t, p)| (t.as_str(), *p)).collect();
        assert_eq!(back, messages);
        assert_eq!(decode(&encode(Vec::new()).unwrap()).unwrap().len(), 0);
    }

    #[test]
    fn a_damaged_batch_is_an_error_that_says_what_is_wrong() {
        let batch = encode(vec![("mom.production.v1", &b"payload"[..])]).unwrap();
        let short = decode(&batch[..batch.len() - 2]).unwrap_err();
        assert!(short.contains("ends 2 bytes early"), "{short}");
        let mut other = batch.clone();
        other[0] = 9;
        assert!(decode(&other).unwrap_err().contains("version 9"));
        let mut topic = batch;
        let at = topic.len() - 7 - 5;
        topic[at] = 3;
        assert!(decode(&topic).unwrap_err().contains("topic 3 of 1"));
    }
}
