//! Regime features over bars: trend, momentum and participation, built on
//! the native indicators (definitions in `docs/regime.md`).

use serde::{Deserialize, Serialize};

use crate::indicators::{Ema, Macd, Rsi, Sma, SpecError, StdDev};
use crate::market_data::Bar;

/// Number of features per bar.
pub const N_FEATURES: usize = 5;

/// Feature names, in column order.
pub const FEATURE_NAMES: [&str; N_FEATURES] =
    ["macd_hist_slope", "ema_spread_pct", "rsi_zone", "volume_ratio", "volatility_pct"];

/// Column of the EMA spread, by which states are mapped to regimes.
pub const EMA_SPREAD: usize = 1;

/// Indicator periods of the features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureConfig {
    pub ema_fast: usize,
    pub ema_slow: usize,
    pub macd_fast: usize,
    pub macd_slow: usize,
    pub macd_signal: usize,
    pub rsi: usize,
    pub volume_average: usize,
    /// Bars of returns in the volatility feature.
    pub volatility: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            ema_fast: 9,
            ema_slow: 21,
            macd_fast: 12,
            macd_slow: 26,
            macd_signal: 9,
            rsi: 14,
            volume_average: 20,
            volatility: 20,
        }
    }
}

impl FeatureConfig {
    /// Every period multiplied by `factor`: the same features over a
    /// longer horizon, for regimes that last longer than the defaults see
    /// (on 1-minute bars, factor 5 suits regimes of hours).
    pub fn scaled(self, factor: usize) -> FeatureConfig {
        FeatureConfig {
            ema_fast: self.ema_fast * factor,
            ema_slow: self.ema_slow * factor,
            macd_fast: self.macd_fast * factor,
            macd_slow: self.macd_slow * factor,
            macd_signal: self.macd_signal * factor,
            rsi: self.rsi * factor,
            volume_average: self.volume_average * factor,
            volatility: self.volatility * factor,
        }
    }
}

/// Why features cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    #[error("feature periods: {0}")]
    Period(#[from] SpecError),
    #[error("feature periods: ema_fast {fast} must be shorter than ema_slow {slow}")]
    EmaOrder { fast: usize, slow: usize },
    #[error("bar {index}: {field} is {value}, expected a finite number{expected}")]
    BadInput { index: usize, field: &'static str, value: f64, expected: &'static str },
}

/// One bar's features, in [`FEATURE_NAMES`] order.
pub type FeatureRow = [f64; N_FEATURES];

/// Streaming feature extractor: one [`FeatureRow`] per bar once every
/// indicator is warm.
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    config: FeatureConfig,
    ema_fast: Ema,
    ema_slow: Ema,
    macd: Macd,
    prev_hist: Option<f64>,
    rsi: Rsi,
    volume_average: Sma,
    volatility: StdDev,
    prev_close: Option<f64>,
    /// Bars fed so far (the index used in error messages).
    seen: usize,
}

