//! Native technical indicators.
//!
//! Each indicator lives in its own file and implements [`Indicator`] for
//! streaming use; each file also offers a batch function over slices that
//! gives bit-identical results. Definitions: `docs/indicators.md`.

use crate::market_data::Bar;

/// `impl Indicator` for a one-output indicator whose latest value sits in a
/// `last: Option<f64>` field: `$feed` passes the bar's fields to its `next`,
/// `$warmup` gives TA-Lib's lookback.
macro_rules! single_output_indicator {
    ($ty:ident, $name:literal, |$s:ident, $bar:ident| $feed:expr, warmup: |$w:ident| $warmup:expr) => {
        impl $crate::indicators::Indicator for $ty {
            fn update(&mut self, $bar: &$crate::market_data::Bar) {
                let $s = self;
                $feed;
            }
            fn is_ready(&self) -> bool {
                self.last.is_some()
            }
            fn reset(&mut self) {
                $ty::reset(self);
            }
            fn output(&self, index: usize) -> Option<f64> {
                if index == 0 {
                    self.last
                } else {
                    None
                }
            }
            fn output_names(&self) -> &'static [&'static str] {
                &[$name]
            }
            fn warmup(&self) -> usize {
                let $w = self;
                $warmup
            }
        }
    };
}
pub(crate) use single_output_indicator;

pub mod adx;
pub mod atr;
pub mod bollinger;
pub mod catalog;
pub mod cci;
pub mod ema;
pub mod macd;
pub mod obv;
pub mod ring;
pub mod roc;
pub mod rolling_extreme;
pub mod rsi;
pub mod sma;
pub mod stddev;
pub mod stoch;
pub mod vwap;
pub mod willr;
pub mod wma;

pub use adx::{adx, Adx, AdxSeries, AdxValue};
pub use atr::{atr, Atr};
pub use bollinger::{bollinger, Bollinger, BollingerSeries, BollingerValue};
pub use catalog::*;
pub use cci::{cci, Cci};
pub use ema::{ema, Ema};
pub use macd::{macd, Macd, MacdSeries, MacdValue};
pub use obv::{obv, Obv};
pub use ring::RingBuffer;
pub use roc::{roc, Roc};
pub use rolling_extreme::{RollingExtreme, RollingMax, RollingMin};
pub use rsi::{rsi, Rsi};
pub use sma::{sma, Sma};
pub use stddev::{stddev, StdDev};
pub use stoch::{stoch, Stoch, StochSeries, StochValue};
pub use vwap::{vwap, vwap_session, SessionVwap, Vwap};
pub use willr::{willr, WillR};
pub use wma::{wma, Wma};

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
