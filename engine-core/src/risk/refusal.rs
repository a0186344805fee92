//! Why risk said no, and what it asks execution to do about a halt.
//!
//! A refusal is plain data with a stable code (`RISK_MAX_DRAWDOWN`) for
//! reports and the event log, and a message with the numbers that were
//! compared, so that a reader never has to recompute why.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

/// Which rule refused an entry or halted trading. Serialised as the
/// `RISK_…` string of [`RefusalCode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RefusalCode {
    #[serde(rename = "RISK_MAX_POSITION_NOTIONAL")]
    MaxPositionNotional,
    #[serde(rename = "RISK_MAX_POSITION_PCT_EQUITY")]
    MaxPositionPctEquity,
    #[serde(rename = "RISK_MAX_OPEN_POSITIONS")]
    MaxOpenPositions,
    #[serde(rename = "RISK_MIN_CASH_RESERVE")]
    MinCashReserve,
    #[serde(rename = "RISK_DAILY_LOSS_LIMIT")]
    DailyLossLimit,
    #[serde(rename = "RISK_MAX_DRAWDOWN")]
    MaxDrawdown,
    #[serde(rename = "RISK_KILL_SWITCH")]
    KillSwitch,
    #[serde(rename = "RISK_NO_STOP")]
    NoStop,
    #[serde(rename = "RISK_SIZE_TOO_SMALL")]
    SizeTooSmall,
    #[serde(rename = "RISK_INVALID_INTENT")]
    InvalidIntent,
}

impl RefusalCode {
    /// Every code, in declaration (and report) order.
    pub const ALL: [RefusalCode; 10] = [
        RefusalCode::MaxPositionNotional,
        RefusalCode::MaxPositionPctEquity,
        RefusalCode::MaxOpenPositions,
        RefusalCode::MinCashReserve,
        RefusalCode::DailyLossLimit,
        RefusalCode::MaxDrawdown,
        RefusalCode::KillSwitch,
        RefusalCode::NoStop,
        RefusalCode::SizeTooSmall,
        RefusalCode::InvalidIntent,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RefusalCode::MaxPositionNotional => "RISK_MAX_POSITION_NOTIONAL",
            RefusalCode::MaxPositionPctEquity => "RISK_MAX_POSITION_PCT_EQUITY",
            RefusalCode::MaxOpenPositions => "RISK_MAX_OPEN_POSITIONS",
            RefusalCode::MinCashReserve => "RISK_MIN_CASH_RESERVE",
            RefusalCode::DailyLossLimit => "RISK_DAILY_LOSS_LIMIT",
            RefusalCode::MaxDrawdown => "RISK_MAX_DRAWDOWN",
            RefusalCode::KillSwitch => "RISK_KILL_SWITCH",
            RefusalCode::NoStop => "RISK_NO_STOP",
            RefusalCode::SizeTooSmall => "RISK_SIZE_TOO_SMALL",
            RefusalCode::InvalidIntent => "RISK_INVALID_INTENT",
        }
    }
}

impl fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry risk refused, or the reason trading is halted.
///
/// Displays as `RISK_MAX_DRAWDOWN: equity 8,912.40 is 10.9 % below its peak
/// 10,000.00 (limit 10 %)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct RiskRefusal {
    pub code: RefusalCode,
    /// What was compared with what, with the numbers.
    pub message: String,
}

impl RiskRefusal {
    pub fn new(code: RefusalCode, message: impl Into<String>) -> Self {
        RiskRefusal { code, message: message.into() }
    }
}

/// Something risk asks execution to do now because trading was halted.
/// Risk never touches orders itself: execution is their only writer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RiskAction {
    /// Cancel every working entry order. The protective stop and target of
    /// an open position stay: they only limit the loss of a position that
    /// risk chose not to close.
    CancelWorkingOrders { reason: RiskRefusal },
    /// Close every open position at market (orders with purpose `flatten`).
    Flatten { reason: RiskRefusal },
}

impl RiskAction {
    pub fn reason(&self) -> &RiskRefusal {
        match self {
            RiskAction::CancelWorkingOrders { reason } | RiskAction::Flatten { reason } => reason,
        }
    }
}

/// A money amount with thousands separators and two decimals:
/// `-12,345.60`. Non-finite values print as Rust prints them (`NaN`).
pub(crate) fn money(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let fixed = format!("{:.2}", value.abs());
    let (whole, decimals) = fixed.split_once('.').unwrap_or((&fixed, "00"));
    let mut out = String::with_capacity(fixed.len() + whole.len() / 3 + 1);
    // `-0.00` would be a surprise: the sign only when something shows.
    if value < 0.0 && fixed.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        out.push('-');
    }
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    let _ = write!(out, ".{decimals}");
    out
}

/// A quantity or price as short as it reads: up to 8 decimals, trailing
/// zeros dropped (`0.3`, `125`, `0.00012345`).
pub(crate) fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let fixed = format!("{value:.8}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" {
        "0".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_strings() {
        for code in RefusalCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<RefusalCode>(&json).unwrap(), code);
        }
        let mut sorted = RefusalCode::ALL;
        sorted.sort();
        assert_eq!(sorted, RefusalCode::ALL, "ALL is in declaration order");
    }

    #[test]
    fn refusals_display_code_then_message() {
        let r = RiskRefusal::new(RefusalCode::NoStop, "no stop given");
        assert_eq!(r.to_string(), "RISK_NO_STOP: no stop given");
        let action = RiskAction::Flatten { reason: r.clone() };
        assert_eq!(action.reason(), &r);
        let json = serde_json::to_value(&action).unwrap();
        assert_eq!(json["action"], "flatten");
        assert_eq!(json["reason"]["code"], "RISK_NO_STOP");
    }

    #[test]
    fn money_and_numbers() {
        assert_eq!(money(8912.4), "8,912.40");
        assert_eq!(money(10_000.0), "10,000.00");
        assert_eq!(money(1_234_567.891), "1,234,567.89");
        assert_eq!(money(999.999), "1,000.00");
        assert_eq!(money(-1234.5), "-1,234.50");
        assert_eq!(money(-0.001), "0.00");
        assert_eq!(money(0.0), "0.00");
        assert_eq!(money(f64::NAN), "NaN");
        assert_eq!(number(0.30000000000000004), "0.3");
        assert_eq!(number(125.0), "125");
        assert_eq!(number(0.00012345), "0.00012345");
        assert_eq!(number(-2.5), "-2.5");
        assert_eq!(number(-0.000000001), "0");
    }
}
