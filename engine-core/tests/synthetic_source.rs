//! The synthetic source: determinism, bar validity and the planted regimes.

use engine_core::market_data::Bar;
use engine_core::sources::{
    generate, HistoricalSource, MarketDataSource, Regime, SourceEvent, SyntheticConfig, SyntheticSeries,
};

fn config(seed: u64, bars: usize) -> SyntheticConfig {
    SyntheticConfig { seed, bars, ..SyntheticConfig::default() }
}

/// Maximal runs of one regime: (regime, first bar index, length).
fn segments(series: &SyntheticSeries) -> Vec<(Regime, usize, usize)> {
    let mut out: Vec<(Regime, usize, usize)> = Vec::new();
    for (i, &regime) in series.regimes.iter().enumerate() {
        match out.last_mut() {
            Some((r, _, len)) if *r == regime => *len += 1,
            _ => out.push((regime, i, 1)),
        }
    }
    out
}

fn log_returns(bars: &[Bar]) -> impl Iterator<Item = f64> + '_ {
    bars.iter().map(|b| (b.close / b.open).ln())
}

fn assert_well_formed(series: &SyntheticSeries, config: &SyntheticConfig) {
    assert_eq!(series.bars.len(), config.bars);
    assert_eq!(series.regimes.len(), config.bars);
    for (i, bar) in series.bars.iter().enumerate() {
        assert_eq!(bar.validate(), Ok(()), "bar {i}: {bar}");
        assert!(bar.low > 0.0 && bar.high.is_finite(), "bar {i}: {bar}");
        assert_eq!(bar.open_time, config.start_ms + i as i64 * config.interval_ms);
        assert_eq!(bar.close_time, Some(bar.open_time + config.interval_ms - 1));
        assert_eq!(&*bar.symbol, config.symbol);
        assert!(bar.volume > 0.0 && bar.volume.is_finite(), "bar {i}: {bar}");
    }
    for pair in series.bars.windows(2) {
        assert_eq!(pair[1].open, pair[0].close, "open = previous close");
    }
    if let Some(first) = series.bars.first() {
        assert_eq!(first.open, config.start_price);
    }
}

#[test]
fn same_config_same_bars_different_seed_different_bars() {
    let a = generate(&config(7, 10_000));
    let b = generate(&config(7, 10_000));
    assert!(a == b, "same config, different series");
    let c = generate(&config(8, 10_000));
    let differing = a.bars.iter().zip(&c.bars).filter(|(x, y)| x.close != y.close).count();
    assert!(differing > 9900, "seeds 7 and 8 share {} closes", 10_000 - differing);
    // Past 8000 bars the segment bounds no longer depend on the length, and
    // generation is sequential: a longer series extends the shorter one.
    let longer = generate(&config(7, 12_000));
    assert!(longer.bars[..10_000] == a.bars[..] && longer.regimes[..10_000] == a.regimes[..]);
}

#[test]
fn defaults_and_config_strings() {
    let config = SyntheticConfig::default();
    assert_eq!(
        (config.symbol.as_str(), config.seed, config.bars, config.interval_ms, config.start_ms, config.start_price),
        ("SYNTH", 42, 10_000, 60_000, 1_704_067_200_000, 100.0)
    );
    let series = generate(&config);
    assert_well_formed(&series, &config);

    let parsed: SyntheticConfig = "seed=7,bars=5000,interval=5m,symbol=ABC".parse().unwrap();
    let series = generate(&parsed);
    assert_well_formed(&series, &parsed);
    assert_eq!(series.bars[1].open_time - series.bars[0].open_time, 300_000);
    assert_eq!(&*series.bars[0].symbol, "ABC");
    let explicit = SyntheticConfig {
        seed: 7,
        bars: 5000,
        interval_ms: 300_000,
        symbol: "ABC".into(),
        ..SyntheticConfig::default()
    };
    assert!(series == generate(&explicit), "parsed and explicit configs differ");
}

#[test]
fn any_interval_and_length_gives_valid_bars() {
    for (interval, bars) in [(1000, 3000), (60_000, 1), (3_600_000, 2500), (86_400_000, 4000), (604_800_000, 700)] {
        let config =
            SyntheticConfig { interval_ms: interval, bars, seed: interval as u64, ..SyntheticConfig::default() };
        assert_well_formed(&generate(&config), &config);
    }
    assert!(generate(&config(1, 0)).bars.is_empty());
}