impl FeatureExtractor {
    pub fn new(config: FeatureConfig) -> Result<Self, FeatureError> {
        if config.ema_fast >= config.ema_slow {
            return Err(FeatureError::EmaOrder { fast: config.ema_fast, slow: config.ema_slow });
        }
        Ok(FeatureExtractor {
            config,
            ema_fast: Ema::new(config.ema_fast)?,
            ema_slow: Ema::new(config.ema_slow)?,
            macd: Macd::new(config.macd_fast, config.macd_slow, config.macd_signal)?,
            prev_hist: None,
            rsi: Rsi::new(config.rsi)?,
            volume_average: Sma::new(config.volume_average)?,
            volatility: StdDev::new(config.volatility)?,
            prev_close: None,
            seen: 0,
        })
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// Bars needed before the first row: the MACD histogram's warm-up plus
    /// one bar for its slope, or a longer EMA, RSI or volume average.
    pub fn warmup(&self) -> usize {
        let c = &self.config;
        let macd_slow = c.macd_slow.max(c.macd_fast);
        (macd_slow + c.macd_signal - 1).max(c.ema_slow - 1).max(c.rsi).max(c.volume_average - 1).max(c.volatility)
    }

    /// Feeds one bar. A non-finite or non-positive close, or a non-finite or
    /// negative volume, is refused and leaves the extractor unchanged.
    pub fn update(&mut self, bar: &Bar) -> Result<Option<FeatureRow>, FeatureError> {
        self.next(bar.close, bar.volume)
    }

    /// As [`FeatureExtractor::update`], from a close and a volume.
    pub fn next(&mut self, close: f64, volume: f64) -> Result<Option<FeatureRow>, FeatureError> {
        let index = self.seen;
        if !(close.is_finite() && close > 0.0) {
            return Err(FeatureError::BadInput { index, field: "close", value: close, expected: " above 0" });
        }
        if !(volume.is_finite() && volume >= 0.0) {
            return Err(FeatureError::BadInput { index, field: "volume", value: volume, expected: " at least 0" });
        }
        self.seen += 1;
        let fast = self.ema_fast.next(close);
        let slow = self.ema_slow.next(close);
        let hist = self.macd.next(close).and_then(|m| m.hist);
        let rsi = self.rsi.next(close);
        let volume_average = self.volume_average.next(volume);
        let volatility = self.prev_close.and_then(|prev| self.volatility.next((close / prev).ln()));
        self.prev_close = Some(close);
        let slope = match (hist, self.prev_hist) {
            (Some(h), Some(prev)) => Some(h - prev),
            _ => None,
        };
        self.prev_hist = hist;
        let (Some(fast), Some(slow), Some(slope), Some(rsi), Some(volume_average), Some(volatility)) =
            (fast, slow, slope, rsi, volume_average, volatility)
        else {
            return Ok(None);
        };
        // Positive closes keep every EMA positive, so the divisions are safe.
        let row = [
            100.0 * slope / close,
            100.0 * (fast - slow) / slow,
            (rsi - 50.0) / 50.0,
            // No volume over the whole window: call the bar ordinary.
            if volume_average > 0.0 { volume / volume_average } else { 1.0 },
            100.0 * volatility,
        ];
        debug_assert!(row.iter().all(|v| v.is_finite()));
        Ok(Some(row))
    }
}

/// Features of a whole series: `rows[k]` belongs to `bars[first_bar + k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    pub first_bar: usize,
    pub rows: Vec<FeatureRow>,
}

impl FeatureMatrix {
    pub fn to_array(&self) -> ndarray::Array2<f64> {
        ndarray::Array2::from_shape_fn((self.rows.len(), N_FEATURES), |(t, k)| self.rows[t][k])
    }
}

/// Features of every bar of `bars` past the warm-up.
pub fn extract(bars: &[Bar], config: FeatureConfig) -> Result<FeatureMatrix, FeatureError> {
    let mut extractor = FeatureExtractor::new(config)?;
    let mut rows = Vec::with_capacity(bars.len().saturating_sub(extractor.warmup()));
    let mut first_bar = None;
    for (i, bar) in bars.iter().enumerate() {
        if let Some(row) = extractor.update(bar)? {
            first_bar.get_or_insert(i);
            rows.push(row);
        }
    }
    Ok(FeatureMatrix { first_bar: first_bar.unwrap_or(bars.len()), rows })
}

/// Z-score normalisation, fitted on training features and stored with the
/// model. A feature that never varies keeps a scale of 1 (it is centred,
/// not blown up), so constant input gives zeros, never NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

/// Standard deviations below this count as zero.
const MIN_STD: f64 = 1e-12;

impl Normalizer {
    /// Mean and (population) standard deviation of each column of `rows`.
    pub fn fit<R: AsRef<[f64]>>(rows: &[R]) -> Normalizer {
        let d = rows.first().map_or(0, |r| r.as_ref().len());
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; d];
        for row in rows {
            for (m, v) in mean.iter_mut().zip(row.as_ref()) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; d];
        for row in rows {
            for ((s, v), m) in var.iter_mut().zip(row.as_ref()).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let std = var.into_iter().map(|s| (s / n).sqrt()).map(|s| if s > MIN_STD { s } else { 1.0 }).collect();
        Normalizer { mean, std }
    }

    /// The identity (mean 0, std 1) over `d` features.
    pub fn identity(d: usize) -> Normalizer {
        Normalizer { mean: vec![0.0; d], std: vec![1.0; d] }
    }

    pub fn apply(&self, row: &[f64]) -> Vec<f64> {
        row.iter().zip(&self.mean).zip(&self.std).map(|((v, m), s)| (v - m) / s).collect()
    }

