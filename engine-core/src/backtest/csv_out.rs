//! `equity.csv`, `trades.csv` and `orders.csv`.
//!
//! One header row, one row per record. Times appear twice: RFC 3339 UTC for
//! people and spreadsheets, epoch milliseconds (`*_ms`) for programs.
//! Numbers are written with Rust's `f64` `Display`, the shortest text that
//! parses back to the same bits, so nothing is lost to rounding; a
//! non-finite value (which the engine should never produce) is an empty
//! cell rather than `NaN`, which most CSV readers would not parse.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use super::drawdown::drawdown_pct_series;
use super::error::OutputError;
use super::format::rfc3339_ms;
use crate::execution::records::{EquityPoint, FillRecord, Liquidity, OrderKind, OrderRecord, TimeInForce, TradeRecord};

/// A CSV writer that formats fields into one reused buffer (a million rows
/// should not mean ten million small allocations) and names its file in
/// errors.
struct Rows<'p, W: Write> {
    csv: csv::Writer<W>,
    buf: String,
    path: &'p Path,
}

impl<'p, W: Write> Rows<'p, W> {
    fn new(out: W, path: &'p Path, header: &[&str]) -> Result<Self, OutputError> {
        let mut rows = Rows { csv: csv::Writer::from_writer(out), buf: String::new(), path };
        rows.csv.write_record(header).map_err(|e| rows.error(e))?;
        Ok(rows)
    }

    fn error(&self, source: csv::Error) -> OutputError {
        OutputError::Csv { path: self.path.to_path_buf(), source }
    }

    fn text(&mut self, s: &str) -> Result<&mut Self, OutputError> {
        self.csv.write_field(s).map_err(|e| self.error(e))?;
        Ok(self)
    }

    /// Writes whatever was formatted into `buf`.
    fn flush_buf(&mut self) -> Result<&mut Self, OutputError> {
        let result = self.csv.write_field(&self.buf);
        self.buf.clear();
        result.map_err(|e| self.error(e))?;
        Ok(self)
    }

    fn num(&mut self, x: f64) -> Result<&mut Self, OutputError> {
        if x.is_finite() {
            write!(self.buf, "{x}").expect("writing to a String cannot fail");
        }
        self.flush_buf()
    }

    fn opt(&mut self, x: Option<f64>) -> Result<&mut Self, OutputError> {
        self.num(x.unwrap_or(f64::NAN))
    }

    fn int(&mut self, x: impl std::fmt::Display) -> Result<&mut Self, OutputError> {
        write!(self.buf, "{x}").expect("writing to a String cannot fail");
        self.flush_buf()
    }

    /// Two fields: the RFC 3339 time (empty if out of range) and the ms.
    fn time(&mut self, ms: i64) -> Result<&mut Self, OutputError> {
        let text = rfc3339_ms(ms).unwrap_or_default();
        self.text(&text)?.int(ms)
    }

    fn end_row(&mut self) -> Result<(), OutputError> {
        self.csv.write_record(None::<&[u8]>).map_err(|e| self.error(e))
    }

    fn finish(mut self) -> Result<(), OutputError> {
        self.csv.flush().map_err(|e| OutputError::Write { path: self.path.to_path_buf(), source: e })
    }
}

pub(crate) const EQUITY_HEADER: [&str; 9] =
    ["time", "time_ms", "cash", "equity", "realized_pnl", "unrealized_pnl", "fees", "gross_exposure", "drawdown_pct"];

/// The equity curve, with the drawdown below the running peak (percent,
/// the series the underwater chart draws; empty when the curve has no
/// positive start to measure from).
pub(crate) fn write_equity(out: impl Write, path: &Path, equity: &[EquityPoint]) -> Result<(), OutputError> {
    let drawdown = drawdown_pct_series(equity);
    let mut rows = Rows::new(out, path, &EQUITY_HEADER)?;
    for (i, p) in equity.iter().enumerate() {
        rows.time(p.time)?
            .num(p.cash)?
            .num(p.equity)?
            .num(p.realized_pnl)?
            .num(p.unrealized_pnl)?
            .num(p.fees)?
            .num(p.gross_exposure)?
            .opt(drawdown.as_ref().map(|d| d[i]))?
            .end_row()?;
    }
    rows.finish()
}

