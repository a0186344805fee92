//! A seeded synthetic bar source: a regime-switching random walk.
//!
//! The series alternates bull, range and bear segments of random length.
//! Bull segments drift up with moderate volatility, range segments revert to
//! the level they started at with low volatility, bear segments drift down
//! with higher volatility. Every bar is valid by construction, open equals
//! the previous close, and volume rises with volatility and just after
//! regime changes. The regime of every bar is returned, so tests and
//! strategies can be checked against the truth that was planted.

use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use super::load::timestamp::parse_timestamp;
use crate::market_data::{parse_interval, Bar, Symbol};

/// The market regime a synthetic bar was drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Regime {
    /// Positive drift, moderate volatility.
    Bull,
    /// Mean-reverting around the segment's starting level, low volatility.
    Range,
    /// Negative drift, higher volatility.
    Bear,
}

impl fmt::Display for Regime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Regime::Bull => "bull",
            Regime::Range => "range",
            Regime::Bear => "bear",
        })
    }
}

/// Per-bar dynamics of a regime, defined for 1-minute bars and scaled to
/// the configured interval by [`RegimeParams::scaled`].
#[derive(Debug, Clone, Copy)]
struct RegimeParams {
    /// Mean log return per bar.
    drift: f64,
    /// Standard deviation of the log return per bar.
    vol: f64,
    /// Pull toward the segment's starting level per bar (range only).
    reversion: f64,
}

impl Regime {
    fn params(self) -> RegimeParams {
        // Drift against noise is chosen so a 200-bar segment already shows
        // its sign about 95% of the time, while 2000-bar segments move
        // prices by tens of percent, as crypto trends do.
        match self {
            Regime::Bull => RegimeParams { drift: 1.2e-4, vol: 8e-4, reversion: 0.0 },
            Regime::Range => RegimeParams { drift: 0.0, vol: 5e-4, reversion: 0.01 },
            Regime::Bear => RegimeParams { drift: -1.5e-4, vol: 1.3e-3, reversion: 0.0 },
        }
    }
}

impl RegimeParams {
    /// Scales 1-minute dynamics to another bar length. Drift and volatility
    /// both scale with sqrt(duration), which keeps each bar's signal-to-noise
    /// ratio (and so the regimes' detectability) the same at any interval;
    /// the factor is capped so weekly bars do not get absurd volatility.
    fn scaled(self, interval_ms: i64) -> RegimeParams {
        let factor = (interval_ms as f64 / 60_000.0).sqrt().min(60.0);
        RegimeParams { drift: self.drift * factor, vol: self.vol * factor, reversion: self.reversion }
    }
}

/// What to generate. Parse from `"seed=7,bars=5000,interval=5m,symbol=ABC"`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticConfig {
    /// Symbol carried by every bar.
    pub symbol: String,
    /// Seed of the `StdRng`: the same config always gives the same bars.
    pub seed: u64,
    /// Number of bars.
    pub bars: usize,
    /// Bar length in milliseconds.
    pub interval_ms: i64,
    /// Open time of the first bar, epoch milliseconds UTC.
    pub start_ms: i64,
    /// Open of the first bar.
    pub start_price: f64,
    /// Shortest regime segment in bars (shortened for short series).
    pub min_segment: usize,
    /// Longest regime segment in bars (shortened for short series).
    pub max_segment: usize,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            symbol: "SYNTH".to_string(),
            seed: 42,
            bars: 10_000,
            interval_ms: 60_000,
            start_ms: 1_704_067_200_000, // 2024-01-01T00:00:00Z
            start_price: 100.0,
            min_segment: 200,
            max_segment: 2000,
        }
    }
}

impl SyntheticConfig {
    /// A short name for logs and [`HistoricalSource`](super::HistoricalSource): `synthetic(seed=42)`.
    pub fn name(&self) -> String {
        format!("synthetic(seed={})", self.seed)
    }

    /// Segment length bounds for this series: short series get short
    /// segments so that they still contain several regimes.
    fn segment_bounds(&self) -> (usize, usize) {
        let max = self.max_segment.min((self.bars / 4).max(20)).max(1);
        let min = self.min_segment.min(max / 2).max(1);
        (min, max)
    }
}

