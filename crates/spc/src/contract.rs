//! The topic contract mapped to the engine: `mom.quality.v1` chart definitions, control limits
//! and inspection results and `mom.production.v1` recorded parameters become the engine's
//! [`ChartDefinition`], [`ControlLimits`] and [`Sample`]s. Every consumer of those topics that
//! charts them (the `spc_watch` process manager, the SPC read model) maps them here, so the same
//! events give the same samples, points and violation ids everywhere.
//!
//! Invariant: pure. No I/O, no clock, no async; decoding the envelope, storing the source
//! samples and routing them to charts stay with the callers, which map [`ContractError`] to their
//! own errors.

use chrono::{DateTime, Utc};
use mom_proto::production::v1 as production;
use mom_proto::quality::v1 as quality;
use mom_proto::time::{from_timestamp, TimestampError};
use serde::{Deserialize, Serialize};

use crate::model::{
    Baseline, ChartDefinition, ChartKind, ControlLimits, Sample, SampleId, SampleValue, Subgrouping,
};

/// An event that does not map to the engine.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContractError {
    /// The chart kind is not one the engine knows.
    #[error("chart of unknown kind {value}")]
    UnknownKind {
        /// The kind's wire value.
        value: i32,
    },
    /// The chart definition names no source.
    #[error("chart definition without a source")]
    MissingSource,
    /// The chart definition names no subgrouping.
    #[error("chart definition without a subgroup")]
    MissingSubgroup,
    /// The chart definition names no baseline.
    #[error("chart definition without a baseline")]
    MissingBaseline,
    /// A time field is missing or out of range.
    #[error(transparent)]
    Time(#[from] TimestampError),
}

/// Where a chart takes its samples from.
///
/// Serialized with serde's defaults (`{"Characteristic":{…}}`): the `spc_watch` manager stores
/// it so, and renaming a variant or field would make its stored charts unreadable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A characteristic of the inspection results of a product at an operation.
    Characteristic {
        /// Product.
        product: String,
        /// Operation number.
        operation: u32,
        /// Characteristic name.
        characteristic: String,
    },
    /// A process parameter on one work unit or (empty) any.
    Parameter {
        /// Work unit, empty for any.
        work_unit: String,
        /// Parameter name.
        parameter: String,
    },
}

/// A `ControlChartDefined` event as the engine and the sample routing need it.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinedChart {
    /// Where the chart's samples come from.
    pub source: Source,
    /// What the engine needs of the definition.
    pub definition: ChartDefinition,
}

/// A sample of a source before a chart takes it: everything any chart kind plots.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSample {
    /// Identity: `{event id}/{measurement index}` for a measurement, the event id for a
    /// recorded parameter.
    pub id: SampleId,
    /// The units' production time, else the event's time.
    pub at: DateTime<Utc>,
    /// The measured value, if the measurement is a finite number.
    pub value: Option<f64>,
    /// Units inspected (at least 1).
    pub units: u64,
    /// Defective units (rejected).
    pub defectives: u64,
    /// Defects (nonconforming measurements).
    pub defects: u64,
}

/// One measurement of an inspection result as a sample of its characteristic.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementSample {
    /// The measured characteristic (with the result's product and operation, the source).
    pub characteristic: String,
    /// The sample.
    pub sample: SourceSample,
}

/// Returns the engine's chart kind of a `mom.quality.v1.ChartKind` wire value.
pub fn kind_of(value: i32) -> Result<ChartKind, ContractError> {
    match quality::ChartKind::try_from(value) {
        Ok(quality::ChartKind::IMr) => Ok(ChartKind::IMr),
        Ok(quality::ChartKind::XbarR) => Ok(ChartKind::XbarR),
        Ok(quality::ChartKind::XbarS) => Ok(ChartKind::XbarS),
        Ok(quality::ChartKind::P) => Ok(ChartKind::P),
        Ok(quality::ChartKind::Np) => Ok(ChartKind::Np),
        Ok(quality::ChartKind::C) => Ok(ChartKind::C),
        Ok(quality::ChartKind::U) => Ok(ChartKind::U),
        _ => Err(ContractError::UnknownKind { value }),
    }
}

