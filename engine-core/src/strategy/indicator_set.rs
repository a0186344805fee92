//! The indicators a strategy asked for, by name and parameters: created on
//! first use, warmed up from the market window, then updated once per bar,
//! with the last values kept so a strategy can look a few bars back.

use crate::indicators::{Indicator, IndicatorSpec, SpecError};
use crate::market_data::{Bar, MarketDataWindow};

/// Values kept per output by default (`ind.ago(n)` reaches `n < 64`).
pub const DEFAULT_HISTORY: usize = 64;

/// Up to this many parameters per indicator (the catalogue's most is 3).
const MAX_PARAMS: usize = 4;

/// An indicator's identity: name and the bits of its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    name: &'static str,
    params: [u64; MAX_PARAMS],
    len: usize,
}

struct Tracked {
    indicator: Box<dyn Indicator>,
    /// `history[o]` holds output `o`'s last values, newest at `(head - 1)`.
    history: Vec<Vec<f64>>,
    /// Values written so far (the ring index is `written % capacity`).
    written: usize,
}

impl Tracked {
    fn record(&mut self) {
        let slot = self.written % self.history[0].len();
        for (o, ring) in self.history.iter_mut().enumerate() {
            ring[slot] = self.indicator.output(o).unwrap_or(f64::NAN);
        }
        self.written += 1;
    }

    fn value(&self, output: usize, back: usize) -> Option<f64> {
        let capacity = self.history[0].len();
        if back >= self.written.min(capacity) {
            return None;
        }
        let v = self.history[output][(self.written - 1 - back) % capacity];
        (!v.is_nan()).then_some(v)
    }

    /// Every output's current value, into `values`.
    fn current_into(&self, values: &mut Vec<Option<f64>>) {
        match self.written.checked_sub(1) {
            Some(newest) => {
                let slot = newest % self.history[0].len();
                values.extend(self.history.iter().map(|ring| Some(ring[slot]).filter(|v| !v.is_nan())));
            }
            None => values.extend(self.history.iter().map(|_| None)),
        }
    }
}

/// One symbol's indicators.
pub struct IndicatorSet {
    tracked: Vec<Tracked>,
    /// Keys in `tracked` order. A strategy uses a handful of indicators, so
    /// a linear scan beats hashing the key on every request.
    keys: Vec<Key>,
    history: usize,
    /// One name per output of every tracked indicator (`ema(20)`,
    /// `macd(12,26,9).hist`), rebuilt when one is added: the event log
    /// shares it with every step.
    names: std::sync::Arc<[String]>,
}

/// Why an indicator value cannot be given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndicatorRequestError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("{name}: at most {MAX_PARAMS} parameters")]
    TooManyParams { name: String },
    #[error("{back} bars back is beyond the {kept} values kept per indicator")]
    TooFarBack { back: usize, kept: usize },
    #[error("{name} has no output {output:?}")]
    NoSuchOutput { name: String, output: String },
}

impl Default for IndicatorSet {
    fn default() -> Self {
        IndicatorSet::new(DEFAULT_HISTORY)
    }
}

impl IndicatorSet {
    /// A set keeping `history` (≥ 1) values per output.
    pub fn new(history: usize) -> Self {
        IndicatorSet { tracked: Vec::new(), keys: Vec::new(), history: history.max(1), names: Vec::new().into() }
    }

    /// Number of indicators created so far.
    pub fn len(&self) -> usize {
        self.tracked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracked.is_empty()
    }

    /// The names of every output, in [`IndicatorSet::current_values_into`] order.
    pub fn names(&self) -> &std::sync::Arc<[String]> {
        &self.names
    }

    /// Appends the current value of every output (`None` while warming
    /// up) to `values`, in [`IndicatorSet::names`] order.
    pub fn current_values_into(&self, values: &mut Vec<Option<f64>>) {
        values.reserve(self.names.len());
        for t in &self.tracked {
            t.current_into(values);
        }
    }

    /// Feeds the newest bar to every indicator created so far (call once
    /// per bar, after pushing it into the window).
    pub fn update(&mut self, bar: &Bar) {
        for t in &mut self.tracked {
            t.indicator.update(bar);
            t.record();
        }
    }

    /// Output `output` of indicator `name(params)`, `back` bars ago (0 = the
    /// current bar); `None` while it warms up. Created on first use and fed
    /// the whole `window` (which must end with the current bar).
    pub fn value(
        &mut self,
        name: &str,
        params: &[f64],
        output: usize,
        back: usize,
        window: &MarketDataWindow,
    ) -> Result<Option<f64>, IndicatorRequestError> {
        if back >= self.history {
            return Err(IndicatorRequestError::TooFarBack { back, kept: self.history });
        }
        let slot = self.slot(name, params, window)?;
        let tracked = &self.tracked[slot];
        if output >= tracked.history.len() {
            return Err(IndicatorRequestError::NoSuchOutput { name: name.to_string(), output: format!("#{output}") });
        }
        Ok(tracked.value(output, back))
    }

