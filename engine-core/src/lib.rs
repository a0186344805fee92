//! `engine-core`: the library behind the `trading-engine` CLI.
//!
//! Data flows source → runner → indicators → state machine and strategy →
//! risk → execution → event log; see `docs/architecture.md`. This crate
//! currently holds the first stages: market data types, data sources
//! (historical files and the synthetic generator), native indicators and
//! the client of the OCaml indicator sidecar that cross-verifies them.

pub mod backtest;
pub mod config;
pub mod content_hash;
pub mod engine;
pub mod events;
pub mod execution;
pub mod indicators;
pub mod market_data;
pub mod regime;
pub mod risk;
pub mod runner;
pub mod sidecar;
pub mod sources;
pub mod state_machine;
pub mod strategy;
pub mod tolerance;
