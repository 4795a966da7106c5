//! The inventory gRPC API end to end: status codes for bad input, idempotency keys, genealogy
//! through several levels, starvation derived from consumes, health and reflection, and the
//! write path gRPC command → event store → outbox → topic on a real broker.

#![allow(clippy::unwrap_used)]

mod support;

use mom_proto::inventory::v1 as pb;
use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::time::to_timestamp;
use prost::Message as _;
use tonic::transport::Channel;
use tonic::Code;

struct Service {
    client: InventoryServiceClient<Channel>,
    harness: support::Harness,
}

async fn start(database_url: Option<String>, kafka: Option<String>) -> Service {
    let harness =
        support::Harness::start(database_url, kafka, |store, kafka, grpc_addr, shutdown| {
            mom_inventory::start(
                mom_inventory::InventoryConfig {
                    store,
                    kafka,
                    time: support::time_args(),
                    security: Default::default(),
                    grpc_addr,
                },
                shutdown,
            )
        })
        .await;
    Service {
        client: InventoryServiceClient::new(harness.channel.clone()),
        harness,
    }
}

impl Service {
    async fn stop(self) {
        self.harness.stop().await;
    }

    async fn head(&self) -> u64 {
        self.harness.head().await
    }

    async fn event_types(&self) -> Vec<String> {
        let log = self
            .harness
            .running
            .store()
            .read_log(0, 1000)
            .await
            .unwrap();
        log.into_iter().map(|e| e.event_type).collect()
    }

    /// Defines material `resin`, `cap` and `pack` and locations `rack-1`, `line-1` and `fg`.
    async fn master_data(&mut self) {
        for material in ["resin", "dye", "cap", "pack"] {
            self.client
                .define_material(pb::DefineMaterialRequest {
                    context: ctx("engineer"),
                    material: material.to_owned(),
                    name: format!("{material} material"),
                    unit: "g".to_owned(),
                    at: at(0),
                })
                .await
                .unwrap();
        }
        for location in ["rack-1", "line-1", "fg"] {
            self.client
                .define_location(pb::DefineLocationRequest {
                    context: ctx("engineer"),
                    location: location.to_owned(),
                    name: format!("{location} area"),
                    at: at(0),
                })
                .await
                .unwrap();
        }
    }

    async fn receive(&mut self, lot: &str, material: &str, quantity: i64) -> pb::CommandReply {
        self.client
            .receive_lot(receive_request(lot, material, quantity))
            .await
            .unwrap()
            .into_inner()
    }

    async fn consume(
        &mut self,
        lot: &str,
        order: &str,
        quantity: i64,
        minute: i64,
    ) -> Result<tonic::Response<pb::CommandReply>, tonic::Status> {
        self.client
            .consume_lot(pb::ConsumeLotRequest {
                context: ctx("mes"),
                lot: lot.to_owned(),
                order_id: order.to_owned(),
                work_unit: "press-7".to_owned(),
                location: "rack-1".to_owned(),
                quantity,
                at: at(minute),
            })
            .await
    }

    async fn produce(&mut self, lot: &str, material: &str, order: &str, inputs: &[&str]) {
        self.client
            .produce_lot(produce_request(lot, material, order, inputs))
            .await
            .unwrap();
    }

    async fn lot(&mut self, lot: &str) -> pb::Lot {
        self.client
            .get_lot(pb::GetLotRequest {
                lot: lot.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
    }
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(
        chrono::DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap(),
    ))
}

fn ctx(actor: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: actor.to_owned(),
        ..Default::default()
    })
}

fn keyed(actor: &str, key: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: actor.to_owned(),
        idempotency_key: key.to_owned(),
        ..Default::default()
    })
}

fn receive_request(lot: &str, material: &str, quantity: i64) -> pb::ReceiveLotRequest {
    pb::ReceiveLotRequest {
        context: ctx("receiving"),
        lot: lot.to_owned(),
        material: material.to_owned(),
        supplier_lot: "SUP-1".to_owned(),
        expiry: at(100_000),
        location: "rack-1".to_owned(),
        quantity,
        at: at(1),
    }
}

fn produce_request(
    lot: &str,
    material: &str,
    order: &str,
    inputs: &[&str],
) -> pb::ProduceLotRequest {
    pb::ProduceLotRequest {
        context: ctx("pm:order-completed"),
        lot: lot.to_owned(),
        material: material.to_owned(),
        order_id: order.to_owned(),
        work_unit: "press-7".to_owned(),
        location: "fg".to_owned(),
        quantity: 10,
        input_lots: inputs.iter().map(|s| (*s).to_owned()).collect(),
        expiry: None,
        at: at(50),
    }
}

