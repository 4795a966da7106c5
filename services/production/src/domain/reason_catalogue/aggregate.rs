//! The catalogue's state, its decisions and its fold.
//!
//! Every command is idempotent by content: defining a category or reason exactly as it stands,
//! retiring a retired reason or setting the policy it has stores nothing.

use std::collections::BTreeMap;

use mom_domain::{Lifecycle, Stream};
use serde::{Deserialize, Serialize};

use super::commands::ReasonCatalogueCommand;
use super::error::ReasonCatalogueError;
use super::events::ReasonCatalogueEvent;
use super::ids::{
    normalize, LossClass, ReasonCode, SiteId, UnknownReasonPolicy, MAX_CATEGORIES, MAX_REASONS,
    UNASSIGNED,
};

/// One reason of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonDefinition {
    /// Display name.
    pub name: String,
    /// Its category.
    pub category: ReasonCode,
    /// The loss it belongs to.
    pub loss_class: LossClass,
    /// Other spellings that resolve to it.
    pub aliases: Vec<ReasonCode>,
    /// Retired: known for history, refused (or mapped) in new reports.
    pub retired: bool,
}

/// What a reported reason resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// An active reason (by its code or an alias).
    Known(ReasonCode),
    /// Not in the catalogue, or retired; `policy` says what to do with it.
    Unknown {
        /// The reported text, normalized.
        normalized: String,
        /// Whether the code is a retired reason's.
        retired: bool,
        /// The site's policy.
        policy: UnknownReasonPolicy,
    },
}

/// The state of a site's reason catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasonCatalogueState {
    site: SiteId,
    policy: UnknownReasonPolicy,
    categories: BTreeMap<ReasonCode, String>,
    reasons: BTreeMap<ReasonCode, ReasonDefinition>,
    /// Alias → the reason it names.
    aliases: BTreeMap<ReasonCode, ReasonCode>,
}

impl ReasonCatalogueState {
    fn empty(site: SiteId) -> Self {
        Self {
            site,
            policy: UnknownReasonPolicy::default(),
            categories: BTreeMap::new(),
            reasons: BTreeMap::new(),
            aliases: BTreeMap::new(),
        }
    }

    /// Returns the site.
    pub fn site(&self) -> &SiteId {
        &self.site
    }

    /// Returns the policy for unknown codes.
    pub fn policy(&self) -> UnknownReasonPolicy {
        self.policy
    }

    /// Returns the categories by code, with their names.
    pub fn categories(&self) -> &BTreeMap<ReasonCode, String> {
        &self.categories
    }

    /// Returns the reasons by code (active and retired).
    pub fn reasons(&self) -> &BTreeMap<ReasonCode, ReasonDefinition> {
        &self.reasons
    }

    /// Returns what reported `text` resolves to: normalized, then looked up as a code and as an
    /// alias; a retired reason is unknown to new reports.
    pub fn resolve(&self, text: &str) -> Resolution {
        let normalized = normalize(text);
        let code = ReasonCode::new(normalized.clone()).ok().and_then(|code| {
            if self.reasons.contains_key(&code) {
                Some(code)
            } else {
                self.aliases.get(&code).cloned()
            }
        });
        match code.and_then(|code| self.reasons.get(&code).map(|r| (code, r.retired))) {
            Some((code, false)) => Resolution::Known(code),
            Some((_, true)) => Resolution::Unknown {
                normalized,
                retired: true,
                policy: self.policy,
            },
            None => Resolution::Unknown {
                normalized,
                retired: false,
                policy: self.policy,
            },
        }
    }

    fn check_site(&self, site: &SiteId) -> Result<(), ReasonCatalogueError> {
        if *site != self.site {
            return Err(ReasonCatalogueError::WrongSite {
                command: site.clone(),
                catalogue: self.site.clone(),
            });
        }
        Ok(())
    }

