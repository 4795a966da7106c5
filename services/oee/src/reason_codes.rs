//! The sites' reason catalogues as the OEE read model keeps them (from production's
//! `ReasonCategoryDefined`, `ReasonDefined` and `ReasonRetired` on its topic), and the Paretos
//! by category and by reason built from them at read time (docs/reason-codes.md).
//!
//! The engine keeps the reasons it was given (a stop's catalogue code or reported text, a
//! reject's failed characteristics, a breakdown's failure mode); a query maps each through the
//! catalogue of the work unit's site (the first segment of its id): normalized (case, blanks
//! and dashes folded), then looked up as a code or an alias, retired codes included. What the
//! catalogue does not know is `unassigned`. A site without a catalogue keeps its normalized
//! reasons, all in category `unassigned`. The tables are rebuilt with the rest of the read
//! model, from the same messages, so a rebuild gives the same Paretos.
//!
//! Invariant: reads the topic contract only; no production code.

use std::collections::{BTreeMap, HashMap};

use mom_projection::{ApplyError, Connection};
use mom_proto::production::v1 as prd;
use sqlx::AnyPool;

use crate::facts::Input;
use crate::query::Stored;

/// The code of everything a catalogue does not know.
pub const UNASSIGNED: &str = "unassigned";

/// The read-model tables (created with the projection's schema, emptied by its rebuild).
pub const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS oee_reason_categories (\
        site TEXT NOT NULL, category TEXT NOT NULL, name TEXT NOT NULL, \
        PRIMARY KEY (site, category))",
    "CREATE TABLE IF NOT EXISTS oee_reason_codes (\
        site TEXT NOT NULL, code TEXT NOT NULL, name TEXT NOT NULL, category TEXT NOT NULL, \
        loss_class TEXT NOT NULL, retired BIGINT NOT NULL, PRIMARY KEY (site, code))",
    "CREATE TABLE IF NOT EXISTS oee_reason_aliases (\
        site TEXT NOT NULL, alias TEXT NOT NULL, code TEXT NOT NULL, \
        PRIMARY KEY (site, alias))",
];

/// The tables, for the projection's rebuild.
pub const TABLES: [&str; 3] = [
    "oee_reason_categories",
    "oee_reason_codes",
    "oee_reason_aliases",
];

/// One change of a site's catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogueChange {
    /// A category was defined or renamed.
    Category {
        site: String,
        category: String,
        name: String,
    },
    /// A reason was defined or redefined (its aliases replace the old ones).
    Reason {
        site: String,
        code: String,
        name: String,
        category: String,
        loss_class: String,
        aliases: Vec<String>,
    },
    /// A reason was retired (it stays known for history).
    Retired { site: String, code: String },
}

/// Returns `text` as a code compares: trimmed, lowercase, every run of blanks, dashes and
/// underscores one `_` (`mom_oee::ids::normalize_reason`, the rule production's catalogue uses).
pub fn normalize(text: &str) -> String {
    mom_oee::ids::normalize_reason(text)
}

/// Returns the site of a work unit: its id up to the first dot.
pub fn site_of(equipment: &str) -> &str {
    equipment.split('.').next().unwrap_or_default()
}

fn loss_class_name(value: i32) -> String {
    use prd::ReasonLossClass as C;
    match C::try_from(value).unwrap_or(C::Unspecified) {
        C::Unspecified => "",
        C::EquipmentFailure => "equipment_failure",
        C::SetupAndAdjustments => "setup_and_adjustments",
        C::SmallStops => "small_stops",
        C::ReducedSpeed => "reduced_speed",
        C::StartupRejects => "startup_rejects",
        C::ProductionRejects => "production_rejects",
        C::Planned => "planned",
        C::NotALoss => "not_a_loss",
    }
    .to_owned()
}

/// The input of a `ReasonCategoryDefined`.
pub fn category_defined(event: prd::ReasonCategoryDefined) -> Vec<Input> {
    vec![Input::Reason(CatalogueChange::Category {
        site: event.site,
        category: normalize(&event.category),
        name: event.name,
    })]
}

