//! The maintenance read model's tables and how events change them.

use mom_projection::{ApplyError, Connection, Message, Projection};

use crate::feed::Changes;

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "maintenance";

const SCHEMA: [&str; 0] = [];

const TABLES: [&str; 0] = [];

/// The maintenance projection.
#[derive(Debug)]
pub struct MaintenanceProjection {
    topics: Vec<String>,
    changes: Changes,
}

impl MaintenanceProjection {
    /// Returns the projection of the maintenance `topics`.
    pub fn new(topics: Vec<String>) -> Self {
        Self {
            topics,
            changes: Changes::new(NAME),
        }
    }

    /// Returns its change notifications.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}

impl Projection for MaintenanceProjection {
    fn name(&self) -> &str {
        NAME
    }

    fn topics(&self) -> &[String] {
        &self.topics
    }

    fn schema(&self) -> &[&str] {
        &SCHEMA
    }

    fn tables(&self) -> &[&str] {
        &TABLES
    }

    async fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let _ = (connection, message);
        Ok(())
    }

    fn rolled_back(&self) {
        self.changes.rolled_back();
    }

    fn committed(&self) {
        self.changes.committed();
    }
}