    fn decide_command(
        &self,
        command: ReasonCatalogueCommand,
    ) -> Result<Vec<ReasonCatalogueEvent>, ReasonCatalogueError> {
        self.check_site(command.site())?;
        match command {
            ReasonCatalogueCommand::DefineCategory {
                site,
                category,
                name,
                at,
            } => {
                let name = name.trim().to_owned();
                if name.is_empty() {
                    return Err(ReasonCatalogueError::EmptyName);
                }
                if category.as_str() == UNASSIGNED {
                    return Err(ReasonCatalogueError::Reserved);
                }
                match self.categories.get(&category) {
                    Some(current) if *current == name => return Ok(vec![]),
                    None if self.categories.len() >= MAX_CATEGORIES => {
                        return Err(ReasonCatalogueError::Full {
                            what: "categories",
                            max: MAX_CATEGORIES,
                        })
                    }
                    _ => {}
                }
                Ok(vec![ReasonCatalogueEvent::ReasonCategoryDefined {
                    site,
                    category,
                    name,
                    at,
                }])
            }
            ReasonCatalogueCommand::DefineReason {
                site,
                code,
                name,
                category,
                loss_class,
                mut aliases,
                at,
            } => {
                let name = name.trim().to_owned();
                if name.is_empty() {
                    return Err(ReasonCatalogueError::EmptyName);
                }
                if code.is_unassigned() || aliases.iter().any(ReasonCode::is_unassigned) {
                    return Err(ReasonCatalogueError::Reserved);
                }
                if !self.categories.contains_key(&category) {
                    return Err(ReasonCatalogueError::UnknownCategory { category });
                }
                if let Some(owner) = self.aliases.get(&code).filter(|owner| **owner != code) {
                    return Err(ReasonCatalogueError::CodeIsAlias {
                        code,
                        owner: owner.clone(),
                    });
                }
                aliases.sort();
                aliases.dedup();
                aliases.retain(|alias| *alias != code);
                for alias in &aliases {
                    let owner = if self.reasons.contains_key(alias) {
                        Some(alias)
                    } else {
                        self.aliases.get(alias)
                    };
                    if let Some(owner) = owner.filter(|owner| **owner != code) {
                        return Err(ReasonCatalogueError::AliasTaken {
                            alias: alias.clone(),
                            owner: owner.clone(),
                        });
                    }
                }
                let definition = ReasonDefinition {
                    name: name.clone(),
                    category: category.clone(),
                    loss_class,
                    aliases: aliases.clone(),
                    retired: false,
                };
                match self.reasons.get(&code) {
                    Some(current) if *current == definition => return Ok(vec![]),
                    None if self.reasons.len() >= MAX_REASONS => {
                        return Err(ReasonCatalogueError::Full {
                            what: "reasons",
                            max: MAX_REASONS,
                        })
                    }
                    _ => {}
                }
                Ok(vec![ReasonCatalogueEvent::ReasonDefined {
                    site,
                    code,
                    name,
                    category,
                    loss_class,
                    aliases,
                    at,
                }])
            }
            ReasonCatalogueCommand::RetireReason { site, code, at } => {
                match self.reasons.get(&code) {
                    None => Err(ReasonCatalogueError::UnknownReason { code }),
                    Some(reason) if reason.retired => Ok(vec![]),
                    Some(_) => Ok(vec![ReasonCatalogueEvent::ReasonRetired { site, code, at }]),
                }
            }
            ReasonCatalogueCommand::SetUnknownPolicy { site, policy, at } => {
                if policy == self.policy {
                    return Ok(vec![]);
                }
                Ok(vec![ReasonCatalogueEvent::UnknownReasonPolicySet {
                    site,
                    policy,
                    at,
                }])
            }
        }
    }
}

