//! The outbound queue: its schedule and the delivery worker.

pub mod schedule;
pub mod settle;