/// The input of a `ReasonDefined`.
pub fn reason_defined(event: prd::ReasonDefined) -> Vec<Input> {
    vec![Input::Reason(CatalogueChange::Reason {
        site: event.site,
        code: normalize(&event.code),
        name: event.name,
        category: normalize(&event.category),
        loss_class: loss_class_name(event.loss_class),
        aliases: event.aliases.iter().map(|a| normalize(a)).collect(),
    })]
}

/// The input of a `ReasonRetired`.
pub fn reason_retired(event: prd::ReasonRetired) -> Vec<Input> {
    vec![Input::Reason(CatalogueChange::Retired {
        site: event.site,
        code: normalize(&event.code),
    })]
}

/// Writes one change to the tables.
pub async fn write(
    connection: &mut Connection,
    change: &CatalogueChange,
) -> Result<(), ApplyError> {
    match change {
        CatalogueChange::Category {
            site,
            category,
            name,
        } => {
            sqlx::query(
                "INSERT INTO oee_reason_categories (site, category, name) VALUES ($1, $2, $3) \
                 ON CONFLICT (site, category) DO UPDATE SET name = excluded.name",
            )
            .bind(site)
            .bind(category)
            .bind(name)
            .execute(&mut *connection)
            .await?;
        }
        CatalogueChange::Reason {
            site,
            code,
            name,
            category,
            loss_class,
            aliases,
        } => {
            sqlx::query(
                "INSERT INTO oee_reason_codes (site, code, name, category, loss_class, retired) \
                 VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (site, code) DO UPDATE SET \
                 name = excluded.name, category = excluded.category, \
                 loss_class = excluded.loss_class, retired = 0",
            )
            .bind(site)
            .bind(code)
            .bind(name)
            .bind(category)
            .bind(loss_class)
            .execute(&mut *connection)
            .await?;
            sqlx::query("DELETE FROM oee_reason_aliases WHERE site = $1 AND code = $2")
                .bind(site)
                .bind(code)
                .execute(&mut *connection)
                .await?;
            for alias in aliases {
                sqlx::query(
                    "INSERT INTO oee_reason_aliases (site, alias, code) VALUES ($1, $2, $3) \
                     ON CONFLICT (site, alias) DO UPDATE SET code = excluded.code",
                )
                .bind(site)
                .bind(alias)
                .bind(code)
                .execute(&mut *connection)
                .await?;
            }
        }
        CatalogueChange::Retired { site, code } => {
            sqlx::query("UPDATE oee_reason_codes SET retired = 1 WHERE site = $1 AND code = $2")
                .bind(site)
                .bind(code)
                .execute(&mut *connection)
                .await?;
        }
    }
    Ok(())
}

/// A known reason: name, category and loss class.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    name: String,
    category: String,
    loss_class: String,
}

/// Every site's catalogue, read for one query.
#[derive(Debug, Clone, Default)]
pub struct Catalogues {
    categories: HashMap<(String, String), String>,
    reasons: HashMap<(String, String), Known>,
    aliases: HashMap<(String, String), String>,
    sites: std::collections::HashSet<String>,
}

/// Where a reason lands: its code, category and loss class (empty when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The catalogue code, `unassigned`, or (for a site without a catalogue) the normalized
    /// reason.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its category (`unassigned` when unknown).
    pub category: String,
    /// Its loss class (empty when unknown).
    pub loss_class: String,
}

