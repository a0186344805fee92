//! Native indicators equal the OCaml sidecar's within the cross-check
//! tolerance, on the engine's synthetic data and on real market data.

mod common;

use engine_core::indicators::{catalog, IndicatorSpec};
use engine_core::market_data::Bar;
use engine_core::sidecar::verify::{CheckStatus, ColumnCheck};
use engine_core::sidecar::{self, Sidecar, SidecarConfig};
use engine_core::sources::{generate, load_file, BadRowPolicy, LoadOptions, SyntheticConfig};
use engine_core::tolerance::Tolerance;

/// Every indicator with its defaults, plus variants that move each
/// parameter away from its default (short, long, odd, real-valued).
fn specs() -> Vec<IndicatorSpec> {
    let mut specs: Vec<IndicatorSpec> = catalog().iter().map(|i| IndicatorSpec::new(i.name, &[]).unwrap()).collect();
    for text in [
        "sma:3",
        "sma:200",
        "ema:2",
        "ema:50",
        "wma:7",
        "rsi:2",
        "rsi:30",
        "macd:5,35,5",
        "macd:26,12,9",
        "bollinger:10,2.5",
        "atr:5",
        "vwap:3",
        "vwap_session:60,30",
        "vwap_session:1440,330",
        "stoch:5,1,3",
        "stoch:21,5,5",
        "adx:7",
        "cci:5",
        "willr:30",
        "roc:1",
        "stddev:2",
    ] {
        specs.push(text.parse().unwrap_or_else(|e| panic!("{text}: {e}")));
    }
    specs
}

async fn assert_parity(sidecar: &mut Sidecar, what: &str, bars: &[Bar]) {
    let mut failures = Vec::new();
    for spec in specs() {
        let native = spec.compute(bars);
        let ocaml =
            sidecar::compute(sidecar, &spec, bars).await.unwrap_or_else(|e| panic!("{what}: {}: {e}", spec.label()));
        for ((name, ours), theirs) in spec.columns().into_iter().zip(&native).zip(&ocaml) {
            let check = ColumnCheck::compare(&name, ours, theirs, Tolerance::CROSS_CHECK);
            // Every output has values once the data is longer than the
            // indicator's warm-up, except a volume-weighted indicator on a file without
            // any volume (backtrader's index data). Where nothing is defined,
            // both sides must agree on that, which the check reports as
            // nothing to compare rather than as a pass.
            let undefined_here = spec.info().name.starts_with("vwap") && bars.iter().all(|b| b.volume == 0.0);
            let may_be_empty = bars.len() <= spec.build().warmup() || undefined_here;
            let agrees = check.status == CheckStatus::Passed
                || (may_be_empty && check.compared == 0 && check.presence_mismatches == 0);
            if !agrees {
                failures.push(format!(
                    "{what}: {name}: {}: {} compared, {} mismatches, {} presence mismatches, max abs {:e}, max rel {:e} at bar {:?}",
                    check.status, check.compared, check.mismatches, check.presence_mismatches, check.max_abs_diff, check.max_rel_diff, check.worst_index
                ));
            }
        }
    }
    assert!(failures.is_empty(), "native and OCaml differ:\n{}", failures.join("\n"));
}

fn sidecar_config() -> SidecarConfig {
    let mut config = SidecarConfig::new(common::sidecar_path());
    config.request_timeout = std::time::Duration::from_secs(120);
    config
}

#[tokio::test]
async fn parity_on_synthetic_data() {
    let mut sidecar = Sidecar::start(sidecar_config()).await.unwrap();
    for text in ["seed=1,bars=20000,interval=1m", "seed=99,bars=3000,interval=1h", "seed=5,bars=400,interval=1d"] {
        let config: SyntheticConfig = text.parse().unwrap();
        let series = generate(&config);
        assert_parity(&mut sidecar, text, &series.bars).await;
    }
}

#[tokio::test]
async fn parity_on_real_market_data() {
    let data = common::shared_data();
    let mut sidecar = Sidecar::start(sidecar_config()).await.unwrap();
    for file in [
        "binance-vision-um/FILUSDT-1m-2023-08.csv",
        "binance-vision-um/NEARUSDT-1m-2023-10.csv",
        "nautilus_trader/ADABTC-1m-2021-11-27.csv",
        "nautilus_trader/btc-perp-20211231-20220201_1m.csv",
        "nautilus_trader/http_spot_market_klines.json",
        "freqtrade/UNITTEST_BTC-1m.json",
        "backtesting.py/GOOG.csv",
        "backtesting.py/EURUSD.csv",
        "backtrader/orcl-1995-2014.txt",
        "backtrader/2006-day-001.txt",
        "backtrader/2006-01-02-volume-min-001.txt",
    ] {
        let loaded = load_file(&data.join(file), &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_parity(&mut sidecar, file, &loaded.bars).await;
    }
    // ticksample.csv loads only with its duplicate timestamp skipped.
    let options = LoadOptions { bad_rows: BadRowPolicy::Skip, ..LoadOptions::default() };
    let ticks = load_file(&data.join("backtrader/ticksample.csv"), &options).unwrap();
    assert_parity(&mut sidecar, "ticksample.csv", &ticks.bars).await;
}
