//! The strategy API as a strategy sees it: `md`, `ind` (values, `ago`,
//! multi-output tables, warm-up, errors), `position` and `ind.regime()`,
//! checked against the native indicators and the data handed in.

use std::path::{Path, PathBuf};

use engine_core::indicators::IndicatorSpec;
use engine_core::market_data::{Bar, MarketDataWindow};
use engine_core::regime::{RegimeProbabilities, RegimeState};
use engine_core::sources::synthetic::{generate, SyntheticConfig};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{
    CtxValue, IndicatorSet, LuaStrategy, MarketView, PositionView, Side, Strategy, StrategyError, StrategyInput,
};

const WINDOW: usize = 300;

fn bars(n: usize) -> Vec<Bar> {
    generate(&SyntheticConfig { seed: 11, bars: n, ..SyntheticConfig::default() }).bars
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let source = format!(
        "{body}\nfunction filter_commitment(md, ctx, ind) return nil end\nfunction manage_position(md, ctx, ind) return nil end\n"
    );
    std::fs::write(&path, source).unwrap();
    path
}

/// Drives `detect_opportunity` bar by bar as the runner does (window and
/// indicators updated first), with `position` and `regime` as given.
struct Driver {
    strategy: LuaStrategy,
    window: MarketDataWindow,
    indicators: IndicatorSet,
    position: PositionView,
    regime: Option<RegimeState>,
}

impl Driver {
    fn new(path: &Path) -> Driver {
        let strategy = LuaStrategy::load(path, "SYNTH", CtxValue::empty_table(), SandboxLimits::default(), WINDOW)
            .unwrap_or_else(|e| panic!("{e}"));
        Driver {
            strategy,
            window: MarketDataWindow::new(WINDOW),
            indicators: IndicatorSet::default(),
            position: PositionView::default(),
            regime: None,
        }
    }

    fn step(&mut self, bar: &Bar) -> Result<(), StrategyError> {
        self.window.push(bar.clone());
        self.indicators.update(bar);
        let input = StrategyInput {
            market: MarketView { symbol: "SYNTH", bar, window: &self.window },
            indicators: &mut self.indicators,
            position: &self.position,
            regime: self.regime.as_ref(),
        };
        self.strategy.detect_opportunity(input).map(|_| ())
    }

    fn ctx(&self, key: &str) -> Option<CtxValue> {
        self.strategy.ctx().unwrap().get(key).cloned()
    }

    fn number(&self, key: &str) -> Option<f64> {
        match self.ctx(key)? {
            CtxValue::Num(v) => Some(v),
            CtxValue::Int(v) => Some(v as f64),
            other => panic!("ctx.{key} is {other:?}"),
        }
    }
}

/// Native values of output `output` of `name(params)` over `bars`, per bar.
fn native(name: &str, params: &[f64], output: usize, bars: &[Bar]) -> Vec<Option<f64>> {
    let mut indicator = IndicatorSpec::new(name, params).unwrap().build();
    bars.iter()
        .map(|bar| {
            indicator.update(bar);
            indicator.output(output)
        })
        .collect()
}

fn assert_close(got: Option<f64>, want: Option<f64>, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "{what}: {g} != {w}"),
        (g, w) => assert_eq!(g, w, "{what}"),
    }
}

#[test]
fn indicator_values_match_the_native_ones_bar_by_bar_and_bars_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "probe.lua",
        r#"
function detect_opportunity(md, ctx, ind)
  ctx.ema = ind.ema(20)
  ctx.ema_before = ind.ago(1).ema(20)
  ctx.ema_3_back = ind.ago(3).ema(20)
  local m = ind.macd(12, 26, 9)
  ctx.hist = m and m.hist
  ctx.signal = m and m.signal
  local b = ind.bollinger(20, 2)
  ctx.upper = b and b.upper
  ctx.lower = b and b.lower
  ctx.atr = ind.atr(14)
  ctx.same_table = ind.ago(2) == ind.ago(2.0)
  -- First asked for on bar 200: warmed up from the window.
  if (ctx.n or 0) >= 199 then ctx.late = ind.sma(50) end
  ctx.n = (ctx.n or 0) + 1
