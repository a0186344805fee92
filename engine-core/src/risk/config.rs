//! What risk is told to enforce. Every limit is optional: absent means "not
//! checked", so the default configuration sizes entries and nothing else.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Risk settings, the `[risk]` table of a run's configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// How big an entry is when the strategy gives no size.
    pub sizing: Sizing,
    /// Largest `|quantity × price|` of one position, in quote currency.
    pub max_position_notional: Option<f64>,
    /// Largest notional of one position in percent of equity (25 = 25 %).
    pub max_position_pct_equity: Option<f64>,
    /// Most symbols with a position (or a working entry) at once.
    pub max_open_positions: Option<usize>,
    /// Cash that must be left after an entry's notional and estimated fee.
    pub min_cash_reserve: Option<f64>,
    /// Percent of the UTC day's starting equity that may be lost before
    /// new entries are halted until the next UTC day.
    pub daily_loss_limit_pct: Option<f64>,
    /// Percent below peak equity at which trading halts for the rest of
    /// the run.
    pub max_drawdown_pct: Option<f64>,
    /// Also close the positions when halted by drawdown or daily loss (not
    /// only cancel working entries).
    pub flatten_on_halt: bool,
    pub kill_switch: KillSwitchConfig,
}

/// How an entry without a strategy-given size is sized. A size the
/// strategy gives always wins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Sizing {
    /// Always `quantity`.
    FixedQuantity { quantity: f64 },
    /// `notional / price`.
    FixedNotional { notional: f64 },
    /// `equity × percent / 100 / price`: a position worth `percent` of equity.
    PercentEquity { percent: f64 },
    /// `equity × percent / 100 / |price − stop|`: losing `percent` of equity
    /// if the stop is hit (before slippage and fees). Needs a stop.
    RiskPerTrade { percent: f64 },
}

impl Default for Sizing {
    fn default() -> Self {
        Sizing::FixedQuantity { quantity: 1.0 }
    }
}

/// The emergency stop: engaged by a flag (CLI, signal handler) or by a file
/// appearing; once engaged it stays engaged for the run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KillSwitchConfig {
    /// Engage when this file exists (polled, see `docs/risk.md`).
    pub file: Option<PathBuf>,
    /// Also close every position when engaged (not only cancel working
    /// entries).
    pub flatten: bool,
}

impl RiskConfig {
    /// Checks every value, naming the first bad one:
    /// `risk.max_drawdown_pct must be in (0, 100], got 150`.
    pub fn validate(&self) -> Result<(), String> {
        match self.sizing {
            Sizing::FixedQuantity { quantity } => positive("risk.sizing.quantity", quantity)?,
            Sizing::FixedNotional { notional } => positive("risk.sizing.notional", notional)?,
            Sizing::PercentEquity { percent } | Sizing::RiskPerTrade { percent } => {
                percent_in_range("risk.sizing.percent", percent)?
            }
        }
        if let Some(v) = self.max_position_notional {
            positive("risk.max_position_notional", v)?;
        }
        if let Some(v) = self.max_position_pct_equity {
            percent_in_range("risk.max_position_pct_equity", v)?;
        }
        if self.max_open_positions == Some(0) {
            // Zero would refuse every entry: a halt in disguise.
            return Err("risk.max_open_positions must be at least 1, got 0".to_string());
        }
        if let Some(v) = self.min_cash_reserve {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("risk.min_cash_reserve must be a finite number >= 0, got {v}"));
            }
        }
        if let Some(v) = self.daily_loss_limit_pct {
            percent_in_range("risk.daily_loss_limit_pct", v)?;
        }
        if let Some(v) = self.max_drawdown_pct {
            percent_in_range("risk.max_drawdown_pct", v)?;
        }
        if let Some(file) = &self.kill_switch.file {
            if file.as_os_str().is_empty() {
                return Err("risk.kill_switch.file must not be empty (leave it out for no file)".to_string());
            }
        }
        Ok(())
    }
}

fn positive(name: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be a finite number > 0, got {v}"))
    }
}

