//! Given/when/then tests of the link to the order operation running on the work unit.

use super::*;
use crate::domain::{OperationNumber, OrderId};

fn order(n: u128) -> OrderId {
    OrderId::new(uuid::Uuid::from_u128(n))
}

fn link(n: u128, product_id: &str) -> WorkUnitCommand {
    WorkUnitCommand::LinkOperation {
        order_id: order(n),
        operation: OperationNumber(10),
        product: product(product_id),
        at: t(5),
    }
}

fn linked(n: u128, product_id: &str) -> WorkUnitEvent {
    WorkUnitEvent::OperationLinked {
        work_unit: unit_id(),
        order_id: order(n),
        operation: OperationNumber(10),
        product: product(product_id),
        at: t(5),
    }
}

fn unlinked(n: u128) -> WorkUnitEvent {
    WorkUnitEvent::OperationUnlinked {
        work_unit: unit_id(),
        order_id: order(n),
        operation: OperationNumber(10),
        at: t(5),
    }
}

#[test]
fn link_records_the_order_operation_and_sets_up_a_unit_without_product() {
    UnitTest::with(())
        .given(recorded(vec![registered()]))
        .when(link(1, "cola").into())
        .then_expect_events(recorded(vec![linked(1, "cola")]));
    let unit = fold(vec![registered(), linked(1, "cola")]);
    let state = unit.state().as_ref().unwrap();
    assert_eq!(state.current_product(), Some(&product("cola")));
    assert_eq!(state.link().map(|l| l.order_id), Some(order(1)));
}

#[test]
fn a_link_replacing_another_ends_the_other_first_and_a_repeat_stores_nothing() {
    UnitTest::with(())
        .given(recorded(vec![registered(), linked(1, "cola")]))
        .when(link(2, "cola").into())
        .then_expect_events(recorded(vec![unlinked(1), linked(2, "cola")]));
    UnitTest::with(())
        .given(recorded(vec![registered(), linked(1, "cola")]))
        .when(link(1, "cola").into())
        .then_expect_events(vec![]);
}

#[test]
fn unlink_ends_only_the_current_link() {
    let unlink = |n| WorkUnitCommand::UnlinkOperation {
        order_id: order(n),
        operation: OperationNumber(10),
        at: t(5),
    };
    UnitTest::with(())
        .given(recorded(vec![registered(), linked(1, "cola")]))
        .when(unlink(1).into())
        .then_expect_events(recorded(vec![unlinked(1)]));
    UnitTest::with(())
        .given(recorded(vec![registered(), linked(1, "cola")]))
        .when(unlink(2).into())
        .then_expect_events(vec![]);
}