end
"#,
    );
    let bars = bars(260);
    let mut driver = Driver::new(&path);
    let ema = native("ema", &[20.0], 0, &bars);
    let hist = native("macd", &[12.0, 26.0, 9.0], 2, &bars);
    let signal = native("macd", &[12.0, 26.0, 9.0], 1, &bars);
    let upper = native("bollinger", &[20.0, 2.0], 0, &bars);
    let lower = native("bollinger", &[20.0, 2.0], 2, &bars);
    let atr = native("atr", &[14.0], 0, &bars);
    let sma = native("sma", &[50.0], 0, &bars);
    let mut seen_ready = 0;
    for (i, bar) in bars.iter().enumerate() {
        driver.step(bar).unwrap();
        assert_close(driver.number("ema"), ema[i], &format!("ema(20) at bar {i}"));
        assert_close(driver.number("ema_before"), i.checked_sub(1).and_then(|j| ema[j]), &format!("ago(1) at {i}"));
        assert_close(driver.number("ema_3_back"), i.checked_sub(3).and_then(|j| ema[j]), &format!("ago(3) at {i}"));
        // A multi-output indicator is nil until every output is ready.
        let macd_ready =
            hist[i].is_some() && signal[i].is_some() && native("macd", &[12.0, 26.0, 9.0], 0, &bars)[i].is_some();
        assert_close(driver.number("hist"), if macd_ready { hist[i] } else { None }, &format!("macd hist at {i}"));
        assert_close(
            driver.number("signal"),
            if macd_ready { signal[i] } else { None },
            &format!("macd signal at {i}"),
        );
        assert_close(driver.number("upper"), upper[i], &format!("bollinger upper at {i}"));
        assert_close(driver.number("lower"), lower[i], &format!("bollinger lower at {i}"));
        assert_close(driver.number("atr"), atr[i], &format!("atr at {i}"));
        if i >= 199 {
            assert_close(driver.number("late"), sma[i], &format!("sma(50) first asked for at 199, bar {i}"));
        }
        assert_eq!(driver.ctx("same_table"), Some(CtxValue::Bool(true)));
        seen_ready += usize::from(driver.number("hist").is_some());
    }
    assert!(seen_ready > 200, "macd was ready on {seen_ready} bars");
}

#[test]
fn md_carries_the_bar_and_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "md.lua",
        r#"
function detect_opportunity(md, ctx, ind)
  ctx.symbol, ctx.time, ctx.open, ctx.high = md.symbol, md.time, md.open, md.high
  ctx.low, ctx.close, ctx.volume = md.low, md.close, md.volume
  local h = md.history(3)
  ctx.n = h.n
  ctx.first_close, ctx.last_close, ctx.last_time = h.closes[1], h.closes[h.n], h.times[h.n]
  ctx.all = md.history().n
end
"#,
    );
    let bars = bars(10);
    let mut driver = Driver::new(&path);
    for (i, bar) in bars.iter().enumerate() {
        driver.step(bar).unwrap();
        assert_eq!(driver.ctx("symbol"), Some(CtxValue::Str("SYNTH".into())));
        assert_eq!(driver.number("time"), Some(bar.open_time as f64));
        assert_eq!(driver.number("open"), Some(bar.open));
        assert_eq!(driver.number("high"), Some(bar.high));
        assert_eq!(driver.number("low"), Some(bar.low));
        assert_eq!(driver.number("close"), Some(bar.close));
        assert_eq!(driver.number("volume"), Some(bar.volume));
        assert_eq!(driver.number("n"), Some((i + 1).min(3) as f64));
        assert_eq!(driver.number("first_close"), Some(bars[i.saturating_sub(2)].close));
        assert_eq!(driver.number("last_close"), Some(bar.close));
        assert_eq!(driver.number("last_time"), Some(bar.open_time as f64));
        assert_eq!(driver.number("all"), Some((i + 1) as f64));
    }
}

#[test]
fn position_and_regime_are_what_the_host_hands_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "pos.lua",
        r#"