/// The rules of a site's reason catalogue. Any command starts it (the site is in every
/// command); before that, it has no state.
impl Lifecycle for ReasonCatalogueState {
    const TYPE: &'static str = "reason_catalogue";
    const NOUN: &'static str = "reason catalogue";
    type Command = ReasonCatalogueCommand;
    type Event = ReasonCatalogueEvent;
    type Error = ReasonCatalogueError;

    fn create(
        command: ReasonCatalogueCommand,
    ) -> Result<Vec<ReasonCatalogueEvent>, ReasonCatalogueError> {
        // Setting the default policy (`refuse`) on a site without a catalogue stores nothing.
        Self::empty(command.site().clone()).decide_command(command)
    }

    fn decide(
        &self,
        command: ReasonCatalogueCommand,
    ) -> Result<Vec<ReasonCatalogueEvent>, ReasonCatalogueError> {
        self.decide_command(command)
    }

    fn born(event: ReasonCatalogueEvent) -> Option<Self> {
        let mut state = Self::empty(event.site().clone());
        state.evolve(event);
        Some(state)
    }

    fn evolve(&mut self, event: ReasonCatalogueEvent) {
        match event {
            ReasonCatalogueEvent::ReasonCategoryDefined { category, name, .. } => {
                self.categories.insert(category, name);
            }
            ReasonCatalogueEvent::ReasonDefined {
                code,
                name,
                category,
                loss_class,
                aliases,
                ..
            } => {
                if let Some(old) = self.reasons.get(&code) {
                    for alias in &old.aliases {
                        self.aliases.remove(alias);
                    }
                }
                for alias in &aliases {
                    self.aliases.insert(alias.clone(), code.clone());
                }
                self.reasons.insert(
                    code,
                    ReasonDefinition {
                        name,
                        category,
                        loss_class,
                        aliases,
                        retired: false,
                    },
                );
            }
            ReasonCatalogueEvent::ReasonRetired { code, .. } => {
                if let Some(reason) = self.reasons.get_mut(&code) {
                    reason.retired = true;
                }
            }
            ReasonCatalogueEvent::UnknownReasonPolicySet { policy, .. } => {
                self.policy = policy;
            }
        }
    }
}

