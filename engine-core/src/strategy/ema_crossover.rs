//! `lua-strategies/ema_crossover.lua` written in Rust, decision for
//! decision: the benchmarks run both to measure what Lua costs, and a test
//! checks that they decide the same on the same bars.

use super::action::{Commitment, Entry, Management, Setup, Side};
use super::ctx::{CtxKey, CtxValue};
use super::interface::{Strategy, StrategyError, StrategyInput, StrategyVersion};

/// Parameters, defaults as in the Lua file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmaCrossoverParams {
    pub fast: f64,
    pub slow: f64,
    pub atr: f64,
    pub stop_atr: f64,
    pub target_atr: f64,
}

impl Default for EmaCrossoverParams {
    fn default() -> Self {
        EmaCrossoverParams { fast: 9.0, slow: 21.0, atr: 14.0, stop_atr: 2.0, target_atr: 4.0 }
    }
}

/// EMA crossover: see `lua-strategies/ema_crossover.lua`.
pub struct EmaCrossover {
    p: EmaCrossoverParams,
    setup: Option<Side>,
}

impl EmaCrossover {
    pub fn new(p: EmaCrossoverParams) -> Self {
        EmaCrossover { p, setup: None }
    }

    fn spread(&self, input: &mut StrategyInput<'_>, back: usize) -> Result<Option<f64>, StrategyError> {
        let window = input.market.window;
        let mut ema = |period: f64| {
            input.indicators.value("ema", &[period], 0, back, window).map_err(|e| StrategyError::Script(e.to_string()))
        };
        Ok(match (ema(self.p.fast)?, ema(self.p.slow)?) {
            (Some(f), Some(s)) => Some(f - s),
            _ => None,
        })
    }

    fn atr(&self, input: &mut StrategyInput<'_>) -> Result<Option<f64>, StrategyError> {
        let window = input.market.window;
        input.indicators.value("atr", &[self.p.atr], 0, 0, window).map_err(|e| StrategyError::Script(e.to_string()))
    }
}

fn sign(side: Side) -> f64 {
    match side {
        Side::Long => 1.0,
        Side::Short => -1.0,
    }
}

impl Strategy for EmaCrossover {
    fn name(&self) -> &str {
        "ema_crossover (Rust)"
    }

    fn version(&self) -> &StrategyVersion {
        static VERSION: std::sync::LazyLock<StrategyVersion> =
            std::sync::LazyLock::new(|| StrategyVersion { hash: "rust".into(), generation: 1 });
        &VERSION
    }

    fn detect_opportunity(&mut self, mut input: StrategyInput<'_>) -> Result<Option<Setup>, StrategyError> {
        let (Some(now), Some(before)) = (self.spread(&mut input, 0)?, self.spread(&mut input, 1)?) else {
            return Ok(None);
        };
        let (side, reason) = if before <= 0.0 && now > 0.0 {
            (Side::Long, "ema cross up")
        } else if before >= 0.0 && now < 0.0 {
            (Side::Short, "ema cross down")
        } else {
            return Ok(None);
        };
        self.setup = Some(side);
        let data = CtxValue::Table(vec![
            (CtxKey::Str("reason".into()), CtxValue::Str(reason.into())),
            (CtxKey::Str("side".into()), CtxValue::Str(side.as_str().into())),
        ]);
        Ok(Some(Setup { data, reason: reason.into() }))
    }

    fn filter_commitment(&mut self, mut input: StrategyInput<'_>) -> Result<Option<Commitment>, StrategyError> {
        let side = self.setup.ok_or_else(|| StrategyError::Script("filter_commitment without a setup".into()))?;
        let (Some(now), Some(atr)) = (self.spread(&mut input, 0)?, self.atr(&mut input)?) else {
            return Ok(None);
        };
        if (side == Side::Long && now <= 0.0) || (side == Side::Short && now >= 0.0) {
            return Ok(Some(Commitment::Cancel { reason: "cross failed".into() }));
        }
        let close = input.market.bar.close;
        let s = sign(side);
        Ok(Some(Commitment::Enter(Entry {
            stop: Some(close - s * self.p.stop_atr * atr),
            target: Some(close + s * self.p.target_atr * atr),
            ..Entry::market(side, "cross held")
        })))
    }

    fn manage_position(&mut self, mut input: StrategyInput<'_>) -> Result<Option<Management>, StrategyError> {
        let (Some(now), Some(atr)) = (self.spread(&mut input, 0)?, self.atr(&mut input)?) else {
            return Ok(None);
        };
        let p = input.position;
        let (Some(side), Some(entry)) = (p.side, p.entry_price) else {
            return Ok(None);
        };
        let s = sign(side);
        if s * now < 0.0 {
            return Ok(Some(Management::Exit { fraction: 1.0, reason: "crossed back".into() }));
        }
        let gain = s * (input.market.bar.close - entry);
        if let Some(stop) = p.stop {
            if gain > atr && s * (stop - entry) < 0.0 {
                return Ok(Some(Management::Update { stop: Some(entry), target: None, reason: "break-even".into() }));
            }
        }
        Ok(None)
    }
}