/// A bad `key=value` in a synthetic config string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("synthetic config: {key}: {message}")]
pub struct SyntheticConfigError {
    /// The offending key (or the whole item when it has no `=`).
    pub key: String,
    /// What is wrong with its value.
    pub message: String,
}

const KEYS: &str = "seed, bars, interval, start, price, symbol, min_segment, max_segment";

/// Most bars one series may have: 50 million bars are about 6 GB in memory.
pub const MAX_BARS: usize = 50_000_000;
/// Highest starting price: far above any traded price, far below where
/// price × volume sums would overflow.
pub const MAX_START_PRICE: f64 = 1e9;
/// Open times must stay within the years 0000 to 9999.
const EARLIEST_MS: i64 = -62_167_219_200_000;
const LATEST_MS: i64 = 253_402_300_799_999;

impl SyntheticConfig {
    /// Checks that the series can be generated: a sane number of bars and
    /// starting price, segments of at least one bar, and every open and close
    /// time within the years 0000 to 9999 (so no timestamp can overflow).
    pub fn validate(&self) -> Result<(), SyntheticConfigError> {
        let err = |key: &str, message: String| Err(SyntheticConfigError { key: key.to_string(), message });
        if self.bars > MAX_BARS {
            return err("bars", format!("{} is more than the {MAX_BARS} bars one series may have", self.bars));
        }
        if !(self.start_price.is_finite() && self.start_price > 0.0 && self.start_price <= MAX_START_PRICE) {
            return err("price", format!("{} is not a price in (0, {MAX_START_PRICE:e}]", self.start_price));
        }
        if self.interval_ms <= 0 {
            return err("interval", format!("{} ms is not a positive interval", self.interval_ms));
        }
        if self.min_segment == 0 || self.max_segment == 0 {
            return err("min_segment", "segments must be at least 1 bar long".to_string());
        }
        if self.min_segment > self.max_segment {
            return err("min_segment", format!("{} is larger than max_segment {}", self.min_segment, self.max_segment));
        }
        let end = i64::try_from(self.bars)
            .ok()
            .and_then(|bars| bars.checked_mul(self.interval_ms))
            .and_then(|span| span.checked_add(self.start_ms));
        match end {
            Some(end) if self.start_ms >= EARLIEST_MS && end - 1 <= LATEST_MS => Ok(()),
            _ => err(
                "start",
                format!(
                    "{} bars of {} ms from {} ms run past the year 9999 (or start before year 0)",
                    self.bars, self.interval_ms, self.start_ms
                ),
            ),
        }
    }
}

impl FromStr for SyntheticConfig {
    type Err = SyntheticConfigError;

    /// Comma-separated `key=value` pairs over the defaults. Keys: `seed`,
    /// `bars`, `interval` (`1s`, `1m`, `5m`, `15m`, `1h`, `4h`, `1d`, … or
    /// plain milliseconds), `start` (epoch ms or ISO date/datetime), `price`,
    /// `symbol`, `min_segment`, `max_segment`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut config = SyntheticConfig::default();
        let mut seen: Vec<String> = Vec::new();
        for item in s.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let err = |key: &str, message: String| SyntheticConfigError { key: key.to_string(), message };
            let Some((key, value)) = item.split_once('=') else {
                return Err(err(item, format!("expected key=value (keys: {KEYS})")));
            };
            let (key, value) = (key.trim(), value.trim());
            let canonical = match key.to_ascii_lowercase().as_str() {
                "start_price" => "price".to_string(),
                other => other.to_string(),
            };
            if seen.contains(&canonical) {
                return Err(err(key, "given twice".to_string()));
            }
            seen.push(canonical);
            let count = |what: &str| value.parse::<usize>().map_err(|_| err(key, format!("{value:?} is not {what}")));
            match key.to_ascii_lowercase().as_str() {
                "seed" => {
                    config.seed =
                        value.parse().map_err(|_| err(key, format!("{value:?} is not a non-negative integer")))?
                }
                "bars" => config.bars = count("a non-negative integer")?,
                "min_segment" => config.min_segment = count("a positive integer")?,
                "max_segment" => config.max_segment = count("a positive integer")?,
                "interval" => {
                    config.interval_ms = parse_interval(value).ok_or_else(|| {
                        err(
                            key,
                            format!("{value:?} is not an interval (use 1s, 1m, 5m, 15m, 1h, 4h, 1d or milliseconds)"),
                        )
                    })?
                }
                "start" => {
                    config.start_ms = match value.parse::<i64>() {
                        Ok(ms) => ms,
                        Err(_) => parse_timestamp(value).map(|(ms, _)| ms).ok_or_else(|| {
                            err(key, format!("{value:?} is not epoch milliseconds or an ISO date/time"))
                        })?,
                    }
                }
                "price" | "start_price" => {
                    config.start_price = value
                        .parse::<f64>()
                        .ok()
                        .filter(|p| p.is_finite() && *p > 0.0)
                        .ok_or_else(|| err(key, format!("{value:?} is not a positive price")))?
                }
                "symbol" => {
                    if value.is_empty() {
                        return Err(err(key, "must not be empty".to_string()));
                    }
                    config.symbol = value.to_string();
                }
                _ => return Err(err(key, format!("unknown key (expected one of {KEYS})"))),
            }
        }
        config.validate()?;
        Ok(config)
    }
}

