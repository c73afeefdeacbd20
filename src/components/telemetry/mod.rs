//! `telemetry/*` components: the metrics collector and its endpoint (`telemetry/metrics`).

pub mod metrics;
