//! The query side's use of the projection's engine: figures folded live for a period cut at an
//! instant (`as_of`), with the engine rebuilt from the committed messages when it is stale.

use super::*;

impl OeeProjection {
    /// Returns the figures of `equipment` over `[from, to)` folded by the projection's engine
    /// (the same fold as the stored periods; a period cut at `to` takes the current state to
    /// last until `to`, not until the period's end), or `None` when the engine has no facts for
    /// it. The engine holds what the projection applied, which includes the messages of a
    /// transaction not yet committed. An engine that was never loaded in this process (or whose
    /// transaction rolled back) is first rebuilt from the committed messages read from `pool`.
    ///
    /// The engine's lock is held only for the fold, never across an await.
    pub async fn live_figures(
        &self,
        pool: &sqlx::AnyPool,
        equipment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<Figures>, QueryError> {
        let Ok(period) = Period::custom(from, to) else {
            return Ok(None);
        };
        self.load_if_stale(pool).await?;
        let state = self
            .state
            .lock()
            .map_err(|_| sqlx::Error::Protocol("oee engine lock poisoned".into()))?;
        let equipment = EquipmentId::from(equipment);
        if let Some(kept) = state.engine.exact_from(&equipment) {
            if from < kept {
                return Err(QueryError::invalid(
                    "as_of",
                    format!(
                        "as_of {to} falls in a period of {equipment} starting {from}, before the \
                     facts the engine keeps (from {kept}, the lateness horizon): ask without \
                     as_of for the stored figures"
                    ),
                ));
            }
        }
        Ok(state.engine.recompute(&equipment, &period))
    }

    /// Rebuilds the engine from the committed messages when it is stale and nobody else
    /// reloaded it meanwhile.
    async fn load_if_stale(&self, pool: &sqlx::AnyPool) -> Result<(), sqlx::Error> {
        let stale = || self.state.lock().map(|s| s.stale).unwrap_or(true);
        if !stale() {
            return Ok(());
        }
        let _one_at_a_time = self.reloading.lock().await;
        let generation = self.generation.load(Ordering::SeqCst);
        if !stale() {
            return Ok(());
        }
        let mut connection = pool.acquire().await?;
        let state = self.load(&mut connection).await.map_err(|err| match err {
            ApplyError::Database(err) => err,
            other => sqlx::Error::Protocol(other.to_string()),
        })?;
        if let Ok(mut current) = self.state.lock() {
            // The projection may have reloaded (and applied more) while we read: keep its state.
            if current.stale && self.generation.load(Ordering::SeqCst) == generation {
                *current = state;
                self.generation.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}