impl Catalogues {
    /// Reads every catalogue.
    pub async fn read(pool: &AnyPool) -> Result<Catalogues, sqlx::Error> {
        let mut out = Catalogues::default();
        let categories: Vec<(String, String, String)> =
            sqlx::query_as("SELECT site, category, name FROM oee_reason_categories")
                .fetch_all(pool)
                .await?;
        for (site, category, name) in categories {
            out.sites.insert(site.clone());
            out.categories.insert((site, category), name);
        }
        let reasons: Vec<(String, String, String, String, String)> =
            sqlx::query_as("SELECT site, code, name, category, loss_class FROM oee_reason_codes")
                .fetch_all(pool)
                .await?;
        for (site, code, name, category, loss_class) in reasons {
            out.sites.insert(site.clone());
            out.reasons.insert(
                (site, code),
                Known {
                    name,
                    category,
                    loss_class,
                },
            );
        }
        let aliases: Vec<(String, String, String)> =
            sqlx::query_as("SELECT site, alias, code FROM oee_reason_aliases")
                .fetch_all(pool)
                .await?;
        for (site, alias, code) in aliases {
            out.aliases.insert((site, alias), code);
        }
        Ok(out)
    }

    /// Returns the name of category `category` of `site` (the code when it has none).
    pub fn category_name(&self, site: &str, category: &str) -> String {
        self.categories
            .get(&(site.to_owned(), category.to_owned()))
            .cloned()
            .unwrap_or_else(|| category.to_owned())
    }

    fn lookup(&self, site: &str, normalized: &str) -> Option<(String, &Known)> {
        let key = (site.to_owned(), normalized.to_owned());
        let code = if self.reasons.contains_key(&key) {
            normalized.to_owned()
        } else {
            self.aliases.get(&key)?.clone()
        };
        let known = self.reasons.get(&(site.to_owned(), code.clone()))?;
        Some((code, known))
    }

    /// Returns where `reason` of a work unit of `site` lands: by its normalized code or
    /// alias (for `kind:detail` reasons such as `material_shortage:steel`, by `kind` when the
    /// whole is unknown; for a reject's `burr+crack`, by the first failed characteristic the
    /// catalogue knows); `unassigned` when the site's catalogue does not know it; the
    /// normalized reason in category `unassigned` when the site has no catalogue.
    pub fn place(&self, site: &str, reason: &str) -> Placed {
        let normalized = normalize(reason);
        let found = self
            .lookup(site, &normalized)
            .or_else(|| {
                let (kind, _) = normalized.split_once(':')?;
                self.lookup(site, kind)
            })
            .or_else(|| {
                if !normalized.contains('+') {
                    return None;
                }
                normalized
                    .split('+')
                    .find_map(|part| self.lookup(site, part))
            });
        if let Some((code, known)) = found {
            return Placed {
                code,
                name: known.name.clone(),
                category: known.category.clone(),
                loss_class: known.loss_class.clone(),
            };
        }
        let code = if self.sites.contains(site) || normalized.is_empty() {
            UNASSIGNED.to_owned()
        } else {
            normalized
        };
        Placed {
            name: code.clone(),
            code,
            category: UNASSIGNED.to_owned(),
            loss_class: String::new(),
        }
    }
}

/// One line of a grouped Pareto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Category or reason code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// The category (the code itself for a category line).
    pub category: String,
    /// The reason's loss class (empty for a category line or an unknown reason).
    pub loss_class: String,
    /// Loss time.
    pub ms: i64,
}

/// The Paretos by category and by reason, largest first (ties by code).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grouped {
    /// By category.
    pub by_category: Vec<Group>,
    /// By reason.
    pub by_reason: Vec<Group>,
}

