//! The simulated plant's master data: hierarchy, work units, products, materials, inspection
//! plans; created through the services' APIs (again on every start: what exists is kept).

use chrono::{DateTime, Utc};
use mom_proto::inventory::v1 as inv;
use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::maintenance::v1 as mnt;
use mom_proto::maintenance::v1::maintenance_service_client::MaintenanceServiceClient;
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use tonic::{Code, Status};

use crate::layout::{line_side_of, AreaLayout, Layout, Level, LineLayout, DEFECTS, PM_PLANS};
use crate::Channels;

/// A product a work unit makes, with its ideal cycle time.
#[derive(Debug, Clone)]
pub struct Product {
    /// Product id.
    pub id: &'static str,
    /// Ideal seconds per unit.
    pub cycle_s: f64,
}

/// One simulated work unit.
#[derive(Debug, Clone)]
pub struct WorkUnitSpec {
    /// Equipment id.
    pub id: &'static str,
    /// Its work center (line).
    pub line: &'static str,
    /// Products it alternates between.
    pub products: Vec<Product>,
    /// The material it starves for.
    pub material: &'static str,
}

/// One operation of a line's routing.
#[derive(Debug, Clone)]
pub struct OperationSpec {
    /// Operation number (10, 20, ...).
    pub number: u32,
    /// Name.
    pub name: &'static str,
    /// Work units that can run it.
    pub work_units: Vec<&'static str>,
}

/// One line (work center): what its production orders look like and what they consume.
#[derive(Debug, Clone)]
pub struct LineSpec {
    /// Work center id.
    pub id: &'static str,
    /// The routing every order of the line follows, in order.
    pub routing: Vec<OperationSpec>,
    /// Products it makes (the work units' products).
    pub products: Vec<Product>,
    /// Raw materials every unit of product consumes (one piece each).
    pub materials: Vec<&'static str>,
    /// Order sizes, in units.
    pub order_size: (u64, u64),
    /// Raw material lot sizes, in pieces.
    pub lot_size: (u64, u64),
    /// The line-side location its raw material is moved to.
    pub line_side: &'static str,
}

/// The plant.
#[derive(Debug, Clone)]
pub struct Plant {
    /// Enterprise, site and areas with their lines: (area, lines).
    pub areas: Vec<(&'static str, Vec<&'static str>)>,
    /// Work units.
    pub units: Vec<WorkUnitSpec>,
    /// Lines that run production orders.
    pub lines: Vec<LineSpec>,
}

const ENTERPRISE: &str = "acme";
const SITE: &str = "plant-1";

