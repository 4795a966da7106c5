//! The inventory query API as JSON over HTTP, over [`InventoryQueries`] like the gRPC API:
//!
//! - `GET /api/inventory/lots?location=&material=&status=available|held&page_size=&page_token=`
//! - `GET /api/inventory/holds?material=&lot=&page_size=&page_token=`
//! - `GET /api/inventory/expiring?within=7d&as_of=&material=&location=&page_size=&page_token=`
//! - `GET /api/inventory/genealogy/{lot}?direction=backward|forward&depth=1..64`

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, QueryErrors};
use serde::Serialize;
use utoipa::ToSchema;

use super::genealogy::{Direction, Link};
use super::query::{
    depth, parse_within, ExpiringRow, HoldRow, InventoryQueries, NodeRow, StockFilter, StockRow,
};
use crate::http::{
    as_of_param, optional_param, page, param, params, params_with, respond, PageParams,
    QueryRoutes, QueryString, PAGE_PARAMS,
};
use crate::query::{rfc3339, QueryError};

/// The answer of `GET /api/inventory/lots`: a page of stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct LotsAnswer {
    /// Quantities of lots per location, by location then lot.
    pub lots: Vec<StockLot>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// A quantity of a lot at one location.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "lot": "L-0042", "material": "steel-coil", "location": "store-a", "quantity": 120,
    "status": "available", "expiry": null, "order_id": "", "supplier_lot": "S-77"
}))]
pub struct StockLot {
    /// The lot.
    pub lot: String,
    /// Its material.
    pub material: String,
    /// The location.
    pub location: String,
    /// The quantity there.
    pub quantity: i64,
    /// `available` or `held`.
    pub status: String,
    /// When the lot expires (RFC 3339); null when it does not.
    #[schema(format = DateTime)]
    pub expiry: Option<String>,
    /// The production order that made it (empty for received lots).
    pub order_id: String,
    /// The supplier's lot number (empty for produced lots).
    pub supplier_lot: String,
}

impl From<&StockRow> for StockLot {
    fn from(row: &StockRow) -> Self {
        Self {
            lot: row.lot.clone(),
            material: row.material.clone(),
            location: row.location.clone(),
            quantity: row.quantity,
            status: row.status.clone(),
            expiry: row.expiry_ms.map(rfc3339),
            order_id: row.order_id.clone(),
            supplier_lot: row.supplier_lot.clone(),
        }
    }
}

/// The answer of `GET /api/inventory/holds`: a page of active holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldsAnswer {
    /// The active holds, oldest first.
    pub holds: Vec<LotHold>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// An active hold on a lot.
#[derive(Debug, Serialize, ToSchema)]
pub struct LotHold {
    /// The lot.
    pub lot: String,
    /// Its material.
    pub material: String,
    /// The hold's reference.
    pub hold: String,
    /// Why it is held.
    pub reason: String,
    /// Held since (RFC 3339).
    #[schema(format = DateTime)]
    pub since: String,
    /// The lot's quantity over every location.
    pub quantity: i64,
}

impl From<&HoldRow> for LotHold {
    fn from(row: &HoldRow) -> Self {
        Self {
            lot: row.lot.clone(),
            material: row.material.clone(),
            hold: row.hold.clone(),
            reason: row.reason.clone(),
            since: rfc3339(row.since_ms),
            quantity: row.quantity,
        }
    }
}

/// The answer of `GET /api/inventory/expiring`: a page of lots expiring soon.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiringAnswer {
    /// The instant the window starts at (RFC 3339).
    #[schema(format = DateTime)]
    pub as_of: String,
    /// Lots expiring before `as_of` + `within` (or already expired), soonest first.
    pub lots: Vec<ExpiringLot>,
    /// The `page_token` of the next page; empty on the last page.
    pub next_page_token: String,
}