/// Returns the engine's control limits of wire limits.
pub fn limits_of(limits: &quality::ControlLimits) -> ControlLimits {
    ControlLimits {
        center: limits.center,
        lower: limits.lower,
        upper: limits.upper,
        dispersion_center: limits.dispersion_center,
        dispersion_lower: limits.dispersion_lower,
        dispersion_upper: limits.dispersion_upper,
    }
}

/// Returns the source and the engine definition of a chart definition event.
pub fn chart_of(defined: &quality::ControlChartDefined) -> Result<DefinedChart, ContractError> {
    use quality::control_chart_defined::{
        Baseline as WireBaseline, Source as WireSource, Subgroup as WireSubgroup,
    };
    let source = match &defined.source {
        Some(WireSource::Characteristic(source)) => Source::Characteristic {
            product: source.product.clone(),
            operation: source.operation,
            characteristic: source.characteristic.clone(),
        },
        Some(WireSource::Parameter(source)) => Source::Parameter {
            work_unit: source.work_unit.clone(),
            parameter: source.parameter.clone(),
        },
        None => return Err(ContractError::MissingSource),
    };
    let kind = kind_of(defined.kind)?;
    let subgroup = match defined.subgroup {
        Some(WireSubgroup::Size(size)) => Subgrouping::Size(size),
        Some(WireSubgroup::WindowMs(ms)) => Subgrouping::WindowMs(ms),
        None => return Err(ContractError::MissingSubgroup),
    };
    let baseline = match &defined.baseline {
        Some(WireBaseline::Subgroups(n)) => Baseline::Subgroups(*n),
        Some(WireBaseline::Limits(limits)) => Baseline::Limits(limits_of(limits)),
        None => return Err(ContractError::MissingBaseline),
    };
    Ok(DefinedChart {
        source,
        definition: ChartDefinition {
            kind,
            subgroup,
            baseline,
            spec_lower: defined.spec_lower,
            spec_upper: defined.spec_upper,
        },
    })
}

/// Returns the samples of inspection result event `event_id`: one per measurement, named
/// `{event_id}/{index}`, at the units' production time (else the result's time), with its
/// measured value and the result's units (at least 1), rejects and nonconforming measurements.
pub fn inspection_samples(
    result: &quality::InspectionResultRecorded,
    event_id: &str,
) -> Result<Vec<MeasurementSample>, ContractError> {
    let at = match result.produced_at.as_ref() {
        Some(produced) => from_timestamp(Some(produced), "produced_at")?,
        None => from_timestamp(result.at.as_ref(), "at")?,
    };
    let defects = result
        .measurements
        .iter()
        .filter(|measurement| !measurement.conforming)
        .count() as u64;
    Ok(result
        .measurements
        .iter()
        .enumerate()
        .map(|(index, measurement)| MeasurementSample {
            characteristic: measurement.characteristic.clone(),
            sample: SourceSample {
                id: SampleId(format!("{event_id}/{index}")),
                at,
                value: match measurement.value {
                    Some(quality::measurement::Value::Measured(value)) if value.is_finite() => {
                        Some(value)
                    }
                    _ => None,
                },
                units: result.quantity.max(1),
                defectives: result.rejected,
                defects,
            },
        })
        .collect())
}

/// Returns the sample of recorded parameter event `event_id`, named by the event id, or none
/// when its value is not a finite number (parameter charts are variables charts, and none could
/// take it).
pub fn parameter_sample(
    recorded: &production::ParameterRecorded,
    event_id: &str,
) -> Result<Option<SourceSample>, ContractError> {
    if !recorded.value.is_finite() {
        return Ok(None);
    }
    Ok(Some(SourceSample {
        id: SampleId(event_id.to_owned()),
        at: from_timestamp(recorded.at.as_ref(), "at")?,
        value: Some(recorded.value),
        units: 1,
        defectives: 0,
        defects: 0,
    }))
}

