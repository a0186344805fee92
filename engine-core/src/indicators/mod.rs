//! Native technical indicators.
//!
//! Each indicator lives in its own file and implements [`Indicator`] for
//! streaming use; each file also offers a batch function over slices that
//! gives bit-identical results. Definitions: `docs/indicators.md`.

use crate::market_data::Bar;

/// A streaming indicator: fed one bar at a time, O(1) per update where the
/// math allows.
pub trait Indicator: Send {
    /// Feeds the next bar.
    fn update(&mut self, bar: &Bar);

    /// True once every output has a value.
    fn is_ready(&self) -> bool;

    /// Forgets all bars seen, as if newly built.
    fn reset(&mut self);

    /// The value of output `index` (in [`Indicator::output_names`] order)
    /// after the last update; `None` while warming up or undefined.
    fn output(&self, index: usize) -> Option<f64>;

    /// The first output's value.
    fn value(&self) -> Option<f64> {
        self.output(0)
    }

    /// Names of the outputs, e.g. `["line", "signal", "hist"]`.
    fn output_names(&self) -> &'static [&'static str];

    /// Number of bars before the indicator is ready (TA-Lib's lookback).
    fn warmup(&self) -> usize;
}