impl Plant {
    /// Two areas, one line each, three work units per line.
    pub fn standard() -> Self {
        let stamping = || {
            vec![
                Product {
                    id: "BRACKET-A",
                    cycle_s: 2.0,
                },
                Product {
                    id: "BRACKET-B",
                    cycle_s: 3.0,
                },
            ]
        };
        let filling = || {
            vec![
                Product {
                    id: "BOTTLE-05",
                    cycle_s: 0.8,
                },
                Product {
                    id: "BOTTLE-10",
                    cycle_s: 1.2,
                },
            ]
        };
        let unit = |id, line, products: Vec<Product>, material| WorkUnitSpec {
            id,
            line,
            products,
            material,
        };
        let op = |number, name, work_units: Vec<&'static str>| OperationSpec {
            number,
            name,
            work_units,
        };
        Plant {
            lines: vec![
                LineSpec {
                    id: "press-line",
                    routing: vec![
                        op(10, "blank", vec!["press-1"]),
                        op(20, "form", vec!["press-2"]),
                        op(30, "trim", vec!["press-3"]),
                    ],
                    products: stamping(),
                    materials: vec!["COIL-STEEL"],
                    order_size: (100, 300),
                    lot_size: (1500, 2500),
                    line_side: "press-line-side",
                },
                LineSpec {
                    id: "bottling-line",
                    routing: vec![
                        op(10, "fill", vec!["filler-1", "filler-2"]),
                        op(20, "cap", vec!["capper-1"]),
                    ],
                    products: filling(),
                    materials: vec!["PREFORM", "CAP"],
                    order_size: (400, 1200),
                    lot_size: (5000, 8000),
                    line_side: "bottling-line-side",
                },
            ],
            areas: vec![
                ("stamping", vec!["press-line"]),
                ("filling", vec!["bottling-line"]),
            ],
            units: vec![
                unit("press-1", "press-line", stamping(), "COIL-STEEL"),
                unit("press-2", "press-line", stamping(), "COIL-STEEL"),
                unit("press-3", "press-line", stamping(), "COIL-STEEL"),
                unit("filler-1", "bottling-line", filling(), "PREFORM"),
                unit("filler-2", "bottling-line", filling(), "PREFORM"),
                unit("capper-1", "bottling-line", filling(), "CAP"),
            ],
        }
    }

    /// Returns the plant's layout: the hierarchy of its areas, lines and work units, the
    /// materials the units consume and the products they make, each once.
    pub fn layout(&self) -> Layout {
        let areas =
            self.areas
                .iter()
                .map(|(area, lines)| AreaLayout {
                    id: (*area).to_owned(),
                    lines: lines
                        .iter()
                        .map(|line| LineLayout {
                            id: (*line).to_owned(),
                            line_side: self.lines.iter().find(|spec| spec.id == *line).map_or_else(
                                || line_side_of(line),
                                |spec| spec.line_side.to_owned(),
                            ),
                            work_units: self
                                .units
                                .iter()
                                .filter(|unit| unit.line == *line)
                                .map(|unit| unit.id.to_owned())
                                .collect(),
                        })
                        .collect(),
                })
                .collect();
        let mut raw_materials: Vec<String> = Vec::new();
        let mut products: Vec<String> = Vec::new();
        for unit in &self.units {
            if !raw_materials
                .iter()
                .any(|material| material == unit.material)
            {
                raw_materials.push(unit.material.to_owned());
            }
            for product in &unit.products {
                if !products.iter().any(|known| known == product.id) {
                    products.push(product.id.to_owned());
                }
            }
        }
        Layout {
            enterprise: ENTERPRISE.to_owned(),
            site: SITE.to_owned(),
            areas,
            raw_materials,
            products,
        }
    }

    /// Returns every line that has work units with the indexes of its units in [`Plant::units`],
    /// in the order of the layout (area by area, line by line).
    pub fn units_by_line(&self) -> Vec<(&'static str, Vec<usize>)> {
        self.areas
            .iter()
            .flat_map(|(_, lines)| lines.iter().copied())
            .map(|line| {
                let units = (0..self.units.len())
                    .filter(|&index| self.units[index].line == line)
                    .collect::<Vec<_>>();
                (line, units)
            })
            .filter(|(_, units)| !units.is_empty())
            .collect()
    }

    /// Returns the id of the inspection plan of `product` (the same on every start).
    pub fn plan_id(product: &str) -> String {
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("mom:simulator:plan:{product}").as_bytes(),
        )
        .to_string()
    }

    /// Creates what is missing: the hierarchy and preventive maintenance plans in maintenance,
    /// the work units and cycle times in production, the raw materials, products and locations
    /// (warehouse, line sides, finished goods) in inventory and one inspection plan per product
    /// in quality.
    pub async fn set_up(&self, channels: &Channels, at: DateTime<Utc>) -> Result<(), Status> {
        let at = Some(to_timestamp(at));
        let mut maint = MaintenanceServiceClient::new(channels.maintenance.clone());
        let mut prod = ProductionServiceClient::new(channels.production.clone());
        let mut inventory = InventoryServiceClient::new(channels.inventory.clone());
        let mut quality = QualityServiceClient::new(channels.quality.clone());
        let layout = self.layout();
        let plans: Vec<(&str, _)> = self
            .units
            .iter()
            .flat_map(|unit| PM_PLANS.iter().map(move |plan| (unit.id, plan)))
            .collect();
        for asset in layout.assets() {
            let level = match asset.level {
                Level::Enterprise => mnt::AssetLevel::Enterprise,
                Level::Site => mnt::AssetLevel::Site,
                Level::Area => mnt::AssetLevel::Area,
                Level::WorkCenter => mnt::AssetLevel::WorkCenter,
                Level::WorkUnit => mnt::AssetLevel::WorkUnit,
            };
            existing_ok(
                maint
                    .register_asset(mnt::RegisterAssetRequest {
                        context: ctx!(mnt),
                        name: asset.id.clone(),
                        asset: asset.id,
                        level: level as i32,
                        parent: asset.parent.unwrap_or_default(),
                        at,
                    })
                    .await,
            )?;
        }
        for (work_unit, (plan, every, description)) in plans {
            existing_ok(
                maint
                    .define_plan(mnt::DefinePlanRequest {
                        context: ctx!(mnt),
                        work_unit: work_unit.into(),
                        plan: (*plan).into(),
                        trigger: mnt::PlanTrigger::RunHours as i32,
                        every: i64::from(*every),
                        description: (*description).into(),
                        at,
                    })
                    .await,
            )?;
        }
        // The machines were not new when the plant started: each has some run hours since its
        // last lubrication (recorded on the first start only), so the first preventive work
        // comes early.
        for (index, unit) in self.units.iter().enumerate() {
            let asset = maint
                .get_asset(mnt::GetAssetRequest {
                    asset: unit.id.into(),
                })
                .await?
                .into_inner();
            if asset.total_run_time_ms > 0 {
                continue;
            }
            let hours_ms = 3_600_000;
            let run_time_ms = 5 * hours_ms / 2 + (index as i64 * 1_900_000) % (3 * hours_ms / 2);
            existing_ok(
                maint
                    .record_usage(mnt::RecordUsageRequest {
                        context: Some(mnt::CommandContext {
                            actor: "simulator".into(),
                            idempotency_key: format!("mom:simulator:initial-usage:{}", unit.id),
                            ..Default::default()
                        }),
                        work_unit: unit.id.into(),
                        cycles: 0,
                        run_time_ms,
                        at,
                    })
                    .await,
            )?;
        }
        for unit in &self.units {
            existing_ok(
                prod.register_work_unit(prd::RegisterWorkUnitRequest {
                    context: ctx!(prd),
                    work_unit: unit.id.into(),
                    name: unit.id.into(),
                    micro_stop_threshold_ms: 120_000,
                    startup_window_ms: 300_000,
                    at,
                })
                .await,
            )?;
            for product in &unit.products {
                existing_ok(
                    prod.set_ideal_cycle_time(prd::SetIdealCycleTimeRequest {
                        context: ctx!(prd),
                        work_unit: unit.id.into(),
                        product: product.id.into(),
                        ideal_cycle_time_ms: (product.cycle_s * 1000.0) as u64,
                        at,
                    })
                    .await,
                )?;
            }
        }
        for material in layout.materials() {
            existing_ok(
                inventory
                    .define_material(inv::DefineMaterialRequest {
                        context: ctx!(inv),
                        material: material.into(),
                        name: material.into(),
                        unit: "pcs".into(),
                        at,
                    })
                    .await,
            )?;
        }
        for location in layout.locations() {
            existing_ok(
                inventory
                    .define_location(inv::DefineLocationRequest {
                        context: ctx!(inv),
                        location: location.into(),
                        name: location.into(),
                        at,
                    })
                    .await,
            )?;
        }
        for product in &layout.products {
            existing_ok(
                quality
                    .define_inspection_plan(qa::DefineInspectionPlanRequest {
                        open_ncr_on_failure: false,
                        context: ctx!(qa),
                        plan_id: Self::plan_id(product),
                        product: product.clone(),
                        operation: 10,
                        characteristics: DEFECTS
                            .iter()
                            .map(|name| qa::Characteristic {
                                name: (*name).into(),
                                spec: Some(qa::characteristic::Spec::Attribute(
                                    qa::AttributeSpec {},
                                )),
                            })
                            .collect(),
                        sample_size: 1,
                        frequency: Some(qa::Frequency {
                            every: Some(qa::frequency::Every::Units(1000)),
                        }),
                        at,
                    })
                    .await,
            )?;
            // The fraction defective of the product's inspections per hour on a p chart, its
            // limits from the first 8 hours (short for a plant, long enough for the demo to show
            // limits soon after a start with the default backfill).
            // A p chart counts a result's rejected units among the results that check its
            // characteristic; every result checks them all, so the first one stands for all.
            existing_ok(
                quality
                    .define_control_chart(qa::DefineControlChartRequest {
                        context: ctx!(qa),
                        chart_id: format!("{product}-10-defectives"),
                        source: Some(qa::define_control_chart_request::Source::Characteristic(
                            qa::CharacteristicSource {
                                product: product.clone(),
                                operation: 10,
                                characteristic: DEFECTS[0].into(),
                            },
                        )),
                        kind: qa::ChartKind::P as i32,
                        subgroup: Some(qa::define_control_chart_request::Subgroup::WindowMs(
                            3_600_000,
                        )),
                        baseline: Some(qa::define_control_chart_request::Baseline::Subgroups(8)),
                        spec_lower: None,
                        spec_upper: None,
                        ncr_rules: Vec::new(),
                        description: format!("fraction defective of {product} per hour"),
                        at,
                    })
                    .await,
            )?;
        }
        Ok(())
    }
}

