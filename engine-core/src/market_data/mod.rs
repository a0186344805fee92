//! Market data: the [`Bar`] type, its validation, and the fixed-capacity
//! [`MarketDataWindow`] ring buffer strategies read from.

mod bar;
mod window;

pub use bar::{Bar, BarError, Symbol};
pub use window::MarketDataWindow;