#[test]
fn planted_regimes_have_the_intended_drift_and_volatility() {
    let series = generate(&config(2024, 50_000));
    let segs = segments(&series);
    let mut by_regime: [(usize, usize); 3] = [(0, 0); 3]; // (segments, segments with the intended sign)
    let mut range_moves = Vec::new();
    let mut trend_moves = Vec::new();
    for &(regime, start, len) in &segs {
        assert!((1..=2000).contains(&len));
        let bars = &series.bars[start..start + len];
        let mean: f64 = log_returns(bars).sum::<f64>() / len as f64;
        let total = (bars[len - 1].close / bars[0].open).ln();
        let slot = match regime {
            Regime::Bull => 0,
            Regime::Range => 1,
            Regime::Bear => 2,
        };
        by_regime[slot].0 += 1;
        match regime {
            Regime::Bull => by_regime[0].1 += usize::from(mean > 0.0),
            Regime::Bear => by_regime[2].1 += usize::from(mean < 0.0),
            Regime::Range => range_moves.push(total.abs() / (len as f64).sqrt()),
        }
        if regime != Regime::Range {
            trend_moves.push(total.abs() / (len as f64).sqrt());
        }
    }
    let (bulls, bull_up) = by_regime[0];
    let (bears, bear_down) = by_regime[2];
    assert!(bulls >= 5 && by_regime[1].0 >= 5 && bears >= 5, "regime counts {by_regime:?}");
    assert!(bull_up * 10 >= bulls * 9, "only {bull_up} of {bulls} bull segments rose");
    assert!(bear_down * 10 >= bears * 9, "only {bear_down} of {bears} bear segments fell");
    // Range segments revert to their level: their net move is far smaller
    // than a trend's, even after allowing for their length.
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (range_median, trend_median) = (median(&mut range_moves), median(&mut trend_moves));
    assert!(range_median * 3.0 < trend_median, "range {range_median} vs trend {trend_median}");

    // Volatility: range < bull < bear.
    let vol = |regime: Regime| {
        let r: Vec<f64> = series
            .bars
            .iter()
            .zip(&series.regimes)
            .filter(|(_, &g)| g == regime)
            .map(|(b, _)| (b.close / b.open).ln())
            .collect();
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / r.len() as f64).sqrt()
    };
    let (bull, range, bear) = (vol(Regime::Bull), vol(Regime::Range), vol(Regime::Bear));
    assert!(range < bull && bull < bear, "vol bull {bull} range {range} bear {bear}");
}

#[test]
fn volume_is_higher_when_volatile_and_after_regime_changes() {
    let series = generate(&config(99, 50_000));
    let mean_volume = |regime: Regime| {
        let v: Vec<f64> =
            series.bars.iter().zip(&series.regimes).filter(|(_, &g)| g == regime).map(|(b, _)| b.volume).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(mean_volume(Regime::Bear) > mean_volume(Regime::Range));
    let (mut early, mut late) = ((0.0, 0usize), (0.0, 0usize));
    for &(_, start, len) in segments(&series).iter().skip(1) {
        for (k, bar) in series.bars[start..start + len].iter().enumerate() {
            let slot = if k < 10 {
                &mut early
            } else if k >= 100 {
                &mut late
            } else {
                continue;
            };
            slot.0 += bar.volume;
            slot.1 += 1;
        }
    }
    let (early, late) = (early.0 / early.1 as f64, late.0 / late.1 as f64);
    assert!(early > 1.5 * late, "volume just after a change {early} vs later {late}");
}

#[test]
fn a_million_bars_stay_positive_finite_and_valid() {
    let config = config(5, 1_000_000);
    let series = generate(&config);
    assert_eq!(series.bars.len(), 1_000_000);
    let (mut lowest, mut highest) = (f64::MAX, 0.0f64);
    for bar in &series.bars {
        assert!(bar.validate().is_ok() && bar.low > 0.0, "{bar}");
        lowest = lowest.min(bar.low);
        highest = highest.max(bar.high);
    }
    // The regime choice leans against long excursions, keeping prices sane.
    assert!(
        lowest > config.start_price / 20.0 && highest < config.start_price * 20.0,
        "price range {lowest}..{highest}"
    );
}

#[tokio::test]
async fn feeds_a_historical_source() {
    let config = config(3, 50);
    let series = generate(&config);
    let mut source = HistoricalSource::new(config.name(), series.bars.clone());
    assert_eq!(source.name(), "synthetic(seed=3)");
    let mut received = Vec::new();
    while let SourceEvent::Bar(bar) = source.next_event().await.unwrap() {
        received.push(bar);
    }
    assert_eq!(received, series.bars);
}
