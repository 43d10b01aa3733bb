//! Demo code that is not part of any product path: services and definitions that Skald's
//! examples, tests and benchmarks run against, kept out of the libraries they exercise so that
//! `skald serve` never links them (only `skald bench` does, through `skald-bench`).
//!
//! - [`travel`]: the travel saga's definition (`travel-saga.asl.json`) and its three idempotent
//!   HTTP task services (flights, cars, payments), with the resource registry that maps the
//!   saga's resource names to them. Used by skald-saga's examples and tests and by `skald-bench`.

pub mod travel;
