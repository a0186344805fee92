//! When the strategy is asked, and how long a setup may wait.

use serde::{Deserialize, Serialize};

use super::SymbolState;

/// Evaluate the strategy every `n`-th bar in each state (1 = every bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cadence {
    pub watch: u32,
    pub close_watch: u32,
    pub in_trade: u32,
}

impl Default for Cadence {
    fn default() -> Self {
        Cadence { watch: 1, close_watch: 1, in_trade: 1 }
    }
}

impl Cadence {
    /// Whether the strategy runs on the bar that makes `bars_in_state` bars
    /// in `state` (counted from 0 at the entering bar, which is evaluated).
    pub fn due(&self, state: SymbolState, bars_in_state: u64) -> bool {
        let every = match state {
            SymbolState::Watch => self.watch,
            SymbolState::CloseWatch => self.close_watch,
            SymbolState::InTrade { .. } => self.in_trade,
        };
        bars_in_state % u64::from(every.max(1)) == 0
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, n) in [("watch", self.watch), ("close_watch", self.close_watch), ("in_trade", self.in_trade)] {
            if n == 0 {
                return Err(format!("cadence.{name} must be at least 1 (every bar), got 0"));
            }
        }
        Ok(())
    }
}

/// How long CloseWatch may last before the setup is dropped: a number of
/// bars, a span of market time, or whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SetupTimeout {
    pub bars: Option<u64>,
    pub millis: Option<i64>,
}

impl SetupTimeout {
    /// Why the setup expired, if it did: `bars_in_state` bars after entering
    /// CloseWatch at `entered_at`, now at `now` (market time).
    pub fn expired(&self, bars_in_state: u64, entered_at: Option<i64>, now: i64) -> Option<String> {
        if let Some(limit) = self.bars {
            if bars_in_state >= limit {
                return Some(format!("setup timed out after {bars_in_state} bars"));
            }
        }
        if let (Some(limit), Some(start)) = (self.millis, entered_at) {
            let waited = now.saturating_sub(start);
            if waited >= limit {
                return Some(format!("setup timed out after {} s", waited / 1000));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_bar_from_the_entering_bar() {
        let c = Cadence { watch: 5, close_watch: 1, in_trade: 2 };
        let due: Vec<u64> = (0..12).filter(|&b| c.due(SymbolState::Watch, b)).collect();
        assert_eq!(due, vec![0, 5, 10]);
        assert!((0..5).all(|b| c.due(SymbolState::CloseWatch, b)));
        assert!(!c.due(SymbolState::InTrade { entry_filled: true }, 1));
        assert!(Cadence { watch: 0, ..c }.validate().unwrap_err().contains("cadence.watch"));
    }

    #[test]
    fn setups_expire_by_bars_or_time() {
        let t = SetupTimeout { bars: Some(3), millis: Some(120_000) };
        assert_eq!(t.expired(2, Some(0), 60_000), None);
        assert_eq!(t.expired(3, Some(0), 60_000).as_deref(), Some("setup timed out after 3 bars"));
        assert_eq!(t.expired(1, Some(0), 180_000).as_deref(), Some("setup timed out after 180 s"));
        assert_eq!(SetupTimeout::default().expired(1_000_000, Some(0), i64::MAX), None);
    }
}