/// Groups the reasons of every loss of `rows` (work-unit rows with their reasons) by the
/// catalogue of each row's site.
pub fn group(rows: &[Stored], catalogues: &Catalogues) -> Grouped {
    let mut by_category: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut by_reason: BTreeMap<(String, String), (Placed, i64)> = BTreeMap::new();
    for (equipment, _, summary) in rows {
        let site = site_of(equipment);
        for reasons in summary.reasons.values() {
            for (reason, ms) in reasons {
                let placed = catalogues.place(site, reason);
                let category_site = if placed.category == UNASSIGNED {
                    String::new()
                } else {
                    site.to_owned()
                };
                *by_category
                    .entry((category_site, placed.category.clone()))
                    .or_default() += ms;
                let entry = by_reason
                    .entry((placed.category.clone(), placed.code.clone()))
                    .or_insert_with(|| (placed, 0));
                entry.1 += ms;
            }
        }
    }
    // Categories of several sites with the same code are one line (named as the first site
    // names it).
    let mut categories: BTreeMap<String, Group> = BTreeMap::new();
    for ((site, category), ms) in by_category {
        let line = categories.entry(category.clone()).or_insert_with(|| Group {
            name: if site.is_empty() {
                category.clone()
            } else {
                catalogues.category_name(&site, &category)
            },
            code: category.clone(),
            category,
            loss_class: String::new(),
            ms: 0,
        });
        line.ms += ms;
    }
    let mut by_category: Vec<Group> = categories.into_values().collect();
    let mut by_reason: Vec<Group> = by_reason
        .into_values()
        .map(|(placed, ms)| Group {
            code: placed.code,
            name: placed.name,
            category: placed.category,
            loss_class: placed.loss_class,
            ms,
        })
        .collect();
    let rank = |a: &Group, b: &Group| b.ms.cmp(&a.ms).then_with(|| a.code.cmp(&b.code));
    by_category.sort_by(rank);
    by_reason.sort_by(rank);
    Grouped {
        by_category,
        by_reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Summary;

    fn catalogues() -> Catalogues {
        let mut c = Catalogues::default();
        c.sites.insert("site1".into());
        c.categories
            .insert(("site1".into(), "mechanical".into()), "Mechanical".into());
        c.reasons.insert(
            ("site1".into(), "jam".into()),
            Known {
                name: "Jam".into(),
                category: "mechanical".into(),
                loss_class: "small_stops".into(),
            },
        );
        c.reasons.insert(
            ("site1".into(), "material_shortage".into()),
            Known {
                name: "Material shortage".into(),
                category: "logistics".into(),
                loss_class: "equipment_failure".into(),
            },
        );
        c.aliases
            .insert(("site1".into(), "jammed".into()), "jam".into());
        c
    }

    fn row(equipment: &str, reasons: &[(&str, &str, i64)]) -> Stored {
        let mut summary = Summary::default();
        for (loss, reason, ms) in reasons {
            *summary
                .reasons
                .entry((*loss).into())
                .or_default()
                .entry((*reason).into())
                .or_default() += ms;
        }
        (equipment.into(), "hour".into(), summary)
    }

    #[test]
    fn case_and_alias_spellings_collapse_into_one_reason_and_unknowns_are_unassigned() {
        let rows = [
            row(
                "site1.line1.press",
                &[
                    ("small_stops", "jam", 60_000),
                    ("small_stops", "Jam", 30_000),
                    ("small_stops", "JAMMED", 10_000),
                    ("small_stops", "tea break", 5_000),
                    ("production_rejects", "crack+Jammed", 1_000),
                    ("equipment_failure", "material_shortage:steel", 120_000),
                ],
            ),
            row("site2.press", &[("small_stops", "Jam", 7_000)]),
        ];
        let grouped = group(&rows, &catalogues());
        let reasons: Vec<(&str, &str, i64)> = grouped
            .by_reason
            .iter()
            .map(|g| (g.code.as_str(), g.category.as_str(), g.ms))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("material_shortage", "logistics", 120_000),
                ("jam", "mechanical", 101_000),
                ("jam", "unassigned", 7_000),
                ("unassigned", "unassigned", 5_000),
            ]
        );
        let categories: Vec<(&str, &str, i64)> = grouped
            .by_category
            .iter()
            .map(|g| (g.code.as_str(), g.name.as_str(), g.ms))
            .collect();
        assert_eq!(
            categories,
            vec![
                ("logistics", "logistics", 120_000),
                ("mechanical", "Mechanical", 101_000),
                ("unassigned", "unassigned", 12_000),
            ]
        );
    }
}