/// A lot in stock with its expiry.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiringLot {
    /// The lot.
    pub lot: String,
    /// Its material.
    pub material: String,
    /// When it expires (RFC 3339).
    #[schema(format = DateTime)]
    pub expiry: String,
    /// Its quantity (at the location asked for, or over every location).
    pub quantity: i64,
    /// Whether it has expired by `as_of`.
    pub expired: bool,
    /// `available` or `held`.
    pub status: String,
}

impl ExpiringLot {
    fn new(row: &ExpiringRow, as_of: DateTime<Utc>) -> Self {
        Self {
            lot: row.lot.clone(),
            material: row.material.clone(),
            expiry: rfc3339(row.expiry_ms),
            quantity: row.quantity,
            expired: row.expiry_ms <= as_of.timestamp_millis(),
            status: row.status.clone(),
        }
    }
}

/// The answer of `GET /api/inventory/genealogy/{lot}`: the lots a lot was made from (backward)
/// or went into (forward).
#[derive(Debug, Serialize, ToSchema)]
pub struct GenealogyAnswer {
    /// The lot asked for.
    pub lot: String,
    /// `backward` or `forward`.
    pub direction: String,
    /// The edges of the graph, nearest first.
    pub links: Vec<GenealogyLink>,
    /// Every lot of the graph.
    pub lots: Vec<GenealogyLot>,
    /// Whether the graph was cut at a size limit.
    pub truncated: bool,
}

/// One edge of a genealogy: `input_lot` went into `output_lot` in production order `order_id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenealogyLink {
    /// The consumed lot.
    pub input_lot: String,
    /// The produced lot.
    pub output_lot: String,
    /// The production order (empty when none).
    pub order_id: String,
    /// Its distance from the lot asked for, from 1.
    pub depth: u32,
}

impl From<&Link> for GenealogyLink {
    fn from(link: &Link) -> Self {
        Self {
            input_lot: link.edge.input_lot.clone(),
            output_lot: link.edge.output_lot.clone(),
            order_id: link.edge.order_id.clone(),
            depth: link.depth,
        }
    }
}

/// A lot of a genealogy graph.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenealogyLot {
    /// The lot.
    pub lot: String,
    /// Its material.
    pub material: String,
    /// Its quantity over every location.
    pub quantity: i64,
    /// Whether it is on hold.
    pub held: bool,
}

impl From<&NodeRow> for GenealogyLot {
    fn from(row: &NodeRow) -> Self {
        Self {
            lot: row.lot.clone(),
            material: row.material.clone(),
            quantity: row.quantity,
            held: row.held != 0,
        }
    }
}