/// Returns the sample a chart of `kind` takes from a sample of its source: a variables chart its
/// measured value (none without one), a p or np chart its defectives of its units, a c or u chart
/// its defects of its units.
pub fn take(kind: ChartKind, sample: &SourceSample) -> Option<Sample> {
    let narrow = |count: u64| u32::try_from(count).unwrap_or(u32::MAX);
    let value = match kind {
        ChartKind::IMr | ChartKind::XbarR | ChartKind::XbarS => {
            SampleValue::Variable(sample.value?)
        }
        ChartKind::P | ChartKind::Np => SampleValue::Attribute {
            n: narrow(sample.units),
            count: narrow(sample.defectives),
        },
        ChartKind::C | ChartKind::U => SampleValue::Attribute {
            n: narrow(sample.units),
            count: narrow(sample.defects),
        },
    };
    Some(Sample {
        id: sample.id.clone(),
        at: sample.at,
        value,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mom_proto::time::to_timestamp;

    use super::*;

    fn t(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap()
    }

    const EVENT: &str = "0191e1b4-7c1a-7000-8000-000000000001";

    fn result() -> quality::InspectionResultRecorded {
        let measured = |name: &str, value: f64, conforming: bool| quality::Measurement {
            characteristic: name.to_owned(),
            value: Some(quality::measurement::Value::Measured(value)),
            conforming,
        };
        quality::InspectionResultRecorded {
            product: "PUMP-100".to_owned(),
            operation: 10,
            work_unit: "boring-3".to_owned(),
            lot: String::new(),
            produced_at: Some(to_timestamp(t(5))),
            quantity: 4,
            rejected: 4,
            measurements: vec![
                measured("bore", 10.6, false),
                measured("depth", 20.0, true),
                quality::Measurement {
                    characteristic: "burr".to_owned(),
                    value: Some(quality::measurement::Value::Passed(false)),
                    conforming: false,
                },
            ],
            at: Some(to_timestamp(t(30))),
        }
    }

    fn recorded(value: f64) -> production::ParameterRecorded {
        production::ParameterRecorded {
            work_unit: "press-7".to_owned(),
            parameter: "melt temperature".to_owned(),
            value,
            at: Some(to_timestamp(t(1))),
            ..Default::default()
        }
    }

    #[test]
    fn a_result_gives_one_sample_per_measurement_at_the_production_time() {
        let samples = inspection_samples(&result(), EVENT).unwrap();
        assert_eq!(samples.len(), 3);
        assert!(samples.iter().all(|s| s.sample.at == t(5)));
        assert_eq!(samples[0].characteristic, "bore");
        assert_eq!(samples[0].sample.id, SampleId(format!("{EVENT}/0")));
        assert_eq!(samples[0].sample.value, Some(10.6));
        assert_eq!(samples[2].sample.value, None);
        let first = &samples[0].sample;
        assert_eq!((first.units, first.defectives, first.defects), (4, 4, 2));
        let mut unknown_time = result();
        unknown_time.produced_at = None;
        let samples = inspection_samples(&unknown_time, EVENT).unwrap();
        assert!(
            samples.iter().all(|s| s.sample.at == t(30)),
            "else the result's time"
        );
    }

    #[test]
    fn a_result_counts_at_least_one_unit_and_drops_values_that_are_not_finite() {
        let mut odd = result();
        odd.quantity = 0;
        odd.measurements[0].value = Some(quality::measurement::Value::Measured(f64::NAN));
        let samples = inspection_samples(&odd, EVENT).unwrap();
        assert_eq!(samples[0].sample.units, 1);
        assert_eq!(samples[0].sample.value, None);
        let mut timeless = result();
        timeless.produced_at = None;
        timeless.at = None;
        assert_eq!(
            inspection_samples(&timeless, EVENT),
            Err(ContractError::Time(TimestampError::Missing { field: "at" }))
        );
    }

    #[test]
    fn charts_take_the_value_or_the_counts_their_kind_plots() {
        let samples = inspection_samples(&result(), EVENT).unwrap();
        let bore = &samples[0].sample;
        let value = |kind| take(kind, bore).unwrap().value;
        for kind in [ChartKind::IMr, ChartKind::XbarR, ChartKind::XbarS] {
            assert_eq!(value(kind), SampleValue::Variable(10.6));
        }
        for kind in [ChartKind::P, ChartKind::Np] {
            assert_eq!(value(kind), SampleValue::Attribute { n: 4, count: 4 });
        }
        for kind in [ChartKind::C, ChartKind::U] {
            assert_eq!(value(kind), SampleValue::Attribute { n: 4, count: 2 });
        }
        assert_eq!(take(ChartKind::IMr, bore).unwrap().id, bore.id);
        // A pass/fail value has no measured value for a variables chart.
        let burr = &samples[2].sample;
        assert!(take(ChartKind::IMr, burr).is_none());
        assert!(take(ChartKind::Np, burr).is_some());
    }

    #[test]
    fn a_parameter_gives_its_value_named_by_the_event() {
        let sample = parameter_sample(&recorded(231.0), EVENT).unwrap().unwrap();
        assert_eq!(sample.id, SampleId(EVENT.to_owned()));
        assert_eq!(sample.at, t(1));
        assert_eq!(sample.value, Some(231.0));
        assert_eq!(
            take(ChartKind::IMr, &sample).unwrap().value,
            SampleValue::Variable(231.0)
        );
        assert_eq!(parameter_sample(&recorded(f64::INFINITY), EVENT), Ok(None));
    }

    #[test]
    fn a_definition_maps_to_the_engine() {
        let defined = quality::ControlChartDefined {
            chart_id: "MELT-1".to_owned(),
            source: Some(quality::control_chart_defined::Source::Parameter(
                quality::ParameterSource {
                    work_unit: "press-7".to_owned(),
                    parameter: "melt temperature".to_owned(),
                },
            )),
            kind: quality::ChartKind::XbarS.into(),
            subgroup: Some(quality::control_chart_defined::Subgroup::WindowMs(
                3_600_000,
            )),
            baseline: Some(quality::control_chart_defined::Baseline::Limits(
                quality::ControlLimits {
                    center: 230.0,
                    lower: 227.0,
                    upper: 233.0,
                    ..Default::default()
                },
            )),
            spec_lower: Some(220.0),
            spec_upper: None,
            ncr_rules: vec![],
            description: String::new(),
            at: Some(to_timestamp(t(0))),
        };
        let chart = chart_of(&defined).unwrap();
        assert_eq!(
            chart.source,
            Source::Parameter {
                work_unit: "press-7".to_owned(),
                parameter: "melt temperature".to_owned(),
            }
        );
        let definition = chart.definition;
        assert_eq!(definition.kind, ChartKind::XbarS);
        assert_eq!(definition.subgroup, Subgrouping::WindowMs(3_600_000));
        assert!(matches!(definition.baseline, Baseline::Limits(l) if l.center == 230.0));
        assert_eq!(definition.spec_lower, Some(220.0));
        let mut unknown = defined.clone();
        unknown.kind = 0;
        assert_eq!(
            chart_of(&unknown),
            Err(ContractError::UnknownKind { value: 0 })
        );
        let mut sourceless = defined;
        sourceless.source = None;
        assert_eq!(chart_of(&sourceless), Err(ContractError::MissingSource));
    }

    #[test]
    fn every_wire_kind_maps_to_the_engine_kind_of_its_name() {
        let wire = [
            (quality::ChartKind::IMr, "i_mr"),
            (quality::ChartKind::XbarR, "xbar_r"),
            (quality::ChartKind::XbarS, "xbar_s"),
            (quality::ChartKind::P, "p"),
            (quality::ChartKind::Np, "np"),
            (quality::ChartKind::C, "c"),
            (quality::ChartKind::U, "u"),
        ];
        for (kind, name) in wire {
            let engine = kind_of(kind.into()).unwrap();
            assert_eq!(engine.as_str(), name);
            assert_eq!(ChartKind::from_name(name), Some(engine));
        }
        assert_eq!(ChartKind::from_name("x"), None);
    }

    #[test]
    fn a_stored_source_keeps_its_json() {
        let source = Source::Characteristic {
            product: "PUMP-100".to_owned(),
            operation: 10,
            characteristic: "bore".to_owned(),
        };
        assert_eq!(
            serde_json::to_string(&source).unwrap(),
            r#"{"Characteristic":{"product":"PUMP-100","operation":10,"characteristic":"bore"}}"#
        );
    }
}