/// Master data that already exists (a restart) is fine.
fn existing_ok<T>(result: Result<T, Status>) -> Result<(), Status> {
    match result {
        Ok(_) => Ok(()),
        Err(status)
            if matches!(
                status.code(),
                Code::AlreadyExists | Code::FailedPrecondition
            ) =>
        {
            Ok(())
        }
        Err(status) => Err(status),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_line_routes_its_orders_over_its_own_work_units_with_their_products_and_materials() {
        let plant = Plant::standard();
        for line in &plant.lines {
            let numbers: Vec<u32> = line.routing.iter().map(|op| op.number).collect();
            assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
            assert!(line.order_size.0 >= 10 && line.order_size.0 <= line.order_size.1);
            // A lot covers an order, so no order waits for more than one receipt.
            assert!(line.lot_size.0 >= line.order_size.1, "{}", line.id);
            for op in &line.routing {
                assert!(!op.work_units.is_empty());
                for id in &op.work_units {
                    let unit = plant.units.iter().find(|u| u.id == *id).unwrap();
                    assert_eq!(unit.line, line.id);
                    assert!(line.materials.contains(&unit.material), "{id}");
                    let made: Vec<&str> = unit.products.iter().map(|p| p.id).collect();
                    let ordered: Vec<&str> = line.products.iter().map(|p| p.id).collect();
                    assert_eq!(made, ordered, "{id}");
                }
            }
        }
        for unit in &plant.units {
            let routed = plant
                .lines
                .iter()
                .flat_map(|line| &line.routing)
                .any(|op| op.work_units.contains(&unit.id));
            assert!(routed, "{} runs no operation", unit.id);
        }
    }

    #[test]
    fn the_standard_layout_holds_every_area_line_unit_material_and_location() {
        let layout = Plant::standard().layout();
        let assets: Vec<String> = layout
            .assets()
            .into_iter()
            .map(|asset| {
                let parent = asset.parent.unwrap_or_default();
                format!("{:?} {} < {parent}", asset.level, asset.id)
            })
            .collect();
        assert_eq!(
            assets,
            [
                "Enterprise acme < ",
                "Site plant-1 < acme",
                "Area stamping < plant-1",
                "WorkCenter press-line < stamping",
                "Area filling < plant-1",
                "WorkCenter bottling-line < filling",
                "WorkUnit press-1 < press-line",
                "WorkUnit press-2 < press-line",
                "WorkUnit press-3 < press-line",
                "WorkUnit filler-1 < bottling-line",
                "WorkUnit filler-2 < bottling-line",
                "WorkUnit capper-1 < bottling-line",
            ]
        );
        let materials: Vec<&str> = layout.materials().collect();
        assert_eq!(
            materials,
            [
                "COIL-STEEL",
                "PREFORM",
                "CAP",
                "BRACKET-A",
                "BRACKET-B",
                "BOTTLE-05",
                "BOTTLE-10"
            ]
        );
        let locations: Vec<&str> = layout.locations().collect();
        assert_eq!(
            locations,
            ["WH-RAW", "FG", "press-line-side", "bottling-line-side"]
        );
    }
}