pub(crate) const TRADES_HEADER: [&str; 16] = [
    "id",
    "symbol",
    "side",
    "entry_time",
    "entry_time_ms",
    "entry_price",
    "exit_time",
    "exit_time_ms",
    "exit_price",
    "quantity",
    "gross_pnl",
    "fees",
    "net_pnl",
    "return_pct",
    "bars_held",
    "exit_reason",
];

pub(crate) fn write_trades(out: impl Write, path: &Path, trades: &[TradeRecord]) -> Result<(), OutputError> {
    let mut rows = Rows::new(out, path, &TRADES_HEADER)?;
    for t in trades {
        rows.int(t.id)?
            .text(&t.symbol)?
            .text(t.side.as_str())?
            .time(t.entry_time)?
            .num(t.entry_price)?
            .time(t.exit_time)?
            .num(t.exit_price)?
            .num(t.quantity)?
            .num(t.gross_pnl)?
            .num(t.fees)?
            .num(t.net_pnl)?
            .num(t.return_pct)?
            .int(t.bars_held)?
            .text(&t.exit_reason)?
            .end_row()?;
    }
    rows.finish()
}

pub(crate) const ORDERS_HEADER: [&str; 19] = [
    "id",
    "symbol",
    "submitted",
    "submitted_ms",
    "updated",
    "updated_ms",
    "side",
    "kind",
    "limit_price",
    "trigger_price",
    "time_in_force",
    "post_only",
    "purpose",
    "quantity",
    "filled_quantity",
    "average_price",
    "fees",
    "status",
    "reason",
];

pub(crate) fn write_orders(out: impl Write, path: &Path, orders: &[OrderRecord]) -> Result<(), OutputError> {
    let mut rows = Rows::new(out, path, &ORDERS_HEADER)?;
    for o in orders {
        let (limit, trigger) = match o.kind {
            OrderKind::Market => (None, None),
            OrderKind::Limit { price } => (Some(price), None),
            OrderKind::Stop { trigger } => (None, Some(trigger)),
            OrderKind::StopLimit { trigger, limit } => (Some(limit), Some(trigger)),
        };
        let tif = match o.time_in_force {
            TimeInForce::Gtc => "gtc",
            TimeInForce::Ioc => "ioc",
        };
        rows.int(o.id)?
            .text(&o.symbol)?
            .time(o.submitted)?
            .time(o.updated)?
            .text(o.side.as_str())?
            .text(o.kind.name())?
            .opt(limit)?
            .opt(trigger)?
            .text(tif)?
            .text(if o.post_only { "true" } else { "false" })?
            .text(o.purpose.as_str())?
            .num(o.quantity)?
            .num(o.filled_quantity)?
            .opt(o.average_price)?
            .num(o.fees)?
            .text(o.status.as_str())?
            .text(&o.reason)?
            .end_row()?;
    }
    rows.finish()
}

pub(crate) const FILLS_HEADER: [&str; 12] = [
    "order_id",
    "symbol",
    "time",
    "time_ms",
    "side",
    "purpose",
    "quantity",
    "price",
    "fee",
    "liquidity",
    "realized_pnl",
    "notional",
];

pub(crate) fn write_fills(out: impl Write, path: &Path, fills: &[FillRecord]) -> Result<(), OutputError> {
    let mut rows = Rows::new(out, path, &FILLS_HEADER)?;
    for f in fills {
        rows.int(f.order_id)?
            .text(&f.symbol)?
            .time(f.time)?
            .text(f.side.as_str())?
            .text(f.purpose.as_str())?
            .num(f.quantity)?
            .num(f.price)?
            .num(f.fee)?
            .text(match f.liquidity {
                Liquidity::Maker => "maker",
                Liquidity::Taker => "taker",
            })?
            .num(f.realized_pnl)?
            .num(f.quantity * f.price)?
            .end_row()?;
    }
    rows.finish()
}