fn percent_in_range(name: &str, v: f64) -> Result<(), String> {
    if v > 0.0 && v <= 100.0 {
        Ok(())
    } else {
        Err(format!("{name} must be in (0, 100], got {v}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_size_one_unit_and_limit_nothing() {
        let c: RiskConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, RiskConfig::default());
        assert_eq!(c.sizing, Sizing::FixedQuantity { quantity: 1.0 });
        assert!(!c.flatten_on_halt && !c.kill_switch.flatten && c.kill_switch.file.is_none());
        c.validate().unwrap();
    }

    #[test]
    fn sizing_is_tagged_by_mode_and_unknown_fields_are_refused() {
        let c: RiskConfig = serde_json::from_str(
            r#"{"sizing": {"mode": "risk_per_trade", "percent": 1.5}, "max_drawdown_pct": 10,
                "kill_switch": {"file": "/tmp/stop", "flatten": true}}"#,
        )
        .unwrap();
        assert_eq!(c.sizing, Sizing::RiskPerTrade { percent: 1.5 });
        assert_eq!(c.max_drawdown_pct, Some(10.0));
        assert_eq!(c.kill_switch.file, Some(PathBuf::from("/tmp/stop")));
        for bad in [
            r#"{"max_drawdown": 10}"#,
            r#"{"sizing": {"mode": "fixed_quantity", "quantity": 1, "notional": 5}}"#,
            r#"{"sizing": {"mode": "kelly", "percent": 1}}"#,
            r#"{"kill_switch": {"path": "/tmp/stop"}}"#,
        ] {
            assert!(serde_json::from_str::<RiskConfig>(bad).is_err(), "{bad}");
        }
        let round_trip: RiskConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(round_trip, c);
    }

    #[test]
    fn validation_names_the_field_and_value() {
        let err = |c: RiskConfig| c.validate().unwrap_err();
        let base = RiskConfig::default();
        assert_eq!(
            err(RiskConfig { max_drawdown_pct: Some(150.0), ..base.clone() }),
            "risk.max_drawdown_pct must be in (0, 100], got 150"
        );
        assert_eq!(
            err(RiskConfig { daily_loss_limit_pct: Some(0.0), ..base.clone() }),
            "risk.daily_loss_limit_pct must be in (0, 100], got 0"
        );
        assert_eq!(
            err(RiskConfig { max_position_pct_equity: Some(f64::NAN), ..base.clone() }),
            "risk.max_position_pct_equity must be in (0, 100], got NaN"
        );
        assert_eq!(
            err(RiskConfig { sizing: Sizing::FixedQuantity { quantity: -1.0 }, ..base.clone() }),
            "risk.sizing.quantity must be a finite number > 0, got -1"
        );
        assert_eq!(
            err(RiskConfig { sizing: Sizing::FixedNotional { notional: f64::INFINITY }, ..base.clone() }),
            "risk.sizing.notional must be a finite number > 0, got inf"
        );
        assert_eq!(
            err(RiskConfig { sizing: Sizing::RiskPerTrade { percent: 101.0 }, ..base.clone() }),
            "risk.sizing.percent must be in (0, 100], got 101"
        );
        assert_eq!(
            err(RiskConfig { max_position_notional: Some(0.0), ..base.clone() }),
            "risk.max_position_notional must be a finite number > 0, got 0"
        );
        assert_eq!(
            err(RiskConfig { max_open_positions: Some(0), ..base.clone() }),
            "risk.max_open_positions must be at least 1, got 0"
        );
        assert_eq!(
            err(RiskConfig { min_cash_reserve: Some(-5.0), ..base.clone() }),
            "risk.min_cash_reserve must be a finite number >= 0, got -5"
        );
        let empty_file = KillSwitchConfig { file: Some(PathBuf::new()), flatten: false };
        assert!(err(RiskConfig { kill_switch: empty_file, ..base.clone() }).starts_with("risk.kill_switch.file"));
        RiskConfig {
            sizing: Sizing::PercentEquity { percent: 100.0 },
            max_position_notional: Some(1e6),
            max_position_pct_equity: Some(25.0),
            max_open_positions: Some(1),
            min_cash_reserve: Some(0.0),
            daily_loss_limit_pct: Some(3.0),
            max_drawdown_pct: Some(100.0),
            flatten_on_halt: true,
            kill_switch: KillSwitchConfig { file: Some("/tmp/x".into()), flatten: true },
        }
        .validate()
        .unwrap();
    }
}