    /// The output names of `name(params)` (creating it if needed).
    pub fn outputs(
        &mut self,
        name: &str,
        params: &[f64],
        window: &MarketDataWindow,
    ) -> Result<&'static [&'static str], IndicatorRequestError> {
        let slot = self.slot(name, params, window)?;
        Ok(self.tracked[slot].indicator.output_names())
    }

    fn slot(&mut self, name: &str, params: &[f64], window: &MarketDataWindow) -> Result<usize, IndicatorRequestError> {
        if params.len() > MAX_PARAMS {
            return Err(IndicatorRequestError::TooManyParams { name: name.to_string() });
        }
        let mut bits = [0u64; MAX_PARAMS];
        for (b, p) in bits.iter_mut().zip(params) {
            *b = p.to_bits();
        }
        // Asked for by its catalogue name (as the Lua API does) and already
        // tracked: no catalogue search.
        let len = params.len();
        // Names usually are the catalogue's own `&'static str`: compare the
        // pointers before the bytes.
        let same_name =
            |k: &Key| std::ptr::eq(k.name.as_ptr(), name.as_ptr()) && k.name.len() == name.len() || k.name == name;
        if let Some(slot) = self.keys.iter().position(|k| k.params == bits && k.len == len && same_name(k)) {
            return Ok(slot);
        }
        let Some(info) = crate::indicators::find(name) else {
            // The spec's own error lists the known names.
            return Err(IndicatorSpec::new(name, params).expect_err("an unknown name is refused").into());
        };
        let key = Key { name: info.name, params: bits, len };
        if let Some(slot) = self.keys.iter().position(|k| *k == key) {
            return Ok(slot);
        }
        let spec = IndicatorSpec::new(info.name, params)?;
        let indicator = spec.build();
        let outputs = indicator.output_names().len();
        let mut tracked = Tracked { indicator, history: vec![vec![f64::NAN; self.history]; outputs], written: 0 };
        for bar in window.iter() {
            tracked.indicator.update(bar);
            tracked.record();
        }
        let mut names = self.names.to_vec();
        let shown: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        let base = format!("{}({})", info.name, shown.join(","));
        match tracked.indicator.output_names() {
            [_] => names.push(base),
            outputs => names.extend(outputs.iter().map(|o| format!("{base}.{o}"))),
        }
        self.names = names.into();
        self.tracked.push(tracked);
        self.keys.push(key);
        Ok(self.tracked.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::ema;

    fn bar(i: i64, close: f64) -> Bar {
        Bar::new("T".into(), i * 60_000, close, close, close, close, 1.0)
    }

    #[test]
    fn current_values_are_each_outputs_value_now() {
        // A short history, so that the rings wrap; MACD has three outputs,
        // Bollinger's start as nothing (NaN) before their first value.
        let mut set = IndicatorSet::new(4);
        let mut window = MarketDataWindow::new(500);
        let mut values = vec![Some(-1.0)];
        for i in 0..60 {
            let b = bar(i, 100.0 + (i as f64 * 0.3).sin() * 5.0);
            window.push(b.clone());
            set.update(&b);
            if i == 0 {
                set.value("macd", &[12.0, 26.0, 9.0], 0, 0, &window).unwrap();
                set.value("ema", &[5.0], 0, 0, &window).unwrap();
                set.value("bollinger", &[20.0, 2.0], 0, 0, &window).unwrap();
            }
            values.truncate(1);
            set.current_values_into(&mut values);
            let mut expected = vec![Some(-1.0)];
            for (name, params, outputs) in
                [("macd", &[12.0, 26.0, 9.0][..], 3), ("ema", &[5.0], 1), ("bollinger", &[20.0, 2.0], 3)]
            {
                for o in 0..outputs {
                    expected.push(set.value(name, params, o, 0, &window).unwrap());
                }
            }
            assert_eq!(values, expected, "bar {i}");
            assert_eq!(values.len(), 1 + set.names().len());
        }
        assert!(values.iter().all(Option::is_some), "all warmed up by the end");
    }

    #[test]
    fn created_late_equals_created_early() {
        let closes: Vec<f64> = (0..200).map(|i| 100.0 + (i as f64 * 0.1).sin()).collect();
        let expected = ema(&closes, 20);
        let mut window = MarketDataWindow::new(500);
        let (mut early, mut late) = (IndicatorSet::default(), IndicatorSet::default());
        for (i, &c) in closes.iter().enumerate() {
            let b = bar(i as i64, c);
            window.push(b.clone());
            early.update(&b);
            late.update(&b);
            let now = early.value("ema", &[20.0], 0, 0, &window).unwrap();
            assert_eq!(now, (i >= 19).then_some(expected[i]));
            if i >= 150 {
                // Created at bar 150 from the window: the same values, and
                // the values before it are there too.
                assert_eq!(late.value("ema", &[20.0], 0, 0, &window).unwrap(), now);
                assert_eq!(late.value("ema", &[20.0], 0, 3, &window).unwrap(), Some(expected[i - 3]));
            }
        }
        assert_eq!(early.len(), 1);
    }

    #[test]
    fn multi_output_and_errors() {
        let mut window = MarketDataWindow::new(100);
        let mut set = IndicatorSet::new(8);
        for i in 0..60 {
            let b = bar(i, 100.0 + i as f64);
            window.push(b.clone());
            set.update(&b);
        }
        assert_eq!(set.outputs("macd", &[12.0, 26.0, 9.0], &window).unwrap(), &["line", "signal", "hist"]);
        assert!(set.value("macd", &[12.0, 26.0, 9.0], 2, 0, &window).unwrap().is_some());
        assert!(matches!(set.value("ema", &[20.0], 0, 8, &window), Err(IndicatorRequestError::TooFarBack { .. })));
        assert!(set.value("nope", &[], 0, 0, &window).unwrap_err().to_string().contains("nope"));
        assert!(set.value("ema", &[0.0], 0, 0, &window).is_err());
        assert!(set.value("ema", &[20.0], 1, 0, &window).is_err());
    }
}