/// A page of stock: quantities of lots per location.
#[utoipa::path(
    get,
    path = "/api/inventory/lots",
    tag = "inventory",
    operation_id = "inventory_lots",
    params(
        ("location" = Option<String>, Query, description = "Only this location"),
        ("material" = Option<String>, Query, description = "Only this material"),
        ("status" = Option<String>, Query, description = "Only lots that are available or held"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of stock", body = LotsAnswer),
        QueryErrors,
    ),
)]
async fn lots(State(queries): State<InventoryQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(query, &["location", "material", "status"], &[&PAGE_PARAMS])?;
            let filter = StockFilter::new(
                param(&params, "location"),
                param(&params, "material"),
                param(&params, "status"),
            )?;
            let (rows, next) = queries.lots(&filter, page(&params)?).await?;
            Ok(LotsAnswer {
                lots: rows.iter().map(StockLot::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

/// A page of the active holds on lots.
#[utoipa::path(
    get,
    path = "/api/inventory/holds",
    tag = "inventory",
    operation_id = "inventory_holds",
    params(
        ("material" = Option<String>, Query, description = "Only lots of this material"),
        ("lot" = Option<String>, Query, description = "Only this lot"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of active holds", body = HoldsAnswer),
        QueryErrors,
    ),
)]
async fn holds(State(queries): State<InventoryQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(query, &["material", "lot"], &[&PAGE_PARAMS])?;
            let (rows, next) = queries
                .holds(
                    param(&params, "material"),
                    param(&params, "lot"),
                    page(&params)?,
                )
                .await?;
            Ok(HoldsAnswer {
                holds: rows.iter().map(LotHold::from).collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

/// A page of the lots in stock that expire within a window (or have expired).
#[utoipa::path(
    get,
    path = "/api/inventory/expiring",
    tag = "inventory",
    operation_id = "inventory_expiring",
    params(
        ("within" = String, Query, description = "The window after as_of: a duration such as 90s, 30m, 12h, 7d or 2w", example = "7d"),
        ("as_of" = Option<String>, Query, format = DateTime, description = "The instant the window starts at (RFC 3339; now when absent)"),
        ("material" = Option<String>, Query, description = "Only lots of this material"),
        ("location" = Option<String>, Query, description = "Only stock at this location"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of expiring lots", body = ExpiringAnswer),
        QueryErrors,
    ),
)]
async fn expiring(State(queries): State<InventoryQueries>, query: QueryString) -> Response {
    respond(
        async {
            let params = params_with(
                query,
                &["within", "as_of", "material", "location"],
                &[&PAGE_PARAMS],
            )?;
            let within = match param(&params, "within") {
                "" => {
                    return Err(QueryError::invalid(
                        "within",
                        "within is required: a duration such as 30m, 12h, 7d or 2w",
                    ))
                }
                text => parse_within(text)?,
            };
            let as_of = as_of_param(optional_param(&params, "as_of"))?;
            let (rows, next) = queries
                .expiring(
                    as_of,
                    within,
                    param(&params, "material"),
                    param(&params, "location"),
                    page(&params)?,
                )
                .await?;
            Ok(ExpiringAnswer {
                as_of: as_of.to_rfc3339(),
                lots: rows
                    .iter()
                    .map(|row| ExpiringLot::new(row, as_of))
                    .collect(),
                next_page_token: next,
            })
        }
        .await,
    )
}

/// The genealogy of a lot: the lots it was made from (backward) or went into (forward).
#[utoipa::path(
    get,
    path = "/api/inventory/genealogy/{lot}",
    tag = "inventory",
    operation_id = "inventory_genealogy",
    params(
        ("lot" = String, Path, description = "The lot", example = "L-0042"),
        ("direction" = Option<String>, Query, description = "backward (the default: toward the inputs) or forward (toward the outputs)", example = "backward"),
        ("depth" = Option<u32>, Query, description = "How many levels, 1 to 64 (64 when absent or 0)", minimum = 0, maximum = 64),
    ),
    responses(
        (status = 200, description = "The genealogy graph", body = GenealogyAnswer),
        QueryErrors,
    ),
)]
async fn genealogy(
    State(queries): State<InventoryQueries>,
    Path(lot): Path<String>,
    query: QueryString,
) -> Response {
    respond(
        async {
            let params = params(query, &["direction", "depth"])?;
            let direction = match param(&params, "direction") {
                "" => Direction::Backward,
                name => Direction::named(name).ok_or_else(|| {
                    QueryError::invalid(
                        "direction",
                        format!("direction {name:?} is not backward or forward"),
                    )
                })?,
            };
            let max_depth = match param(&params, "depth") {
                "" => depth(0)?,
                text => depth(text.parse().map_err(|_| {
                    QueryError::invalid(
                        "depth",
                        format!("depth {text:?} is not a whole number from 1 to 64"),
                    )
                })?)?,
            };
            let (links, lots, truncated) = queries.genealogy(&lot, direction, max_depth).await?;
            Ok(GenealogyAnswer {
                direction: direction.name().to_owned(),
                links: links.iter().map(GenealogyLink::from).collect(),
                lots: lots.iter().map(GenealogyLot::from).collect(),
                truncated,
                lot,
            })
        }
        .await,
    )
}

impl QueryRoutes for InventoryQueries {
    fn routes() -> ApiRouter<Self> {
        ApiRouter::new()
            .routes(routes!(lots))
            .routes(routes!(holds))
            .routes(routes!(expiring))
            .routes(routes!(genealogy))
    }
}