/// A site's reason catalogue: the aggregate `reason_catalogue`, a [`Stream`] over its state,
/// which is `None` before its first command.
pub type ReasonCatalogue = Stream<Option<ReasonCatalogueState>>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 6, minute, 0).unwrap()
    }

    fn code(text: &str) -> ReasonCode {
        ReasonCode::parse(text).unwrap()
    }

    fn site() -> SiteId {
        SiteId::new("site1").unwrap()
    }

    fn run(
        state: Option<ReasonCatalogueState>,
        commands: Vec<ReasonCatalogueCommand>,
    ) -> Result<Option<ReasonCatalogueState>, ReasonCatalogueError> {
        let mut state = state;
        for command in commands {
            let events = match &state {
                Some(s) => s.decide(command)?,
                None => ReasonCatalogueState::create(command)?,
            };
            for event in events {
                match &mut state {
                    Some(s) => s.evolve(event),
                    None => state = ReasonCatalogueState::born(event),
                }
            }
        }
        Ok(state)
    }

    fn category(name: &str) -> ReasonCatalogueCommand {
        ReasonCatalogueCommand::DefineCategory {
            site: site(),
            category: code(name),
            name: name.to_owned(),
            at: t(0),
        }
    }

    fn reason(name: &str, category: &str, aliases: &[&str]) -> ReasonCatalogueCommand {
        ReasonCatalogueCommand::DefineReason {
            site: site(),
            code: code(name),
            name: name.to_owned(),
            category: code(category),
            loss_class: LossClass::SmallStops,
            aliases: aliases.iter().map(|a| code(a)).collect(),
            at: t(1),
        }
    }

    fn catalogue() -> ReasonCatalogueState {
        run(
            None,
            vec![
                category("Mechanical"),
                reason("Jam", "mechanical", &["Jammed", "stuck"]),
            ],
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn codes_and_aliases_resolve_whatever_their_case() {
        let state = catalogue();
        for text in ["jam", "Jam", " JAM ", "jammed", "Stuck"] {
            assert_eq!(
                state.resolve(text),
                Resolution::Known(code("jam")),
                "{text}"
            );
        }
        assert_eq!(
            state.resolve("Broken Belt"),
            Resolution::Unknown {
                normalized: "broken_belt".into(),
                retired: false,
                policy: UnknownReasonPolicy::Refuse
            }
        );
    }

    #[test]
    fn a_reason_needs_a_defined_category_and_free_aliases() {
        let state = catalogue();
        assert_eq!(
            state.decide(reason("belt", "electrical", &[])),
            Err(ReasonCatalogueError::UnknownCategory {
                category: code("electrical")
            })
        );
        assert_eq!(
            state.decide(reason("belt", "mechanical", &["stuck"])),
            Err(ReasonCatalogueError::AliasTaken {
                alias: code("stuck"),
                owner: code("jam")
            })
        );
        assert_eq!(
            state.decide(reason("jammed", "mechanical", &[])),
            Err(ReasonCatalogueError::CodeIsAlias {
                code: code("jammed"),
                owner: code("jam")
            })
        );
        assert_eq!(
            state.decide(reason("unassigned", "mechanical", &[])),
            Err(ReasonCatalogueError::Reserved)
        );
    }

    #[test]
    fn redefining_replaces_aliases_and_the_same_definition_stores_nothing() {
        let state = catalogue();
        assert_eq!(
            state.decide(reason("Jam", "mechanical", &["jammed", "stuck"])),
            Ok(vec![])
        );
        let state = run(Some(state), vec![reason("jam", "mechanical", &["jammed"])])
            .unwrap()
            .unwrap();
        assert!(matches!(state.resolve("stuck"), Resolution::Unknown { .. }));
        assert_eq!(state.resolve("jammed"), Resolution::Known(code("jam")));
    }

    #[test]
    fn a_retired_reason_stays_known_but_is_unknown_to_new_reports() {
        let state = run(
            Some(catalogue()),
            vec![
                ReasonCatalogueCommand::RetireReason {
                    site: site(),
                    code: code("jam"),
                    at: t(2),
                },
                ReasonCatalogueCommand::SetUnknownPolicy {
                    site: site(),
                    policy: UnknownReasonPolicy::MapToUnassigned,
                    at: t(3),
                },
            ],
        )
        .unwrap()
        .unwrap();
        assert!(state.reasons()[&code("jam")].retired);
        assert_eq!(
            state.resolve("Jammed"),
            Resolution::Unknown {
                normalized: "jammed".into(),
                retired: true,
                policy: UnknownReasonPolicy::MapToUnassigned
            }
        );
        assert_eq!(
            state.decide(ReasonCatalogueCommand::RetireReason {
                site: site(),
                code: code("jam"),
                at: t(4),
            }),
            Ok(vec![])
        );
        assert_eq!(
            state.decide(ReasonCatalogueCommand::RetireReason {
                site: site(),
                code: code("belt"),
                at: t(4),
            }),
            Err(ReasonCatalogueError::UnknownReason { code: code("belt") })
        );
        // Defined again, it is active again.
        let state = run(Some(state), vec![reason("jam", "mechanical", &[])])
            .unwrap()
            .unwrap();
        assert_eq!(state.resolve("JAM"), Resolution::Known(code("jam")));
    }

    #[test]
    fn a_command_for_another_site_is_refused() {
        let state = catalogue();
        let other = ReasonCatalogueCommand::DefineCategory {
            site: SiteId::new("site2").unwrap(),
            category: code("x"),
            name: "x".into(),
            at: t(0),
        };
        assert!(matches!(
            state.decide(other),
            Err(ReasonCatalogueError::WrongSite { .. })
        ));
    }
}