/// Generated bars and the regime each was drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSeries {
    /// Valid bars, `interval_ms` apart, each opening at the previous close.
    pub bars: Vec<Bar>,
    /// `regimes[i]` is the planted regime of `bars[i]`.
    pub regimes: Vec<Regime>,
}

/// Generates the series described by `config`. The same config always gives
/// the same bars.
///
/// # Panics
/// If `config` fails [`SyntheticConfig::validate`] (parsed configs never do).
pub fn generate(config: &SyntheticConfig) -> SyntheticSeries {
    if let Err(e) = config.validate() {
        panic!("generate: {e}");
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let symbol: Symbol = config.symbol.as_str().into();
    let interval = config.interval_ms.max(1);
    let (min_segment, max_segment) = config.segment_bounds();
    // Volume per bar grows with the bar's duration.
    let base_volume = 1000.0 * (interval as f64 / 60_000.0);
    let calm_vol = Regime::Range.params().scaled(interval).vol;

    let mut bars = Vec::with_capacity(config.bars);
    let mut regimes = Vec::with_capacity(config.bars);
    // The price itself is carried bar to bar (not re-derived from a log
    // price), so every open is bit-identical to the previous close.
    let mut price = config.start_price;
    let start_log = price.ln();
    let mut log_price = start_log;
    let mut regime = [Regime::Bull, Regime::Range, Regime::Bear][rng.gen_range(0..3)];
    let mut left_in_segment = rng.gen_range(min_segment..=max_segment);
    let mut since_change = usize::MAX; // no volume surge before the first change
    let mut level = log_price;

    for i in 0..config.bars {
        if left_in_segment == 0 {
            regime = next_regime(&mut rng, regime, log_price - start_log);
            left_in_segment = rng.gen_range(min_segment..=max_segment);
            since_change = 0;
            level = log_price;
        }
        left_in_segment -= 1;
        let params = regime.params().scaled(interval);

        // Mostly normal log returns with occasional wider shocks: fat-ish tails.
        let shock: f64 = rng.sample(StandardNormal);
        let wide = rng.gen_bool(0.03);
        let noise = shock * if wide { 2.5 } else { 1.0 };
        let pull = params.reversion * (level - log_price);
        let log_return = params.drift + pull + params.vol * noise;

        let open = price;
        let close = open * log_return.exp();
        price = close;
        log_price = close.ln();
        // Wicks beyond the body, scaled to the regime's volatility.
        let up: f64 = rng.sample::<f64, _>(StandardNormal).abs() * params.vol * 0.6;
        let down: f64 = rng.sample::<f64, _>(StandardNormal).abs() * params.vol * 0.6;
        let high = open.max(close) * up.exp();
        let low = open.min(close) * (-down).exp();

        let surge = if since_change == usize::MAX { 1.0 } else { 1.0 + 2.0 * (-(since_change as f64) / 20.0).exp() };
        let activity = (params.vol / calm_vol) * (1.0 + (log_return.abs() / params.vol).min(6.0));
        let volume = base_volume * activity * surge * (0.6 * rng.sample::<f64, _>(StandardNormal)).exp();
        since_change = since_change.saturating_add(1);

        let open_time = config.start_ms + i as i64 * interval;
        bars.push(Bar {
            symbol: symbol.clone(),
            open_time,
            open,
            high,
            low,
            close,
            volume,
            bid: None,
            ask: None,
            close_time: Some(open_time + interval - 1),
        });
        regimes.push(regime);
    }
    SyntheticSeries { bars, regimes }
}

/// Picks a regime different from `current`. The choice leans bearish when
/// the price is far above where it started and bullish when far below, so
/// million-bar series wander without running off to zero or infinity.
fn next_regime(rng: &mut StdRng, current: Regime, log_distance: f64) -> Regime {
    let tilt = log_distance.clamp(-10.0, 10.0);
    let weight = |r: Regime| match r {
        _ if r == current => 0.0,
        Regime::Bull => (-tilt).exp(),
        Regime::Range => 1.0,
        Regime::Bear => tilt.exp(),
    };
    let all = [Regime::Bull, Regime::Range, Regime::Bear];
    let total: f64 = all.iter().map(|&r| weight(r)).sum();
    let mut pick = rng.gen::<f64>() * total;
    for r in all {
        pick -= weight(r);
        if pick < 0.0 && r != current {
            return r;
        }
    }
    // Rounding left `pick` at the very top: take the last eligible regime.
    *all.iter().rev().find(|&&r| r != current).expect("three regimes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_config_strings() {
        let config: SyntheticConfig = "seed=7,bars=5000,interval=5m,symbol=ABC".parse().unwrap();
        assert_eq!((config.seed, config.bars, config.interval_ms, config.symbol.as_str()), (7, 5000, 300_000, "ABC"));
        assert_eq!(config.start_price, 100.0);
        let config: SyntheticConfig = " interval=250 , start=2020-01-01, price=3.5 ".parse().unwrap();
        assert_eq!((config.interval_ms, config.start_ms, config.start_price), (250, 1_577_836_800_000, 3.5));
        assert_eq!("".parse::<SyntheticConfig>().unwrap(), SyntheticConfig::default());
        for (text, ms) in [("1s", 1000), ("1m", 60_000), ("15m", 900_000), ("4h", 14_400_000), ("1d", 86_400_000)] {
            assert_eq!(parse_interval(text), Some(ms));
        }
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = "bars=many".parse::<SyntheticConfig>().unwrap_err();
        assert_eq!(err.to_string(), "synthetic config: bars: \"many\" is not a non-negative integer");
        assert_eq!("interval=7x".parse::<SyntheticConfig>().unwrap_err().key, "interval");
        assert_eq!("interval=0".parse::<SyntheticConfig>().unwrap_err().key, "interval");
        assert_eq!("price=-1".parse::<SyntheticConfig>().unwrap_err().key, "price");
        assert_eq!("colour=red".parse::<SyntheticConfig>().unwrap_err().key, "colour");
        assert_eq!("seed".parse::<SyntheticConfig>().unwrap_err().key, "seed");
    }

    #[test]
    fn configs_that_cannot_be_generated_are_refused() {
        let key = |text: &str| text.parse::<SyntheticConfig>().unwrap_err().key;
        assert_eq!(key("bars=99999999999999"), "bars");
        assert_eq!(key("price=1e308"), "price");
        assert_eq!(key("min_segment=0"), "min_segment");
        assert_eq!(key("min_segment=50,max_segment=10"), "min_segment");
        assert_eq!(key("bars=3,bars=5"), "bars");
        assert_eq!(key("price=5,start_price=6"), "start_price");
        // Times that would overflow i64 or leave the years 0000-9999.
        assert_eq!(key("interval=9223372036854775807,bars=3"), "start");
        assert_eq!(key("start=9223372036854775000"), "start");
        assert_eq!(key("start=253402300000000,bars=1000,interval=1d"), "start");
        // The largest series still fits and stays in order.
        let config: SyntheticConfig = "start=9999-12-31,interval=1h,bars=24".parse().unwrap();
        let series = generate(&config);
        assert!(series.bars.windows(2).all(|w| w[0].open_time < w[1].open_time));
        assert_eq!(series.bars[23].close_time, Some(LATEST_MS));
    }

    #[test]
    fn short_series_get_short_segments() {
        let config = SyntheticConfig { bars: 100, ..SyntheticConfig::default() };
        assert_eq!(config.segment_bounds(), (12, 25));
        let series = generate(&config);
        assert_eq!(series.bars.len(), 100);
        assert!(series.regimes.windows(2).any(|w| w[0] != w[1]));
    }
}