fn move_request(lot: &str, to: &str, quantity: i64) -> pb::MoveLotRequest {
    pb::MoveLotRequest {
        context: ctx("forklift"),
        lot: lot.to_owned(),
        from_location: "rack-1".to_owned(),
        to_location: to.to_owned(),
        quantity,
        at: at(5),
    }
}

fn hold_request(lot: &str, hold: &str) -> pb::HoldLotRequest {
    pb::HoldLotRequest {
        context: ctx("pm:ncr"),
        lot: lot.to_owned(),
        hold: hold.to_owned(),
        reason: "suspect contamination".to_owned(),
        at: at(3),
    }
}

fn new_order() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_not_found() {
    let mut svc = start(None, None).await;
    svc.master_data().await;
    let head = svc.head().await;
    support::assert_status(
        svc.client
            .get_lot(pb::GetLotRequest {
                lot: "ghost-1".to_owned(),
            })
            .await,
        Code::NotFound,
        "lot ghost-1",
    );
    support::assert_status(
        svc.client
            .move_lot(move_request("ghost-1", "line-1", 1))
            .await,
        Code::NotFound,
        "ghost-1",
    );
    support::assert_status(
        svc.client
            .receive_lot(receive_request("L1", "unobtainium", 5))
            .await,
        Code::NotFound,
        "material unobtainium",
    );
    support::assert_status(
        svc.client
            .receive_lot(pb::ReceiveLotRequest {
                location: "mars".to_owned(),
                ..receive_request("L1", "resin", 5)
            })
            .await,
        Code::NotFound,
        "location mars",
    );
    support::assert_status(
        svc.client
            .move_lot(move_request("ghost-1", "mars", 1))
            .await,
        Code::NotFound,
        "location mars",
    );
    support::assert_status(
        svc.client
            .produce_lot(produce_request("OUT-1", "cap", &new_order(), &["ghost-2"]))
            .await,
        Code::NotFound,
        "lot ghost-2",
    );
    let order = new_order();
    support::assert_status(
        svc.client
            .get_order_lots(pb::GetOrderLotsRequest {
                order_id: order.clone(),
            })
            .await,
        Code::NotFound,
        &order,
    );
    support::assert_status(
        svc.client
            .get_genealogy(pb::GetGenealogyRequest {
                lot: "ghost-1".to_owned(),
                direction: pb::GenealogyDirection::Backward.into(),
                max_depth: 0,
            })
            .await,
        Code::NotFound,
        "ghost-1",
    );
    assert_eq!(svc.head().await, head, "rejections store nothing");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_transitions_are_failed_precondition() {
    let mut svc = start(None, None).await;
    svc.master_data().await;
    svc.receive("L1", "resin", 100).await;
    svc.client
        .hold_lot(hold_request("L1", "NCR-1"))
        .await
        .unwrap();
    let head = svc.head().await;
    support::assert_status(
        svc.client.move_lot(move_request("L1", "line-1", 5)).await,
        Code::FailedPrecondition,
        "lot L1: lot is on hold (NCR-1); release the hold first",
    );
    support::assert_status(
        svc.consume("L1", &new_order(), 5, 4).await,
        Code::FailedPrecondition,
        "on hold",
    );
    support::assert_status(
        svc.client.hold_lot(hold_request("L1", "NCR-1")).await,
        Code::FailedPrecondition,
        "hold NCR-1 is already active",
    );
    support::assert_status(
        svc.client
            .release_hold(pb::ReleaseHoldRequest {
                context: ctx("qa"),
                lot: "L1".to_owned(),
                hold: "NCR-9".to_owned(),
                at: at(4),
            })
            .await,
        Code::FailedPrecondition,
        "hold NCR-9 is not active",
    );
    support::assert_status(
        svc.client
            .receive_lot(receive_request("L1", "resin", 5))
            .await,
        Code::FailedPrecondition,
        "lot L1 exists already",
    );
    support::assert_status(
        svc.client
            .define_material(pb::DefineMaterialRequest {
                context: ctx("engineer"),
                material: "resin".to_owned(),
                name: "again".to_owned(),
                unit: "g".to_owned(),
                at: at(0),
            })
            .await,
        Code::FailedPrecondition,
        "already defined",
    );
    support::assert_status(
        svc.client
            .end_starvation(pb::EndStarvationRequest {
                context: ctx("operator"),
                work_unit: "press-7".to_owned(),
                material: "resin".to_owned(),
                at: at(4),
            })
            .await,
        Code::FailedPrecondition,
        "does not wait for material resin",
    );
    assert_eq!(svc.head().await, head, "rejections store nothing");

    // Scrap is the disposition of a hold: allowed while held.
    svc.client
        .scrap_lot(pb::ScrapLotRequest {
            context: ctx("pm:ncr"),
            lot: "L1".to_owned(),
            location: "rack-1".to_owned(),
            quantity: 40,
            reason: "NCR-1 disposition scrap".to_owned(),
            at: at(6),
            all: false,
        })
        .await
        .unwrap();
    svc.client
        .release_hold(pb::ReleaseHoldRequest {
            context: ctx("qa"),
            lot: "L1".to_owned(),
            hold: "NCR-1".to_owned(),
            at: at(7),
        })
        .await
        .unwrap();
    svc.client
        .move_lot(move_request("L1", "line-1", 60))
        .await
        .unwrap();
    let lot = svc.lot("L1").await;
    assert_eq!(lot.total, 60);
    assert!(lot.holds.is_empty());
    assert_eq!(
        lot.quantities,
        vec![pb::LocationQuantity {
            location: "line-1".to_owned(),
            quantity: 60
        }]
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_fields_are_invalid_argument_and_store_nothing() {
    let mut svc = start(None, None).await;
    svc.master_data().await;
    svc.receive("L1", "resin", 100).await;
    let head = svc.head().await;
    support::assert_status(
        svc.client.move_lot(move_request("L1", "line-1", -5)).await,
        Code::InvalidArgument,
        "field quantity must not be negative, got -5",
    );
    support::assert_status(
        svc.client.move_lot(move_request("L1", "line-1", 0)).await,
        Code::InvalidArgument,
        "quantity must be greater than zero",
    );
    support::assert_status(
        svc.client.move_lot(move_request("L1", "line-1", 101)).await,
        Code::InvalidArgument,
        "lot holds 100 of material resin at location rack-1, less than the 101 asked for",
    );
    support::assert_status(
        svc.client.move_lot(move_request("L1", "rack-1", 1)).await,
        Code::InvalidArgument,
        "to itself",
    );
    support::assert_status(
        svc.client
            .move_lot(pb::MoveLotRequest {
                at: None,
                ..move_request("L1", "line-1", 1)
            })
            .await,
        Code::InvalidArgument,
        "field at is required",
    );
    support::assert_status(
        svc.client
            .move_lot(pb::MoveLotRequest {
                at: Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 0,
                }),
                ..move_request("L1", "line-1", 1)
            })
            .await,
        Code::InvalidArgument,
        "field at is not a valid timestamp",
    );
    support::assert_status(
        svc.client
            .receive_lot(pb::ReceiveLotRequest {
                expiry: at(0),
                ..receive_request("L2", "resin", 5)
            })
            .await,
        Code::InvalidArgument,
        "expiry",
    );
    support::assert_status(
        svc.client
            .receive_lot(receive_request("lot two", "resin", 5))
            .await,
        Code::InvalidArgument,
        "field lot is invalid",
    );
    support::assert_status(
        svc.client
            .consume_lot(pb::ConsumeLotRequest {
                context: ctx("mes"),
                lot: "L1".to_owned(),
                order_id: "order-7".to_owned(),
                work_unit: "press-7".to_owned(),
                location: "rack-1".to_owned(),
                quantity: 1,
                at: at(2),
            })
            .await,
        Code::InvalidArgument,
        "field order_id is invalid",
    );
    support::assert_status(
        svc.client
            .hold_lot(pb::HoldLotRequest {
                reason: String::new(),
                ..hold_request("L1", "NCR-1")
            })
            .await,
        Code::InvalidArgument,
        "field reason is required",
    );
    support::assert_status(
        svc.client
            .get_genealogy(pb::GetGenealogyRequest {
                lot: "L1".to_owned(),
                direction: 0,
                max_depth: 0,
            })
            .await,
        Code::InvalidArgument,
        "field direction",
    );
    support::assert_status(
        svc.client
            .produce_lot(produce_request("OUT-1", "cap", &new_order(), &["OUT-1"]))
            .await,
        Code::NotFound,
        "lot OUT-1",
    );
    support::assert_status(
        svc.client
            .receive_lot(pb::ReceiveLotRequest {
                context: keyed("receiving", ""),
                ..receive_request("L3", "resin", 0)
            })
            .await,
        Code::InvalidArgument,
        "quantity must be greater than zero",
    );
    assert_eq!(svc.head().await, head, "rejections store nothing");

    // A starvation interval that ends before it starts.
    svc.client
        .start_starvation(pb::StartStarvationRequest {
            context: ctx("operator"),
            work_unit: "press-7".to_owned(),
            material: "resin".to_owned(),
            order_id: String::new(),
            at: at(30),
        })
        .await
        .unwrap();
    let head = svc.head().await;
    support::assert_status(
        svc.client
            .end_starvation(pb::EndStarvationRequest {
                context: ctx("operator"),
                work_unit: "press-7".to_owned(),
                material: "resin".to_owned(),
                at: at(20),
            })
            .await,
        Code::InvalidArgument,
        "ends at",
    );
    support::assert_status(
        svc.client
            .report_starvation(pb::ReportStarvationRequest {
                context: ctx("mes"),
                work_unit: "press-8".to_owned(),
                material: "resin".to_owned(),
                order_id: String::new(),
                from: at(40),
                until: at(35),
            })
            .await,
        Code::InvalidArgument,
        "starvation interval ends at",
    );
    assert_eq!(svc.head().await, head, "rejections store nothing");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_expected_version_is_aborted() {
    let mut svc = start(None, None).await;
    svc.master_data().await;
    let reply = svc.receive("L1", "resin", 100).await;
    assert_eq!(reply.version, 1);
    let ok = svc
        .client
        .move_lot(pb::MoveLotRequest {
            context: Some(pb::CommandContext {
                expected_version: Some(1),
                ..Default::default()
            }),
            ..move_request("L1", "line-1", 10)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.version, 2);
    let head = svc.head().await;
    support::assert_status(
        svc.client
            .move_lot(pb::MoveLotRequest {
                context: Some(pb::CommandContext {
                    expected_version: Some(1),
                    ..Default::default()
                }),
                ..move_request("L1", "line-1", 10)
            })
            .await,
        Code::Aborted,
        "not the expected version 1",
    );
    assert_eq!(svc.head().await, head);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_idempotency_key_returns_the_original_reply_and_stores_nothing() {
    let mut svc = start(None, None).await;
    svc.master_data().await;
    svc.receive("L1", "resin", 100).await;
    let hold = || pb::HoldLotRequest {
        context: keyed("pm:ncr", "ncr-1/containment/L1"),
        ..hold_request("L1", "NCR-1")
    };
    let first = svc.client.hold_lot(hold()).await.unwrap().into_inner();
    assert_eq!(first.version, 2);
    let head = svc.head().await;
    // A redelivered event: same key, same reply, nothing stored.
    let again = svc.client.hold_lot(hold()).await.unwrap().into_inner();
    assert_eq!(again, first);
    assert_eq!(svc.head().await, head);

    // The original reply even after the lot moved on, and even with a stale expected version.
    let release = svc
        .client
        .release_hold(pb::ReleaseHoldRequest {
            context: keyed("qa", "release-1"),
            lot: "L1".to_owned(),
            hold: "NCR-1".to_owned(),
            at: at(4),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(release.version, 3);
    let head = svc.head().await;
    let late = svc
        .client
        .hold_lot(pb::HoldLotRequest {
            context: Some(pb::CommandContext {
                expected_version: Some(1),
                ..keyed("pm:ncr", "ncr-1/containment/L1").unwrap()
            }),
            ..hold_request("L1", "NCR-1")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(late, first);
    assert_eq!(svc.head().await, head);

    // A keyed consume also links the order's genealogy only once.
    let order = new_order();
    let consume = || pb::ConsumeLotRequest {
        context: keyed("mes", "consume-1"),
        lot: "L1".to_owned(),
        order_id: order.clone(),
        work_unit: "press-7".to_owned(),
        location: "rack-1".to_owned(),
        quantity: 7,
        at: at(8),
    };
    let first = svc
        .client
        .consume_lot(consume())
        .await
        .unwrap()
        .into_inner();
    let head = svc.head().await;
    let again = svc
        .client
        .consume_lot(consume())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(svc.head().await, head);
    assert_eq!(svc.lot("L1").await.total, 93);
    let lots = svc
        .client
        .get_order_lots(pb::GetOrderLotsRequest {
            order_id: order.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lots.inputs.len(), 1);
    assert_eq!(lots.inputs[0].quantity, 7);
    assert_eq!(lots.version, 1);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genealogy_is_walked_backward_and_forward_through_levels() {
    let mut svc = start(None, None).await;
    svc.master_data().await;
    svc.receive("resin-1", "resin", 100).await;
    svc.receive("resin-2", "resin", 100).await;
    svc.receive("dye-1", "dye", 100).await;
    // Order 1 blends resin-1 and resin-2 into cap-1; its output names no inputs, so the service
    // takes the lots the order consumed.
    let order1 = new_order();
    svc.consume("resin-1", &order1, 10, 10).await.unwrap();
    svc.consume("resin-2", &order1, 10, 11).await.unwrap();
    svc.produce("cap-1", "cap", &order1, &[]).await;
    // cap-1 goes to rack-1 for order 2, which makes pack-1 from cap-1 and dye-1.
    svc.client
        .move_lot(pb::MoveLotRequest {
            from_location: "fg".to_owned(),
            ..move_request("cap-1", "rack-1", 10)
        })
        .await
        .unwrap();
    let order2 = new_order();
    svc.consume("cap-1", &order2, 10, 60).await.unwrap();
    svc.consume("dye-1", &order2, 1, 61).await.unwrap();
    svc.produce("pack-1", "pack", &order2, &["cap-1", "dye-1"])
        .await;

    let cap = svc.lot("cap-1").await;
    assert_eq!(cap.produced_by_order, order1);
    assert_eq!(cap.input_lots, vec!["resin-1", "resin-2"]);
    assert_eq!(cap.consumed_by_orders, vec![order2.clone()]);

    let walk = |lot: &str, direction: pb::GenealogyDirection| pb::GetGenealogyRequest {
        lot: lot.to_owned(),
        direction: direction.into(),
        max_depth: 0,
    };
    let back = svc
        .client
        .get_genealogy(walk("pack-1", pb::GenealogyDirection::Backward))
        .await
        .unwrap()
        .into_inner();
    let edges: Vec<(&str, &str, u32)> = back
        .links
        .iter()
        .map(|l| (l.input_lot.as_str(), l.output_lot.as_str(), l.depth))
        .collect();
    assert_eq!(
        edges,
        vec![
            ("cap-1", "pack-1", 1),
            ("dye-1", "pack-1", 1),
            ("resin-1", "cap-1", 2),
            ("resin-2", "cap-1", 2),
        ]
    );
    assert_eq!(back.links[0].order_id, order2);
    assert_eq!(back.links[2].order_id, order1);

    let forward = svc
        .client
        .get_genealogy(walk("resin-2", pb::GenealogyDirection::Forward))
        .await
        .unwrap()
        .into_inner();
    let edges: Vec<(&str, &str, u32)> = forward
        .links
        .iter()
        .map(|l| (l.input_lot.as_str(), l.output_lot.as_str(), l.depth))
        .collect();
    assert_eq!(edges, vec![("resin-2", "cap-1", 1), ("cap-1", "pack-1", 2)]);

    let one_level = svc
        .client
        .get_genealogy(pb::GetGenealogyRequest {
            max_depth: 1,
            ..walk("resin-2", pb::GenealogyDirection::Forward)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one_level.links.len(), 1);

    let lots = svc
        .client
        .get_order_lots(pb::GetOrderLotsRequest {
            order_id: order1.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let inputs: Vec<&str> = lots.inputs.iter().map(|l| l.lot.as_str()).collect();
    assert_eq!(inputs, vec!["resin-1", "resin-2"]);
    assert_eq!(lots.outputs[0].lot, "cap-1");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_that_cannot_be_served_starts_a_starvation_that_a_later_consume_ends() {
    let mut svc = start(None, None).await;
    svc.master_data().await;
    svc.receive("L1", "resin", 5).await;
    let order = new_order();
    support::assert_status(
        svc.consume("L1", &order, 8, 10).await,
        Code::InvalidArgument,
        "lot holds 5 of material resin at location rack-1, less than the 8 asked for",
    );
    svc.receive("L2", "resin", 50).await;
    svc.consume("L2", &order, 8, 25).await.unwrap();
    let types = svc.event_types().await;
    let tail: Vec<&str> = types
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        vec![
            "MaterialStarvationStarted",
            "LotReceived",
            "LotConsumed",
            "OrderInputLinked",
            "MaterialStarvationEnded"
        ]
    );
    let log = svc.harness.running.store().read_log(0, 1000).await.unwrap();
    let ended = log.last().unwrap();
    assert_eq!(ended.aggregate_type, "work_unit_supply");
    assert_eq!(ended.aggregate_id, "press-7");
    let event =
        mom_proto::inventory::v1::InventoryEvent::decode(ended.message.payload.as_slice()).unwrap();
    let Some(pb::inventory_event::Event::MaterialStarvationEnded(ended)) = event.event else {
        panic!("wrong event: {event:?}");
    };
    assert_eq!(ended.work_unit, "press-7");
    assert_eq!(ended.material, "resin");
    assert_eq!(ended.order_id, order);
    assert_eq!((ended.from, ended.until), (at(10), at(25)));
    let supply = svc
        .client
        .get_work_unit_supply(pb::GetWorkUnitSupplyRequest {
            work_unit: "press-7".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(supply.starving.is_empty());
    assert_eq!(supply.version, 2);

    // A whole interval reported after the fact.
    let reply = svc
        .client
        .report_starvation(pb::ReportStarvationRequest {
            context: ctx("mes"),
            work_unit: "press-7".to_owned(),
            material: "dye".to_owned(),
            order_id: String::new(),
            from: at(30),
            until: at(42),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.version, 4);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_are_served() {
    let svc = start(None, None).await;
    support::assert_health_and_reflection(
        svc.harness.channel.clone(),
        "mom.inventory.v1.InventoryService",
    )
    .await;
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_reaches_the_topic_through_store_and_outbox() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let mut svc = start(Some(db.url.clone()), Some(broker.bootstrap_servers())).await;

    svc.master_data().await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let correlation = uuid::Uuid::now_v7();
    let causation = uuid::Uuid::now_v7();
    let mut request = tonic::Request::new(pb::ReceiveLotRequest {
        context: Some(pb::CommandContext {
            actor: "receiving".to_owned(),
            correlation_id: correlation.to_string(),
            causation_id: causation.to_string(),
            ..Default::default()
        }),
        ..receive_request("L1", "resin", 100)
    });
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    svc.client.receive_lot(request).await.unwrap();
    svc.client
        .hold_lot(hold_request("L1", "NCR-1"))
        .await
        .unwrap();

    let log = svc.harness.running.store().read_log(0, 100).await.unwrap();
    assert_eq!(log.len(), 9, "4 materials, 3 locations, receive, hold");
    // A plain consumer on the topic decodes the protobuf and checks the headers.
    let received = support::read_topic(
        &broker.bootstrap_servers(),
        "inventory",
        "InventoryEvent",
        &log,
        |event: &pb::InventoryEvent| event.metadata.as_ref(),
    )
    .await;
    let received_entry = log.iter().find(|e| e.event_type == "LotReceived").unwrap();
    let (event, headers) = &received[&received_entry.event_id.to_string()];
    assert_eq!(headers["traceparent"], traceparent);
    let meta = event.metadata.as_ref().unwrap();
    // Without authentication the caller is the local administrator, acting for the named actor.
    assert_eq!(meta.actor, "local-admin");
    assert_eq!(meta.on_behalf_of, "receiving");
    assert_eq!(meta.auth_method, "local");
    assert_eq!(meta.correlation_id, correlation.to_string());
    assert_eq!(meta.causation_id, causation.to_string());
    assert_eq!(meta.event_time, at(1));
    let Some(pb::inventory_event::Event::LotReceived(lot)) = &event.event else {
        panic!("wrong event: {event:?}");
    };
    assert_eq!(
        (lot.lot.as_str(), lot.material.as_str(), lot.quantity),
        ("L1", "resin", 100)
    );
    assert_eq!(lot.supplier_lot, "SUP-1");
    assert_eq!(lot.at, at(1));
    let held = log.iter().find(|e| e.event_type == "LotHeld").unwrap();
    let (event, _) = &received[&held.event_id.to_string()];
    let Some(pb::inventory_event::Event::LotHeld(held)) = &event.event else {
        panic!("wrong event: {event:?}");
    };
    assert_eq!(
        (held.hold.as_str(), held.material.as_str()),
        ("NCR-1", "resin")
    );

    svc.stop().await;
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_manager_commands_survive_redelivery() {
    let mut svc = start(None, None).await;
    svc.master_data().await;
    svc.receive("L1", "resin", 100).await;
    svc.client
        .move_lot(move_request("L1", "line-1", 30))
        .await
        .unwrap();

    // NCR opened with containment, then disposition scrap; every event delivered twice.
    let causation = uuid::Uuid::now_v7().to_string();
    let context = |key: &str| {
        Some(pb::CommandContext {
            actor: "pm:ncr".to_owned(),
            idempotency_key: key.to_owned(),
            causation_id: causation.clone(),
            ..Default::default()
        })
    };
    let scrap = || pb::ScrapLotRequest {
        context: context("ncr-1/scrap/L1"),
        lot: "L1".to_owned(),
        location: String::new(),
        quantity: 0,
        reason: "NCR-1 disposition scrap".to_owned(),
        at: at(20),
        all: true,
    };
    for _ in 0..2 {
        svc.client
            .hold_lot(pb::HoldLotRequest {
                context: context("ncr-1/hold/L1"),
                ..hold_request("L1", "NCR-1")
            })
            .await
            .unwrap();
    }
    let first = svc.client.scrap_lot(scrap()).await.unwrap().into_inner();
    let again = svc.client.scrap_lot(scrap()).await.unwrap().into_inner();
    assert_eq!(first, again);
    assert_eq!(
        first.version, 5,
        "received, moved, held, two locations scrapped"
    );
    let lot = svc.lot("L1").await;
    assert_eq!(lot.total, 0);
    assert_eq!(lot.holds.len(), 1);
    let log = svc.harness.running.store().read_log(0, 1000).await.unwrap();
    let scrapped: Vec<_> = log
        .iter()
        .filter(|e| e.event_type == "LotScrapped")
        .collect();
    assert_eq!(scrapped.len(), 2);
    assert_eq!(
        scrapped[0].metadata["causation_id"].as_str().unwrap(),
        causation
    );

    // Production order completed: an output lot named after the order, from what it consumed.
    svc.receive("L2", "resin", 100).await;
    let order = new_order();
    svc.consume("L2", &order, 20, 30).await.unwrap();
    let produce = || pb::ProduceLotRequest {
        lot: String::new(),
        context: keyed("pm:order-completed", &format!("{order}/output")),
        ..produce_request("", "cap", &order, &[])
    };
    let first = svc
        .client
        .produce_lot(produce())
        .await
        .unwrap()
        .into_inner();
    let head = svc.head().await;
    let again = svc
        .client
        .produce_lot(produce())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(svc.head().await, head);
    assert_eq!(first.aggregate_id, order);
    let output = svc.lot(&order).await;
    assert_eq!(output.input_lots, vec!["L2"]);
    assert_eq!(output.produced_by_order, order);
    svc.stop().await;
}

/// A command RPC of the service with its request; [`Command::send`] sets its context.
#[derive(Debug, Clone)]
enum Command {
    DefineMaterial(pb::DefineMaterialRequest),
    DefineLocation(pb::DefineLocationRequest),
    ReceiveLot(pb::ReceiveLotRequest),
    MoveLot(pb::MoveLotRequest),
    ConsumeLot(pb::ConsumeLotRequest),
    ProduceLot(pb::ProduceLotRequest),
    HoldLot(pb::HoldLotRequest),
    ScrapLot(pb::ScrapLotRequest),
    ReleaseHold(pb::ReleaseHoldRequest),
    StartStarvation(pb::StartStarvationRequest),
    EndStarvation(pb::EndStarvationRequest),
    ReportStarvation(pb::ReportStarvationRequest),
}

impl Command {
    /// Sends the command with idempotency key `key` and returns the reply.
    async fn send(
        &self,
        mut client: InventoryServiceClient<Channel>,
        key: &str,
    ) -> Result<pb::CommandReply, tonic::Status> {
        let context = keyed("twice", key);
        let reply = match self.clone() {
            Command::DefineMaterial(r) => {
                client
                    .define_material(pb::DefineMaterialRequest { context, ..r })
                    .await
            }
            Command::DefineLocation(r) => {
                client
                    .define_location(pb::DefineLocationRequest { context, ..r })
                    .await
            }
            Command::ReceiveLot(r) => {
                client
                    .receive_lot(pb::ReceiveLotRequest { context, ..r })
                    .await
            }
            Command::MoveLot(r) => client.move_lot(pb::MoveLotRequest { context, ..r }).await,
            Command::ConsumeLot(r) => {
                client
                    .consume_lot(pb::ConsumeLotRequest { context, ..r })
                    .await
            }
            Command::ProduceLot(r) => {
                client
                    .produce_lot(pb::ProduceLotRequest { context, ..r })
                    .await
            }
            Command::HoldLot(r) => client.hold_lot(pb::HoldLotRequest { context, ..r }).await,
            Command::ScrapLot(r) => client.scrap_lot(pb::ScrapLotRequest { context, ..r }).await,
            Command::ReleaseHold(r) => {
                client
                    .release_hold(pb::ReleaseHoldRequest { context, ..r })
                    .await
            }
            Command::StartStarvation(r) => {
                client
                    .start_starvation(pb::StartStarvationRequest { context, ..r })
                    .await
            }
            Command::EndStarvation(r) => {
                client
                    .end_starvation(pb::EndStarvationRequest { context, ..r })
                    .await
            }
            Command::ReportStarvation(r) => {
                client
                    .report_starvation(pb::ReportStarvationRequest { context, ..r })
                    .await
            }
        };
        reply.map(tonic::Response::into_inner)
    }
}

/// Every command RPC once, on aggregates of their own (suffix `n`): material and location,
/// a lot received there, moved, consumed by an order that then produces, held, scrapped while
/// held and released, and a work unit that starves, stops starving and reports an interval.
fn every_command(n: u32, order: &str) -> Vec<(&'static str, Command)> {
    let material = format!("m-{n}");
    let location = format!("loc-{n}");
    let lot = format!("lot-{n}");
    let work_unit = format!("press-{n}");
    vec![
        (
            "define_material",
            Command::DefineMaterial(pb::DefineMaterialRequest {
                context: None,
                material: material.clone(),
                name: format!("material {n}"),
                unit: "g".to_owned(),
                at: at(0),
            }),
        ),
        (
            "define_location",
            Command::DefineLocation(pb::DefineLocationRequest {
                context: None,
                location: location.clone(),
                name: format!("location {n}"),
                at: at(0),
            }),
        ),
        (
            "receive_lot",
            Command::ReceiveLot(pb::ReceiveLotRequest {
                location: location.clone(),
                ..receive_request(&lot, &material, 100)
            }),
        ),
        (
            "move_lot",
            Command::MoveLot(pb::MoveLotRequest {
                from_location: location.clone(),
                ..move_request(&lot, "line-1", 10)
            }),
        ),
        (
            "consume_lot",
            Command::ConsumeLot(pb::ConsumeLotRequest {
                context: None,
                lot: lot.clone(),
                order_id: order.to_owned(),
                work_unit: work_unit.clone(),
                location: location.clone(),
                quantity: 5,
                at: at(6),
            }),
        ),
        (
            "produce_lot",
            Command::ProduceLot(produce_request(&format!("out-{n}"), "cap", order, &[])),
        ),
        (
            "hold_lot",
            Command::HoldLot(hold_request(&lot, &format!("NCR-{n}"))),
        ),
        (
            "scrap_lot",
            Command::ScrapLot(pb::ScrapLotRequest {
                context: None,
                lot: lot.clone(),
                location: location.clone(),
                quantity: 1,
                reason: "NCR disposition scrap".to_owned(),
                at: at(7),
                all: false,
            }),
        ),
        (
            "release_hold",
            Command::ReleaseHold(pb::ReleaseHoldRequest {
                context: None,
                lot,
                hold: format!("NCR-{n}"),
                at: at(8),
            }),
        ),
        (
            "start_starvation",
            Command::StartStarvation(pb::StartStarvationRequest {
                context: None,
                work_unit: work_unit.clone(),
                material: "dye".to_owned(),
                order_id: order.to_owned(),
                at: at(9),
            }),
        ),
        (
            "end_starvation",
            Command::EndStarvation(pb::EndStarvationRequest {
                context: None,
                work_unit: work_unit.clone(),
                material: "dye".to_owned(),
                at: at(12),
            }),
        ),
        (
            "report_starvation",
            Command::ReportStarvation(pb::ReportStarvationRequest {
                context: None,
                work_unit,
                material,
                order_id: String::new(),
                from: at(13),
                until: at(15),
            }),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_sent_twice_with_one_key_stores_one_event_and_answers_alike() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let mut svc = start(Some(db.url.clone()), None).await;
    svc.master_data().await;
    // Keys up to 256 characters are accepted, longer than the kernel keeps: the first round
    // uses such keys, the concurrent round short ones.
    let long_key = |name: &str| format!("1/{name}/{}", "k".repeat(200));

    // One after the other: the repeat answers alike and stores nothing.
    let order = new_order();
    let mut first_round = Vec::new();
    let mut stored = Vec::new();
    for (name, command) in every_command(1, &order) {
        let key = long_key(name);
        let before = svc.head().await;
        let first = command.send(svc.client.clone(), &key).await.unwrap();
        let after = svc.head().await;
        assert!(after > before, "{name} stored its events");
        let again = command.send(svc.client.clone(), &key).await.unwrap();
        assert_eq!(again, first, "{name} answers the original reply");
        assert_eq!(svc.head().await, after, "{name} repeated stores nothing");
        stored.push(after - before);
        first_round.push((name, command, key, first));
    }

    // Two copies at once with a fresh key: one runs, the other answers alike.
    let order = new_order();
    for ((name, command), expected) in every_command(2, &order).into_iter().zip(&stored) {
        let key = format!("2/{name}");
        let before = svc.head().await;
        let (one, other) = tokio::join!(
            command.send(svc.client.clone(), &key),
            command.send(svc.client.clone(), &key)
        );
        let (one, other) = (
            one.unwrap_or_else(|status| panic!("{name}: {status:?}")),
            other.unwrap_or_else(|status| panic!("{name}: {status:?}")),
        );
        assert_eq!(one, other, "{name} sent twice at once answers alike");
        assert_eq!(
            svc.head().await - before,
            *expected,
            "{name} sent twice at once stores its events once"
        );
    }

    // After a restart on the same database the keys are still known.
    svc.stop().await;
    let svc = start(Some(db.url.clone()), None).await;
    let head = svc.head().await;
    for (name, command, key, first) in &first_round {
        let again = command.send(svc.client.clone(), key).await.unwrap();
        assert_eq!(
            &again, first,
            "{name} after a restart answers the original reply"
        );
    }
    assert_eq!(
        svc.head().await,
        head,
        "repeats after a restart store nothing"
    );
    svc.stop().await;
    db.drop_database().await.unwrap();
}
