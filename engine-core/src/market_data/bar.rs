use std::fmt;
use std::sync::Arc;

/// A trading symbol such as `BTCUSDT`. Shared, because every bar of a series
/// carries it and cloning must stay cheap.
pub type Symbol = Arc<str>;

/// One OHLCV bar. Times are UTC milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub symbol: Symbol,
    pub open_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    pub close_time: Option<i64>,
}

/// Why a bar is not a valid bar. The messages name the field and the value so
/// that a loader can prefix them with `file:line`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BarError {
    #[error("{field} is not a finite number ({value})")]
    NonFinite { field: &'static str, value: f64 },
    #[error("high {high} is below {field} {value}")]
    HighTooLow { high: f64, field: &'static str, value: f64 },
    #[error("low {low} is above {field} {value}")]
    LowTooHigh { low: f64, field: &'static str, value: f64 },
    #[error("volume {0} is negative")]
    NegativeVolume(f64),
    #[error("bid {bid} is above ask {ask} (crossed quote)")]
    CrossedQuote { bid: f64, ask: f64 },
    #[error("close_time {close_time} is before open_time {open_time}")]
    CloseBeforeOpen { open_time: i64, close_time: i64 },
}

impl Bar {
    /// A bar without bid/ask or close time.
    pub fn new(symbol: Symbol, open_time: i64, open: f64, high: f64, low: f64, close: f64, volume: f64) -> Self {
        Bar { symbol, open_time, open, high, low, close, volume, bid: None, ask: None, close_time: None }
    }

    /// Checks the bar's internal consistency: finite numbers,
    /// `low <= min(open, close)`, `high >= max(open, close)`, non-negative
    /// volume, an uncrossed quote and a close time not before the open time.
    pub fn validate(&self) -> Result<(), BarError> {
        for (field, value) in [
            ("open", self.open),
            ("high", self.high),
            ("low", self.low),
            ("close", self.close),
            ("volume", self.volume),
        ] {
            if !value.is_finite() {
                return Err(BarError::NonFinite { field, value });
            }
        }
        for (field, value) in [("bid", self.bid), ("ask", self.ask)] {
            if let Some(value) = value.filter(|v| !v.is_finite()) {
                return Err(BarError::NonFinite { field, value });
            }
        }
        // Name the larger of open/close, so the message points at the binding constraint.
        let (top_field, top) = if self.close >= self.open { ("close", self.close) } else { ("open", self.open) };
        if self.high < top {
            return Err(BarError::HighTooLow { high: self.high, field: top_field, value: top });
        }
        let (bottom_field, bottom) = if self.close <= self.open { ("close", self.close) } else { ("open", self.open) };
        if self.low > bottom {
            return Err(BarError::LowTooHigh { low: self.low, field: bottom_field, value: bottom });
        }
        if self.volume < 0.0 {
            return Err(BarError::NegativeVolume(self.volume));
        }
        if let (Some(bid), Some(ask)) = (self.bid, self.ask) {
            if bid > ask {
                return Err(BarError::CrossedQuote { bid, ask });
            }
        }
        if let Some(close_time) = self.close_time {
            if close_time < self.open_time {
                return Err(BarError::CloseBeforeOpen { open_time: self.open_time, close_time });
            }
        }
        Ok(())
    }

    /// Typical price `(high + low + close) / 3`, as VWAP and CCI use it.
    #[inline]
    pub fn typical_price(&self) -> f64 {
        (self.high + self.low + self.close) / 3.0
    }
}

impl fmt::Display for Bar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} @{} O={} H={} L={} C={} V={}",
            self.symbol, self.open_time, self.open, self.high, self.low, self.close, self.volume
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(o: f64, h: f64, l: f64, c: f64, v: f64) -> Bar {
        Bar::new("X".into(), 0, o, h, l, c, v)
    }

    #[test]
    fn accepts_a_consistent_bar() {
        assert_eq!(bar(1.0, 2.0, 0.5, 1.5, 10.0).validate(), Ok(()));
        assert_eq!(bar(1.0, 1.0, 1.0, 1.0, 0.0).validate(), Ok(()));
    }

    #[test]
    fn rejects_high_below_close_naming_both() {
        let err = bar(2.0, 2.1, 1.9, 2.3, 1.0).validate().unwrap_err();
        assert_eq!(err.to_string(), "high 2.1 is below close 2.3");
    }

    #[test]
    fn rejects_low_above_open() {
        let err = bar(1.0, 2.0, 1.2, 1.5, 1.0).validate().unwrap_err();
        assert_eq!(err.to_string(), "low 1.2 is above open 1");
    }

    #[test]
    fn rejects_non_finite_and_negative_volume() {
        assert!(matches!(bar(f64::NAN, 2.0, 0.5, 1.5, 1.0).validate(), Err(BarError::NonFinite { field: "open", .. })));
        assert!(matches!(
            bar(1.0, f64::INFINITY, 0.5, 1.5, 1.0).validate(),
            Err(BarError::NonFinite { field: "high", .. })
        ));
        assert_eq!(bar(1.0, 2.0, 0.5, 1.5, -3.0).validate(), Err(BarError::NegativeVolume(-3.0)));
    }

    #[test]
    fn rejects_crossed_quote_and_backwards_close_time() {
        let mut b = bar(1.0, 2.0, 0.5, 1.5, 1.0);
        b.bid = Some(1.6);
        b.ask = Some(1.4);
        assert!(matches!(b.validate(), Err(BarError::CrossedQuote { .. })));
        let mut b = bar(1.0, 2.0, 0.5, 1.5, 1.0);
        b.open_time = 1000;
        b.close_time = Some(999);
        assert!(matches!(b.validate(), Err(BarError::CloseBeforeOpen { .. })));
    }
}