function detect_opportunity(md, ctx, ind)
  ctx.side, ctx.quantity, ctx.entry, ctx.stop = position.side, position.quantity, position.entry_price, position.stop
  ctx.target, ctx.pnl, ctx.held = position.target, position.unrealized_pnl, position.bars_held
  local r = ind.regime()
  ctx.regime = r and r.regime or "none"
  ctx.bull = r and r.probabilities.bullish
  ctx.confidence = r and r.confidence
  ctx.bias = r and r.bias
end
"#,
    );
    let bars = bars(4);
    let mut driver = Driver::new(&path);
    driver.step(&bars[0]).unwrap();
    assert_eq!(driver.ctx("side"), None);
    assert_eq!(driver.number("quantity"), Some(0.0));
    assert_eq!(driver.ctx("regime"), Some(CtxValue::Str("none".into())));

    driver.position = PositionView {
        side: Some(Side::Short),
        quantity: 2.5,
        entry_price: Some(101.0),
        stop: Some(105.0),
        target: None,
        unrealized_pnl: -3.25,
        bars_held: 7,
    };
    driver.regime = Some(RegimeState::from_probabilities(
        RegimeProbabilities { bearish: 0.1, ranging: 0.2, bullish: 0.7 },
        vec![0.7, 0.2, 0.1],
        bars[1].open_time,
        42,
    ));
    driver.step(&bars[1]).unwrap();
    assert_eq!(driver.ctx("side"), Some(CtxValue::Str("short".into())));
    assert_eq!(driver.number("quantity"), Some(2.5));
    assert_eq!(driver.number("entry"), Some(101.0));
    assert_eq!(driver.number("stop"), Some(105.0));
    assert_eq!(driver.ctx("target"), None);
    assert_eq!(driver.number("pnl"), Some(-3.25));
    assert_eq!(driver.number("held"), Some(7.0));
    assert_eq!(driver.ctx("regime"), Some(CtxValue::Str("bullish".into())));
    assert_eq!(driver.number("bull"), Some(0.7));
    assert_eq!(driver.number("confidence"), Some(0.7));
    assert_close(driver.number("bias"), Some(0.6), "bias");

    // The other side (each is a string the host made once per load).
    driver.position = PositionView { side: Some(Side::Long), ..driver.position.clone() };
    driver.step(&bars[2]).unwrap();
    assert_eq!(driver.ctx("side"), Some(CtxValue::Str("long".into())));

    // Flat again: the table follows.
    driver.position = PositionView::default();
    driver.step(&bars[3]).unwrap();
    assert_eq!(driver.ctx("side"), None);
    assert_eq!(driver.ctx("entry"), None);
    assert_eq!(driver.number("quantity"), Some(0.0));
}

/// Each bad request is a script error naming the file and line and saying
/// what was wrong.
#[test]
fn bad_indicator_requests_name_the_file_line_and_problem() {
    let cases = [
        ("ind.nope(3)", "unknown indicator"),
        ("ind.ema('x')", "number"),
        ("ind.ema({})", "number"),
        ("ind.ema(1, 2, 3, 4, 5)", "at most 4 parameters, got 5"),
        ("ind.ema(0)", "ema"),
        ("ind.ema(-5)", "ema"),
        ("ind.ema(0/0)", "ema"),
        ("ind.ago(64).ema(5)", "between 0 and 63"),
        ("ind.ago(-1)", "between 0 and 63"),
        ("ind.ago('x')", "got string"),
        ("md.history(0)", "at least 1"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (call, expected) in cases {
        let path = write(
            dir.path(),
            "bad_request.lua",
            &format!("function detect_opportunity(md, ctx, ind)\n  local x = 1\n  return {call}\nend"),
        );
        let mut driver = Driver::new(&path);
        let bars = bars(2);
        driver.step(&bars[0]).unwrap_err();
        let err = driver.step(&bars[1]).unwrap_err().to_string();
        if !err.contains("bad_request.lua:3:") || !err.contains(expected) {
            failures.push(format!("{call}: expected bad_request.lua:3: and {expected:?} in {err:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
