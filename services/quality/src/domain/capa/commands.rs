//! Commands a CAPA accepts.

use chrono::{DateTime, Utc};
use mom_domain::{CommandTime, Meaning, SignatureRule, Timed};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{CapaId, NcrId, Owner, Text};

/// Whether an action corrects a nonconformance that happened or prevents one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CapaKind {
    /// Removes the cause of nonconformances that happened.
    Corrective,
    /// Removes the cause of a potential nonconformance.
    Preventive,
}

/// A request to change a CAPA; `at` is when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapaCommand {
    /// Opens the CAPA; the caller checked that every NCR exists.
    Open {
        capa: CapaId,
        kind: CapaKind,
        title: Text,
        owner: Owner,
        due: DateTime<Utc>,
        ncrs: Vec<NcrId>,
        at: DateTime<Utc>,
    },
    /// Links one more NCR; the caller checked that it exists.
    LinkNcr { ncr: NcrId, at: DateTime<Utc> },
    /// The owner reports the action implemented.
    Implement {
        note: Option<Text>,
        at: DateTime<Utc>,
    },
    /// Records whether the implemented action was effective.
    Verify {
        effective: bool,
        note: Option<Text>,
        at: DateTime<Utc>,
    },
}

impl Timed for CapaCommand {
    fn at(&self) -> DateTime<Utc> {
        match self {
            CapaCommand::Open { at, .. }
            | CapaCommand::LinkNcr { at, .. }
            | CapaCommand::Implement { at, .. }
            | CapaCommand::Verify { at, .. } => *at,
        }
    }

    fn times(&self) -> Vec<CommandTime> {
        let mut times = vec![CommandTime::happened("at", self.at())];
        if let CapaCommand::Open { due, .. } = self {
            times.push(CommandTime::planned("due", *due));
        }
        times
    }

    fn signature_rule(&self) -> Option<SignatureRule> {
        match self {
            CapaCommand::Verify { .. } => Some(SignatureRule::new(
                Meaning::Verified,
                "the effectiveness verification of a CAPA",
                &["CapaOpened", "CapaActionImplemented"],
            )),
            _ => None,
        }
    }
}
