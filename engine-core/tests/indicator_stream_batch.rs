//! Streaming (`next` and the `Indicator` trait through `IndicatorSpec`) and
//! batch functions must agree bit for bit on a long seeded random walk.

use engine_core::indicators::*;
use engine_core::market_data::Bar;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const LEN: usize = 5000;

/// A deterministic OHLCV random walk with some flat stretches and zero
/// volumes, so the special cases (no range, no volume) are exercised.
struct Series {
    time: Vec<i64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

fn series() -> Series {
    let mut rng = StdRng::seed_from_u64(0x1d1c_a70e);
    let mut s = Series { time: vec![], high: vec![], low: vec![], close: vec![], volume: vec![] };
    let mut price: f64 = 100.0;
    for i in 0..LEN {
        let flat = (1000..1040).contains(&i);
        if !flat {
            price = (price + rng.gen_range(-1.0..1.0)).max(1.0);
        }
        let (up, down): (f64, f64) = if flat { (0.0, 0.0) } else { (rng.gen_range(0.0..0.8), rng.gen_range(0.0..0.8)) };
        s.time.push(1_600_000_000_000 + i as i64 * 300_000);
        s.high.push(price + up);
        s.low.push(price - down);
        s.close.push(price);
        s.volume.push(if (2000..2030).contains(&i) { 0.0 } else { rng.gen_range(0.0..1000.0f64).round() });
    }
    s
}

fn bars(s: &Series) -> Vec<Bar> {
    (0..LEN)
        .map(|i| Bar::new("T".into(), s.time[i], s.close[i], s.high[i], s.low[i], s.close[i], s.volume[i]))
        .collect()
}

fn same(label: &str, stream: &[f64], batch: &[f64]) {
    assert_eq!(stream.len(), batch.len());
    for (i, (a, b)) in stream.iter().zip(batch).enumerate() {
        // NaN marks "no value" on both sides; compare NaN-ness, then bits.
        assert!(
            a.is_nan() == b.is_nan() && (a.is_nan() || a.to_bits() == b.to_bits()),
            "{label}[{i}]: stream {a} batch {b}"
        );
    }
}

fn nan(o: Option<f64>) -> f64 {
    o.unwrap_or(f64::NAN)
}

/// Runs `spec` through the `Indicator` trait and checks it against `batch`.
fn same_via_trait(spec: &str, bars: &[Bar], batch: &[&[f64]]) {
    let spec: IndicatorSpec = spec.parse().unwrap();
    let cols = spec.compute(bars);
    assert_eq!(cols.len(), batch.len());
    for (k, (col, b)) in cols.iter().zip(batch).enumerate() {
        let col: Vec<f64> = col.iter().map(|&v| nan(v)).collect();
        same(&format!("{} output {k}", spec.label()), &col, b);
    }
}

#[test]
fn single_input_indicators() {
    let s = series();
    let bars = bars(&s);
    for n in [1usize, 2, 5, 14, 20, 50] {
        let mut m = Sma::new(n).unwrap();
        let st: Vec<f64> = s.close.iter().map(|&x| nan(m.next(x))).collect();
        same("sma", &st, &sma(&s.close, n));
        let mut m = Ema::new(n).unwrap();
        let st: Vec<f64> = s.close.iter().map(|&x| nan(m.next(x))).collect();
        same("ema", &st, &ema(&s.close, n));
        let mut m = Wma::new(n).unwrap();
        let st: Vec<f64> = s.close.iter().map(|&x| nan(m.next(x))).collect();
        same("wma", &st, &wma(&s.close, n));
        let mut m = Roc::new(n).unwrap();
        let st: Vec<f64> = s.close.iter().map(|&x| nan(m.next(x))).collect();
        same("roc", &st, &roc(&s.close, n));
        let mut m = StdDev::new(n).unwrap();
        let st: Vec<f64> = s.close.iter().map(|&x| nan(m.next(x))).collect();
        same("stddev", &st, &stddev(&s.close, n));
        if n >= 2 {
            let mut m = Rsi::new(n).unwrap();
            let st: Vec<f64> = s.close.iter().map(|&x| nan(m.next(x))).collect();
            same("rsi", &st, &rsi(&s.close, n));
        }
    }
    same_via_trait("sma:20", &bars, &[&sma(&s.close, 20)]);
    same_via_trait("ema:20", &bars, &[&ema(&s.close, 20)]);
    same_via_trait("wma:20", &bars, &[&wma(&s.close, 20)]);
    same_via_trait("rsi:14", &bars, &[&rsi(&s.close, 14)]);
    same_via_trait("roc:10", &bars, &[&roc(&s.close, 10)]);
    same_via_trait("stddev:20", &bars, &[&stddev(&s.close, 20)]);
}

#[test]
fn macd_and_bollinger() {
    let s = series();
    let bars = bars(&s);
    let mut m = Macd::new(12, 26, 9).unwrap();
    let (mut l, mut sg, mut h) = (vec![], vec![], vec![]);
    for &x in &s.close {
        let v = m.next(x);
        l.push(nan(v.map(|v| v.line)));
        sg.push(nan(v.and_then(|v| v.signal)));
        h.push(nan(v.and_then(|v| v.hist)));
    }
    let b = macd(&s.close, 12, 26, 9);
    same("macd line", &l, &b.line);
    same("macd signal", &sg, &b.signal);
    same("macd hist", &h, &b.hist);
    same_via_trait("macd:12,26,9", &bars, &[&b.line, &b.signal, &b.hist]);

    let mut bb = Bollinger::new(20, 2.0).unwrap();
    let (mut u, mut mid, mut lo) = (vec![], vec![], vec![]);
    for &x in &s.close {
        let v = bb.next(x);
        u.push(nan(v.map(|v| v.upper)));
        mid.push(nan(v.map(|v| v.middle)));
        lo.push(nan(v.map(|v| v.lower)));
    }
    let b = bollinger(&s.close, 20, 2.0);
    same("bollinger upper", &u, &b.upper);
    same("bollinger middle", &mid, &b.middle);
    same("bollinger lower", &lo, &b.lower);
    let b = bollinger(&s.close, 20, 2.5);
    same_via_trait("bollinger:20,2.5", &bars, &[&b.upper, &b.middle, &b.lower]);
}

#[test]
fn hlc_indicators() {
    let s = series();
    let bars = bars(&s);
    let (h, l, c) = (&s.high, &s.low, &s.close);
    let mut a = Atr::new(14).unwrap();
    let st: Vec<f64> = (0..LEN).map(|i| nan(a.next(h[i], l[i], c[i]))).collect();
    same("atr", &st, &atr(h, l, c, 14));
    same_via_trait("atr:14", &bars, &[&atr(h, l, c, 14)]);

    let mut w = WillR::new(14).unwrap();
    let st: Vec<f64> = (0..LEN).map(|i| nan(w.next(h[i], l[i], c[i]))).collect();
    same("willr", &st, &willr(h, l, c, 14));
    same_via_trait("willr:14", &bars, &[&st]);

    let mut x = Cci::new(20).unwrap();
    let st: Vec<f64> = (0..LEN).map(|i| nan(x.next(h[i], l[i], c[i]))).collect();
    same("cci", &st, &cci(h, l, c, 20));
    same_via_trait("cci:20", &bars, &[&st]);

    let b = stoch(h, l, c, 14, 3, 3);
    same_via_trait("stoch:14,3,3", &bars, &[&b.k, &b.d]);
    let b = adx(h, l, c, 14);
    same_via_trait("adx:14", &bars, &[&b.adx, &b.plus_di, &b.minus_di]);
    // The flat stretch gives stochastic and %R exactly 0 while the window is flat.
    assert_eq!(willr(h, l, c, 14)[1030], 0.0);
    assert_eq!(stoch(h, l, c, 14, 1, 1).k[1030], 0.0);
}

#[test]
fn volume_indicators() {
    let s = series();
    let bars = bars(&s);
    let (h, l, c, v) = (&s.high, &s.low, &s.close, &s.volume);
    let ours = vwap(h, l, c, v, 20);
    same_via_trait("vwap:20", &bars, &[&ours]);
    // Window of only zero volumes (bars 2000..2030) → no value.
    assert!(ours[2025].is_nan());
    assert!(!ours[2035].is_nan());
    let sess = vwap_session(&s.time, h, l, c, v, 60, 15);
    same_via_trait("vwap_session:60,15", &bars, &[&sess]);
    same_via_trait("obv", &bars, &[&obv(c, v)]);
}

#[test]
fn reset_replays_identically() {
    let s = series();
    let bars = bars(&s);
    for info in catalog() {
        let spec = IndicatorSpec::new(info.name, &[]).unwrap();
        let mut ind = spec.build();
        let run = |ind: &mut Box<dyn Indicator>| -> Vec<u64> {
            let mut out = vec![];
            for bar in &bars[..300] {
                ind.update(bar);
                for k in 0..info.outputs.len() {
                    out.push(nan(ind.output(k)).to_bits());
                }
            }
            out
        };
        let first = run(&mut ind);
        ind.reset();
        assert!(!ind.is_ready(), "{}", info.name);
        assert_eq!(run(&mut ind), first, "{} after reset", info.name);
    }
}
