//! Account-wide conditions that stop new entries: drawdown from the peak
//! (for the rest of the run) and the day's loss (until the next UTC day).
//! Both read the account snapshot's own `peak_equity` and
//! `day_start_equity`, kept by execution.

use chrono::DateTime;

use super::limits::percent;
use super::refusal::{money, number, RefusalCode, RiskRefusal};
use crate::execution::records::AccountSnapshot;

pub(crate) const MILLIS_PER_DAY: i64 = 86_400_000;

/// The UTC day (days since 1970-01-01) of a market time in epoch ms.
pub(crate) fn utc_day(time_ms: i64) -> i64 {
    time_ms.div_euclid(MILLIS_PER_DAY)
}

/// The drawdown halt, if equity is more than `limit_pct` below its peak:
/// `equity < peak × (1 − limit_pct / 100)`.
pub(crate) fn drawdown_breach(account: &AccountSnapshot, limit_pct: f64) -> Option<RiskRefusal> {
    let floor = account.peak_equity * (1.0 - limit_pct / 100.0);
    (account.equity < floor).then(|| {
        RiskRefusal::new(
            RefusalCode::MaxDrawdown,
            format!(
                "equity {} is {} % below its peak {} (limit {} %)",
                money(account.equity),
                percent(drop_pct(account.equity, account.peak_equity)),
                money(account.peak_equity),
                number(limit_pct)
            ),
        )
    })
}

/// The daily-loss halt, if equity is more than `limit_pct` below the UTC
/// day's starting equity: `equity < day_start × (1 − limit_pct / 100)`.
pub(crate) fn daily_loss_breach(account: &AccountSnapshot, limit_pct: f64) -> Option<RiskRefusal> {
    let floor = account.day_start_equity * (1.0 - limit_pct / 100.0);
    (account.equity < floor).then(|| {
        let resume = DateTime::from_timestamp_millis((utc_day(account.time) + 1).saturating_mul(MILLIS_PER_DAY))
            .map_or_else(|| "on the next UTC day".to_string(), |t| format!("at {} 00:00 UTC", t.date_naive()));
        RiskRefusal::new(
            RefusalCode::DailyLossLimit,
            format!(
                "equity {} is {} % below the UTC day's start {} (limit {} %); entries resume {resume}",
                money(account.equity),
                percent(drop_pct(account.equity, account.day_start_equity)),
                money(account.day_start_equity),
                number(limit_pct)
            ),
        )
    })
}

fn drop_pct(equity: f64, reference: f64) -> f64 {
    if reference > 0.0 {
        (reference - equity) / reference * 100.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_days_start_at_midnight_and_go_backwards_before_1970() {
        assert_eq!(utc_day(0), 0);
        assert_eq!(utc_day(MILLIS_PER_DAY - 1), 0);
        assert_eq!(utc_day(MILLIS_PER_DAY), 1);
        assert_eq!(utc_day(-1), -1);
    }
}
