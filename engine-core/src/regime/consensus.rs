//! Multi-timeframe consensus: one [`RegimeDetector`] per bar interval of a
//! symbol (1m, 15m, 1h, ... resampled from the base bars), blended into one
//! state by weight.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::detector::{DetectorConfig, RegimeDetector, RegimeError, RegimeProbabilities, RegimeState, Training};
use crate::market_data::{base_interval, format_interval, parse_interval, Bar, BarResampler};

/// A bar interval and its weight in the consensus.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeframe {
    pub interval_ms: i64,
    pub weight: f64,
}

impl Timeframe {
    /// `"1m:0.5,15m:0.3,1h:0.2"`; a missing weight is 1.
    pub fn parse_list(text: &str) -> Result<Vec<Timeframe>, String> {
        text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect()
    }
}

impl FromStr for Timeframe {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (interval, weight) = text.split_once(':').unwrap_or((text, "1"));
        let interval_ms = parse_interval(interval.trim())
            .ok_or_else(|| format!("{interval:?} is not a bar interval (use 1m, 15m, 1h, 4h, 1d, ...)"))?;
        let weight: f64 =
            weight.trim().parse().map_err(|_| format!("weight {weight:?} of {interval} is not a number"))?;
        if !(weight.is_finite() && weight > 0.0) {
            return Err(format!("weight {weight} of {interval} must be a positive number"));
        }
        Ok(Timeframe { interval_ms, weight })
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", format_interval(self.interval_ms), self.weight)
    }
}

/// One timeframe's latest state within a consensus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeframeState {
    pub interval: String,
    pub weight: f64,
    /// `None` until that interval's detector has a state.
    pub state: Option<RegimeState>,
}

/// The blended state and the per-timeframe states it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsensusState {
    /// Regime, probabilities, confidence and bias of the weighted blend;
    /// `state_probabilities` is empty (states differ between timeframes),
    /// `observations` counts base bars.
    pub blended: RegimeState,
    pub timeframes: Vec<TimeframeState>,
}

#[derive(Debug, Clone)]
struct Frame {
    timeframe: Timeframe,
    resampler: BarResampler,
    detector: RegimeDetector,
}

/// Detectors on several intervals of the same symbol, fed with base bars.
#[derive(Debug, Clone)]
pub struct MultiTimeframeDetector {
    frames: Vec<Frame>,
    last_bar: Option<i64>,
    base_bars: u64,
    /// Length of the base bars, learnt in training.
    base_ms: i64,
}

impl MultiTimeframeDetector {
    /// One detector per timeframe, each with `config`. Intervals must be
    /// distinct and weights positive.
    pub fn new(timeframes: &[Timeframe], config: DetectorConfig) -> Result<Self, RegimeError> {
        if timeframes.is_empty() {
            return Err(RegimeError::Config("a consensus needs at least one timeframe".into()));
        }
        let mut frames: Vec<Frame> = Vec::with_capacity(timeframes.len());
        for tf in timeframes {
            if !(tf.weight.is_finite() && tf.weight > 0.0) {
                return Err(RegimeError::Config(format!("timeframe {tf}: the weight must be a positive number")));
            }
            if tf.interval_ms <= 0 {
                return Err(RegimeError::Config(format!("timeframe {tf}: the interval must be positive")));
            }
            if frames.iter().any(|f| f.timeframe.interval_ms == tf.interval_ms) {
                return Err(RegimeError::Config(format!(
                    "timeframe {} is listed twice",
                    format_interval(tf.interval_ms)
                )));
            }
            frames.push(Frame {
                timeframe: *tf,
                resampler: BarResampler::new(tf.interval_ms),
                detector: RegimeDetector::new(config.clone())?,
            });
        }
        Ok(MultiTimeframeDetector { frames, last_bar: None, base_bars: 0, base_ms: 0 })
    }