    /// Checks the shape and values after a restore.
    pub fn validate(&self, features: usize) -> Result<(), String> {
        if self.mean.len() != features || self.std.len() != features {
            return Err(format!(
                "normalizer has {} means and {} stds, expected {features} of each",
                self.mean.len(),
                self.std.len()
            ));
        }
        if let Some(m) = self.mean.iter().find(|m| !m.is_finite()) {
            return Err(format!("normalizer mean {m} is not finite"));
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!("normalizer std {s} is not a positive finite number"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::{ema, macd, rsi, sma, stddev};

    fn bars(closes: &[f64], volumes: &[f64]) -> Vec<Bar> {
        closes
            .iter()
            .zip(volumes)
            .enumerate()
            .map(|(i, (&c, &v))| Bar::new("T".into(), i as i64 * 60_000, c, c, c, c, v))
            .collect()
    }

    #[test]
    fn rows_follow_the_indicator_definitions() {
        let closes: Vec<f64> = (0..120).map(|i| 100.0 + (i as f64 * 0.3).sin() * 3.0 + i as f64 * 0.05).collect();
        let volumes: Vec<f64> = (0..120).map(|i| 50.0 + (i % 7) as f64 * 10.0).collect();
        let m = extract(&bars(&closes, &volumes), FeatureConfig::default()).unwrap();
        let (e9, e21, mac, r, va) =
            (ema(&closes, 9), ema(&closes, 21), macd(&closes, 12, 26, 9), rsi(&closes, 14), sma(&volumes, 20));
        let returns: Vec<f64> = closes.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
        let vol = stddev(&returns, 20);
        // MACD(12, 26, 9) histogram starts at bar 33; its slope at 34.
        assert_eq!(m.first_bar, 34);
        assert_eq!(m.first_bar, FeatureExtractor::new(FeatureConfig::default()).unwrap().warmup());
        assert_eq!(m.rows.len(), 120 - 34);
        for (k, row) in m.rows.iter().enumerate() {
            let i = m.first_bar + k;
            assert_eq!(row[0], 100.0 * (mac.hist[i] - mac.hist[i - 1]) / closes[i]);
            assert!(row.iter().all(|v| v.is_finite()));
            assert_eq!(row[1], 100.0 * (e9[i] - e21[i]) / e21[i]);
            assert_eq!(row[2], (r[i] - 50.0) / 50.0);
            assert_eq!(row[3], volumes[i] / va[i]);
            assert_eq!(row[4], 100.0 * vol[i - 1]);
        }
    }

    #[test]
    fn constant_prices_and_zero_volume_give_finite_features() {
        let m = extract(&bars(&[5.0; 200], &[0.0; 200]), FeatureConfig::default()).unwrap();
        assert!(!m.rows.is_empty());
        for row in &m.rows {
            assert_eq!(row, &[0.0, 0.0, 0.0, 1.0, 0.0]);
        }
        let raw: Vec<Vec<f64>> = m.rows.iter().map(|r| r.to_vec()).collect();
        let norm = Normalizer::fit(&raw);
        assert_eq!(norm.std, vec![1.0; N_FEATURES]);
        assert!(norm.apply(&raw[0]).iter().all(|v| *v == 0.0));
    }

    #[test]
    fn bad_input_is_refused_with_its_index_and_the_extractor_goes_on() {
        let mut x = FeatureExtractor::new(FeatureConfig::default()).unwrap();
        x.next(10.0, 1.0).unwrap();
        let err = x.next(f64::NAN, 1.0).unwrap_err();
        assert_eq!(err.to_string(), "bar 1: close is NaN, expected a finite number above 0");
        let err = x.next(10.0, -2.0).unwrap_err();
        assert_eq!(err.to_string(), "bar 1: volume is -2, expected a finite number at least 0");
        assert!(x.next(0.0, 1.0).is_err());
        x.next(10.0, 1.0).unwrap();
        assert_eq!(x.seen, 2);
    }

    #[test]
    fn periods_are_checked() {
        let err = FeatureExtractor::new(FeatureConfig { ema_fast: 21, ema_slow: 9, ..FeatureConfig::default() });
        assert!(matches!(err, Err(FeatureError::EmaOrder { .. })));
        assert!(FeatureExtractor::new(FeatureConfig { rsi: 0, ..FeatureConfig::default() }).is_err());
    }

    #[test]
    fn normalizer_centres_and_scales() {
        let rows = vec![vec![1.0, 10.0], vec![3.0, 10.0]];
        let n = Normalizer::fit(&rows);
        assert_eq!(n.mean, vec![2.0, 10.0]);
        assert_eq!(n.std, vec![1.0, 1.0]);
        assert_eq!(n.apply(&[3.0, 12.0]), vec![1.0, 2.0]);
        assert!(n.validate(2).is_ok());
        assert!(n.validate(3).is_err());
    }
}
