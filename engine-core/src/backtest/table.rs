//! The metrics as rows of (label, value with unit), and as the aligned
//! plain-text table the CLI prints at the end of a backtest. The HTML
//! report uses the same rows, so the terminal and the report never differ.

use super::format::{amount, duration, grouped, human_time};
use super::metrics::Metrics;

/// Shown for a metric that is not defined for the run.
pub(crate) const NA: &str = "n/a";

/// Every metric, in display order, with its value formatted for people.
pub(crate) fn metric_rows(m: &Metrics) -> Vec<(&'static str, String)> {
    let pct = |v: Option<f64>| v.map_or(NA.to_string(), |x| format!("{} %", grouped(x, 2)));
    let ratio = |v: Option<f64>| v.map_or(NA.to_string(), |x| grouped(x, 2));
    let money = |v: Option<f64>| v.map_or(NA.to_string(), amount);
    let time = |v: Option<i64>| v.map_or(NA.to_string(), human_time);
    let span = match (m.start, m.end) {
        (Some(s), Some(e)) => duration(e - s),
        _ => NA.to_string(),
    };
    vec![
        ("Start", time(m.start)),
        ("End", time(m.end)),
        ("Duration", span),
        ("Equity points", grouped(m.points as f64, 0)),
        ("Initial capital", amount(m.initial_capital)),
        ("Final equity", amount(m.final_equity)),
        ("Total return", pct(m.total_return_pct)),
        ("CAGR", pct(m.cagr_pct)),
        ("Annualized volatility", pct(m.annualized_volatility_pct)),
        ("Sharpe ratio", ratio(m.sharpe)),
        ("Sortino ratio", ratio(m.sortino)),
        ("Calmar ratio", ratio(m.calmar)),
        ("Max drawdown", pct(m.max_drawdown_pct)),
        ("Max drawdown duration", m.max_drawdown_duration_ms.map_or(NA.to_string(), duration)),
        ("Exposure", pct(m.exposure_pct)),
        ("Trades", grouped(m.trades as f64, 0)),
        ("Wins / losses", format!("{} / {}", grouped(m.wins as f64, 0), grouped(m.losses as f64, 0))),
        ("Win rate", pct(m.win_rate_pct)),
        ("Profit factor", ratio(m.profit_factor)),
        ("Expectancy (per trade)", money(m.expectancy)),
        ("Average win", money(m.average_win)),
        ("Average loss", money(m.average_loss)),
        ("Largest win", money(m.largest_win)),
        ("Largest loss", money(m.largest_loss)),
        ("Fees", amount(m.fees)),
        ("Turnover", m.turnover.map_or(NA.to_string(), |x| format!("{}x", grouped(x, 2)))),
        ("Periods per year", m.periods_per_year.map_or(NA.to_string(), |x| grouped(x, 1))),
    ]
}

/// The metrics as an aligned two-column table: names left-aligned, values
/// right-aligned, "n/a" for what is undefined. Ends with a newline.
pub fn summary_table(metrics: &Metrics) -> String {
    let rows = metric_rows(metrics);
    let width = |s: &str| s.chars().count();
    let name_w = rows.iter().map(|(n, _)| width(n)).max().unwrap_or(0).max(width("Metric"));
    let value_w = rows.iter().map(|(_, v)| width(v)).max().unwrap_or(0).max(width("Value"));
    let mut out = String::new();
    let mut line = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(&" ".repeat(name_w - width(name) + 2 + value_w - width(value)));
        out.push_str(value);
        out.push('\n');
    };
    line("Metric", "Value");
    line(&"-".repeat(name_w), &"-".repeat(value_w));
    for (name, value) in &rows {
        line(name, value);
    }
    out
}