    pub fn timeframes(&self) -> impl Iterator<Item = Timeframe> + '_ {
        self.frames.iter().map(|f| f.timeframe)
    }

    /// The detector of each timeframe, in the order given.
    pub fn detectors(&self) -> impl Iterator<Item = &RegimeDetector> + '_ {
        self.frames.iter().map(|f| &f.detector)
    }

    /// Trains every timeframe on `bars` resampled to its interval (each
    /// needs `min_samples` feature rows at its own interval). Updates then
    /// continue from the end of `bars`.
    pub fn train(&mut self, bars: &[Bar]) -> Result<Vec<Training>, RegimeError> {
        let base = base_interval(bars).unwrap_or(0);
        let mut trained = Vec::with_capacity(self.frames.len());
        for frame in &self.frames {
            let mut resampler = BarResampler::new(frame.timeframe.interval_ms).with_base_interval(base);
            let mut resampled = Vec::new();
            for bar in bars {
                resampler.push(bar, |done| resampled.push(done));
            }
            let mut detector = frame.detector.clone();
            let fit = detector.train(&resampled).map_err(|e| frame_error(frame.timeframe, e))?;
            trained.push((resampler, detector, fit));
        }
        // Only once every timeframe trained: a failure leaves all unchanged.
        let mut fits = Vec::with_capacity(trained.len());
        for (frame, (resampler, detector, fit)) in self.frames.iter_mut().zip(trained) {
            frame.resampler = resampler;
            frame.detector = detector;
            fits.push(fit);
        }
        self.last_bar = bars.last().map(|b| b.open_time);
        self.base_bars = bars.len() as u64;
        self.base_ms = base;
        Ok(fits)
    }

    /// Forgets the bars taken in but keeps the models, e.g. to classify a
    /// series from its start.
    pub fn restart(&mut self) {
        for frame in &mut self.frames {
            frame.resampler = BarResampler::new(frame.timeframe.interval_ms).with_base_interval(self.base_ms);
            frame.detector.restart();
        }
        self.last_bar = None;
        self.base_bars = 0;
    }

    /// Takes in the base bars of `window` newer than the last one seen and
    /// returns the consensus, or `None` while no timeframe has a state. A
    /// timeframe that fails on a bar is reported (the first error) after
    /// every other timeframe has taken the bar in.
    pub fn update(&mut self, window: &[Bar]) -> Result<Option<ConsensusState>, RegimeError> {
        let mut first_error = None;
        for bar in window {
            if self.last_bar.is_some_and(|last| bar.open_time <= last) {
                continue;
            }
            self.last_bar = Some(bar.open_time);
            self.base_bars += 1;
            for frame in &mut self.frames {
                let (detector, timeframe) = (&mut frame.detector, frame.timeframe);
                frame.resampler.push(bar, |done| {
                    if let Err(e) = detector.push(&done) {
                        first_error.get_or_insert_with(|| frame_error(timeframe, e));
                    }
                });
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(self.consensus()),
        }
    }

    /// The weighted blend of the timeframes that have a state (weights
    /// renormalised over them).
    pub fn consensus(&self) -> Option<ConsensusState> {
        let mut probabilities = RegimeProbabilities::default();
        let mut total_weight = 0.0;
        for frame in &self.frames {
            if let Some(state) = frame.detector.state() {
                let w = frame.timeframe.weight;
                probabilities.bearish += w * state.probabilities.bearish;
                probabilities.ranging += w * state.probabilities.ranging;
                probabilities.bullish += w * state.probabilities.bullish;
                total_weight += w;
            }
        }
        if total_weight == 0.0 {
            return None;
        }
        probabilities.bearish /= total_weight;
        probabilities.ranging /= total_weight;
        probabilities.bullish /= total_weight;
        let blended =
            RegimeState::from_probabilities(probabilities, Vec::new(), self.last_bar.unwrap_or(0), self.base_bars);
        let timeframes = self
            .frames
            .iter()
            .map(|f| TimeframeState {
                interval: format_interval(f.timeframe.interval_ms),
                weight: f.timeframe.weight,
                state: f.detector.state().cloned(),
            })
            .collect();
        Some(ConsensusState { blended, timeframes })
    }
}

fn frame_error(tf: Timeframe, e: RegimeError) -> RegimeError {
    RegimeError::Timeframe { interval: format_interval(tf.interval_ms), source: Box::new(e) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframes_parse_with_weights() {
        let list = Timeframe::parse_list("1m:0.5, 15m:0.3,1h").unwrap();
        assert_eq!(
            list,
            vec![
                Timeframe { interval_ms: 60_000, weight: 0.5 },
                Timeframe { interval_ms: 900_000, weight: 0.3 },
                Timeframe { interval_ms: 3_600_000, weight: 1.0 },
            ]
        );
        assert_eq!(list[1].to_string(), "15m:0.3");
        assert!(Timeframe::parse_list("5x:1").unwrap_err().contains("\"5x\" is not a bar interval"));
        assert!(Timeframe::parse_list("5m:-1").unwrap_err().contains("positive"));
        assert!(Timeframe::parse_list("5m:abc").unwrap_err().contains("not a number"));
    }

    #[test]
    fn duplicate_or_missing_timeframes_are_refused() {
        let tf = |s: &str| s.parse::<Timeframe>().unwrap();
        let err = MultiTimeframeDetector::new(&[tf("1m"), tf("60s")], DetectorConfig::default()).unwrap_err();
        assert!(err.to_string().contains("timeframe 1m is listed twice"), "{err}");
        assert!(MultiTimeframeDetector::new(&[], DetectorConfig::default()).is_err());
    }
}
