//! Market data: the [`Bar`] type, its validation, the fixed-capacity
//! [`MarketDataWindow`] ring buffer strategies read from, and resampling
//! to longer intervals.

mod bar;
mod interval;
mod resample;
mod window;

pub use bar::{Bar, BarError, Symbol};
pub use interval::{format_interval, parse_interval};
pub use resample::{base_interval, resample, BarResampler};
pub use window::MarketDataWindow;
