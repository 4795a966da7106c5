//! A node's MQTT connections: connect, wait for the primary host, birth, send, answer rebirth
//! requests, die cleanly; again after every loss.

use std::time::Duration;

use mom_proto::sparkplug_b::payload::metric;
use mom_proto::sparkplug_b::Payload;
use prost::Message;
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use tokio::sync::mpsc;

use super::{death, topic, EdgeNode, Update, HOST_ID, NAMESPACE, REBIRTH_ALIAS, REBIRTH_METRIC};

/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What happened on a connection, as its polling task reports it.
#[derive(Debug)]
enum Conn {
    Connected,
    Message(String, Vec<u8>),
    Closed,
    Lost(String),
}

/// Why a connection ended.
enum Ended {
    Done,
    Lost(String),
    HostOffline,
}

impl EdgeNode {
    /// Runs the node until its units are done (every [`DeviceHandle`] dropped, so their last
    /// counts at shutdown still go out): connects (again after every loss), births, sends its
    /// devices' changes from `updates`, and ends with its NDEATH.
    pub(crate) async fn run(mut self, mut updates: mpsc::Receiver<Update>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            self.bd_seq = self.bd_seq.wrapping_add(1);
            let (client, events) = AsyncClient::new(self.options(), 256);
            let (conn_tx, mut conn) = mpsc::unbounded_channel();
            let poller = tokio::spawn(poll(events, conn_tx));
            let ended = self.connection(&client, &mut conn, &mut updates).await;
            self.online = false;
            poller.abort();
            let _ = poller.await;
            match ended {
                Ended::Done => return,
                Ended::HostOffline => {
                    tracing::info!(node = %self.node, host = HOST_ID, "primary host offline; the simulated edge node reconnects and waits for it");
                    backoff = Duration::from_millis(200);
                }
                Ended::Lost(reason) => {
                    tracing::warn!(node = %self.node, error = %reason, retry_in_ms = backoff.as_millis() as u64, "simulated edge node lost its MQTT connection");
                }
            }
            if !self.idle(backoff, &mut updates).await {
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Takes updates for `wait`; returns false when the units are done.
    async fn idle(&mut self, wait: Duration, updates: &mut mpsc::Receiver<Update>) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return true,
                update = updates.recv() => match update {
                    Some(update) => { self.apply(update); }
                    None => return false,
                },
            }
        }
    }

    /// One MQTT connection: waits for the connect and the primary host, births, then sends.
    async fn connection(
        &mut self,
        client: &AsyncClient,
        conn: &mut mpsc::UnboundedReceiver<Conn>,
        updates: &mut mpsc::Receiver<Update>,
    ) -> Ended {
        let state_topic = format!("{NAMESPACE}/STATE/{HOST_ID}");
        let command_topic = topic("NCMD", &self.node, None);
        loop {
            let event = tokio::select! {
                update = updates.recv() => {
                    let Some(update) = update else {
                        if self.online {
                            self.die(client, conn).await;
                        } else {
                            let _ = client.disconnect().await;
                        }
                        return Ended::Done;
                    };
                    if let Some((topic, payload)) = self.apply(update) {
                        if let Err(err) = client.publish(topic, QoS::AtLeastOnce, false, payload).await {
                            return Ended::Lost(err.to_string());
                        }
                    }
                    continue;
                }
                event = conn.recv() => event,
            };
            match event {
                None | Some(Conn::Closed) => return Ended::Lost("connection closed".into()),
                Some(Conn::Lost(reason)) => return Ended::Lost(reason),
                Some(Conn::Connected) => {
                    tracing::debug!(node = %self.node, bd_seq = self.bd_seq, "simulated edge node connected");
                    for topic in [&state_topic, &command_topic] {
                        if let Err(err) = client.subscribe(topic.clone(), QoS::AtLeastOnce).await {
                            return Ended::Lost(err.to_string());
                        }
                    }
                }
                Some(Conn::Message(topic, payload)) if topic == state_topic => {
                    let online = serde_json::from_slice::<serde_json::Value>(&payload)
                        .ok()
                        .and_then(|v| v.get("online").and_then(serde_json::Value::as_bool));
                    match (online, self.online) {
                        (Some(true), false) => {
                            self.online = true;
                            tracing::info!(node = %self.node, bd_seq = self.bd_seq, "primary host online; simulated edge node born");
                            if let Err(err) = self.publish_births(client).await {
                                return Ended::Lost(err);
                            }
                        }
                        (Some(false), true) => {
                            // Sparkplug: the node goes when its primary host does, and comes
                            // back with new births once the host is online again.
                            self.die(client, conn).await;
                            return Ended::HostOffline;
                        }
                        _ => {}
                    }
                }
                Some(Conn::Message(topic, payload)) if topic == command_topic => {
                    if self.online && asks_rebirth(&payload) {
                        tracing::info!(node = %self.node, "rebirth requested; simulated edge node sends its births again");
                        if let Err(err) = self.publish_births(client).await {
                            return Ended::Lost(err);
                        }
                    }
                }
                Some(Conn::Message(..)) => {}
            }
        }
    }

    async fn publish_births(&mut self, client: &AsyncClient) -> Result<(), String> {
        for (topic, payload) in self.births() {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .map_err(|err| err.to_string())?;
        }
        Ok(())
    }

    /// A clean goodbye: the NDEATH (the will only goes out on an unclean loss), then disconnect
    /// once it is written.
    async fn die(&mut self, client: &AsyncClient, conn: &mut mpsc::UnboundedReceiver<Conn>) {
        let topic = topic("NDEATH", &self.node, None);
        let _ = client
            .publish(
                topic,
                QoS::AtLeastOnce,
                false,
                death(self.bd_seq, self.clock.now()),
            )
            .await;
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(event) = conn.recv().await {
                if matches!(event, Conn::Closed | Conn::Lost(_)) {
                    break;
                }
            }
        })
        .await;
        self.online = false;
    }
}

/// Returns true when an NCMD payload sets `Node Control/Rebirth` to true.
pub(super) fn asks_rebirth(payload: &[u8]) -> bool {
    Payload::decode(payload).is_ok_and(|payload| {
        payload.metrics.iter().any(|m| {
            (m.name.as_deref() == Some(REBIRTH_METRIC) || m.alias == Some(REBIRTH_ALIAS))
                && m.value == Some(metric::Value::BooleanValue(true))
        })
    })
}

/// Polls a connection's event loop, reporting what the node needs, until the connection ends.
async fn poll(mut events: EventLoop, tx: mpsc::UnboundedSender<Conn>) {
    let mut closing = false;
    loop {
        let report = match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => Conn::Connected,
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                Conn::Message(publish.topic, publish.payload.to_vec())
            }
            // A clean disconnect: polled on until the broker closes the connection, so what
            // was written before it (the NDEATH) is flushed.
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                closing = true;
                continue;
            }
            Ok(_) => continue,
            Err(err) => {
                let _ = tx.send(if closing {
                    Conn::Closed
                } else {
                    Conn::Lost(err.to_string())
                });
                return;
            }
        };
        if tx.send(report).is_err() {
            return;
        }
    }
}
