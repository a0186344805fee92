use std::path::{Path, PathBuf};

use super::*;
use crate::execution::ExecutionMode;

/// The repository's `config/`, as loading makes it: absolute and normalised.
fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config").canonicalize().unwrap()
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml", &config_dir(), Vec::new())
}

fn parse_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::parse(text, "test.toml", &config_dir(), vars)
}

const MINIMAL: &str = r#"
[[runners]]
symbol = "SYNTH"
strategy = "../lua-strategies/ema_crossover.lua"
source = { type = "synthetic" }
"#;

#[test]
fn the_shipped_configs_load() {
    for name in ["backtest.toml", "paper.toml", "multi_symbol.toml"] {
        let path = config_dir().join(name);
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!config.runners.is_empty(), "{name}");
        assert!(config.runners.iter().all(|r| r.strategy.is_file()), "{name}: paths resolved");
    }
}

#[test]
fn defaults_fill_what_is_left_out() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.engine.mode, EngineMode::Backtest);
    assert_eq!(c.execution, ExecutionConfig::default());
    assert_eq!(c.sandbox, SandboxLimits::default());
    assert_eq!(c.events.record, None);
    assert_eq!(
        c.runners[0].source,
        SourceSection::Synthetic { seed: 42, bars: None, interval: "1m".into(), start_price: None }
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path_and_line() {
    let text = format!("{MINIMAL}\n[execution]\nfees = {{ taker_bps = 4, makr_bps = 2 }}\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.starts_with("test.toml: execution.fees"), "{err}");
    assert!(err.contains("unknown field `makr_bps`"), "{err}");
    assert!(err.contains("line 8"), "{err}");

    let err = parse(&format!("{MINIMAL}\n[engine]\nmood = \"backtest\"\n")).unwrap_err().to_string();
    assert!(err.contains("engine") && err.contains("unknown field `mood`"), "{err}");
    let err = parse(&format!("{MINIMAL}\n[sandbox]\nwall_clock = 5\n")).unwrap_err().to_string();
    assert!(err.contains("unknown field `wall_clock`"), "{err}");
}

#[test]
fn wrong_types_name_the_key() {
    let text = MINIMAL.replace("{ type = \"synthetic\" }", "{ type = \"synthetic\", seed = \"seven\" }");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("runners[0].source") && err.contains("invalid type: string \"seven\""), "{err}");
    let err = parse(&format!("{MINIMAL}\n[execution]\ninitial_capital = \"lots\"\n")).unwrap_err().to_string();
    assert!(err.contains("execution.initial_capital") && err.contains("invalid type"), "{err}");
}

#[test]
fn syntax_errors_give_the_line() {
    let err = parse("[engine\nmode = 1").unwrap_err().to_string();
    assert!(err.starts_with("test.toml: line 1:"), "{err}");
}

#[test]
fn impossible_combinations_are_refused() {
    let live_on_history = format!("{MINIMAL}\n[engine]\nmode = \"live\"\n[execution]\nmode = \"live\"\n");
    let err = parse(&live_on_history).unwrap_err().to_string();
    assert!(err.contains("execution.mode = \"live\"") && err.contains("runners[0].source is historical"), "{err}");

    let live_backtest = format!("{MINIMAL}\n[execution]\nmode = \"live\"\n");
    assert!(parse(&live_backtest).unwrap_err().to_string().contains("cannot run a backtest"));

    let paper_source_in_backtest = MINIMAL.replace("type = \"synthetic\"", "type = \"live_synthetic\"");
    assert!(parse(&paper_source_in_backtest).unwrap_err().to_string().contains("a backtest needs historical data"));

    let missing = MINIMAL.replace("ema_crossover.lua", "nope.lua");
    let err = parse(&missing).unwrap_err().to_string();
    assert!(err.contains("runners[0].strategy") && err.contains("nope.lua does not exist"), "{err}");

    let twice = format!("{MINIMAL}{MINIMAL}");
    assert!(parse(&twice).unwrap_err().to_string().contains("SYNTH appears twice"));

    assert!(parse("[engine]\n").unwrap_err().to_string().contains("at least one [[runners]]"));
    let bad_interval = MINIMAL.replace("{ type = \"synthetic\" }", "{ type = \"synthetic\", interval = \"1x\" }");
    assert!(parse(&bad_interval).unwrap_err().to_string().contains("runners[0].source.interval"));
    let lazy = format!("{MINIMAL}runner = {{ cadence = {{ watch = 0 }} }}\n");
    assert!(parse(&lazy).unwrap_err().to_string().contains("runners[0].runner.cadence.watch must be at least 1"));
    let bad_time = format!("{MINIMAL}\n[engine]\nfrom = \"yesterday\"\n");
    assert!(parse(&bad_time).unwrap_err().to_string().contains("engine.from"));
    let backwards = format!("{MINIMAL}\n[engine]\nfrom = \"2024-01-10\"\nto = \"2024-01-05\"\n");
    let err = parse(&backwards).unwrap_err().to_string();
    assert!(err.contains("engine.from (2024-01-10) is after engine.to (2024-01-05)"), "{err}");
    let bad_cap = format!("{MINIMAL}\n[execution]\nmax_volume_fraction = 2\n");
    assert!(parse(&bad_cap).unwrap_err().to_string().contains("execution.max_volume_fraction must be in (0, 1]"));
    let wordy_cap = format!("{MINIMAL}\n[execution]\nmax_volume_fraction = \"off\"\n");
    let err = parse(&wordy_cap).unwrap_err().to_string();
    assert!(err.contains("execution.max_volume_fraction") && err.contains("or \"none\" for no cap"), "{err}");
}

#[test]
fn the_volume_cap_is_a_fraction_or_none() {
    assert_eq!(parse(MINIMAL).unwrap().execution.max_volume_fraction, Some(0.25));
    let none = parse(&format!("{MINIMAL}\n[execution]\nmax_volume_fraction = \"none\"\n")).unwrap();
    assert_eq!(none.execution.max_volume_fraction, None);
    let half = parse(&format!("{MINIMAL}\n[execution]\nmax_volume_fraction = 0.5\n")).unwrap();
    assert_eq!(half.execution.max_volume_fraction, Some(0.5));
    let whole = parse(&format!("{MINIMAL}\n[execution]\nmax_volume_fraction = 1\n")).unwrap();
    assert_eq!(whole.execution.max_volume_fraction, Some(1.0));
    // Written out (summary.json, a session's manifest) and read back alike.
    for config in [none.execution, half.execution] {
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(serde_json::from_value::<crate::execution::ExecutionConfig>(json).unwrap(), config);
    }
}

#[test]
fn environment_variables_override_any_setting() {
    let c = parse_with(
        MINIMAL,
        &[
            ("TRADING_ENGINE__EXECUTION__FEES__TAKER_BPS", "7.5"),
            ("TRADING_ENGINE__ENGINE__SPEED", "100"),
            ("TRADING_ENGINE__RUNNERS__0__SOURCE__SEED", "7"),
            ("TRADING_ENGINE__RUNNERS__0__PARAMS__FAST", "5"),
            ("TRADING_ENGINE__ENGINE__OUTPUT", "out dir"),
            ("UNRELATED", "1"),
        ],
    )
    .unwrap();
    assert_eq!(c.execution.fees.taker_bps, 7.5);
    assert_eq!(c.engine.speed, Some(100.0));
    assert!(matches!(c.runners[0].source, SourceSection::Synthetic { seed: 7, .. }));
    assert_eq!(c.runners[0].params.get("fast"), Some(&toml::Value::Integer(5)));
    assert_eq!(c.engine.output, Some(config_dir().join("out dir")));

    let err = parse_with(MINIMAL, &[("TRADING_ENGINE__EXECUTION__FEES__TAKR_BPS", "1")]).unwrap_err().to_string();
    assert!(
        err.contains("unknown field `takr_bps`") && err.contains("TRADING_ENGINE__EXECUTION__FEES__TAKR_BPS"),
        "{err}"
    );
    let err = parse_with(MINIMAL, &[("TRADING_ENGINE__RUNNERS__3__SYMBOL", "X")]).unwrap_err().to_string();
    assert!(err.contains("runners has 1 entries, there is no [3]"), "{err}");
}

#[test]
fn times_parse_in_three_forms() {
    assert_eq!(parse_time("2024-01-01"), Ok(1_704_067_200_000));
    assert_eq!(parse_time("2024-01-01T00:01:00Z"), Ok(1_704_067_260_000));
    assert_eq!(parse_time("1704067200000"), Ok(1_704_067_200_000));
    assert_eq!(parse_time("60000"), Ok(60_000), "milliseconds, however small");
    assert!(parse_time("soon").is_err());
}

#[test]
fn an_unknown_key_error_gives_the_line_of_that_key() {
    // QA unk11.toml: [sandbox] is checked after [events] (keys are visited
    // in name order), so its line was given for the [events] error.
    let text = "[[runners]]\nsymbol = \"SYNTH\"\nstrategy = \"../lua-strategies/ema_crossover.lua\"\n\
                source = { type = \"synthetic\", seed = 42, bars = 2000 }\n\
                [sandbox]\ninstrs = 5\n\n[events]\nrecrd = true\n";
    let err = parse(text).unwrap_err().to_string();
    assert!(err.starts_with("test.toml: events.recrd: unknown field `recrd`"), "{err}");
    assert!(err.ends_with("(line 9)"), "{err}");
    // Blank lines before [events] move the line with it.
    let spaced = text.replace("[events]", "\n\n\n[events]");
    assert!(parse(&spaced).unwrap_err().to_string().ends_with("(line 12)"));
}

#[test]
fn a_date_time_value_in_the_file_keeps_error_lines() {
    // QA: a TOML date-time anywhere in the file (here the unknown key's own
    // value) made the span-keeping re-read fail, so the error had no line.
    let text = format!("{MINIMAL}[engine]\nspeed = 5\nstart = 2024-01-05T12:00:00Z\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("engine.start: unknown field `start`") && err.ends_with("(line 8)"), "{err}");
    let text = format!("{MINIMAL}[events]\nwhen = {{ at = 1979-05-27 }}\n\n[engine]\nsped = 1\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.ends_with("(line 10)"), "{err}");
}

#[test]
fn errors_in_arrays_of_tables_give_the_line_of_their_entry() {
    let second = "\n[[runners]]\nsymbol = \"B\"\nstrategy = \"../lua-strategies/ema_crossover.lua\"\n\
                  source = { type = \"synthetic\" }\n";
    // An unknown key in a sub-table of the second runner.
    let text = format!("{MINIMAL}{second}[runners.runner]\nwindow = 10\nwindw = 5\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.starts_with("test.toml: runners[1].runner.windw: unknown field `windw`"), "{err}");
    assert!(err.ends_with("(line 13)"), "{err}");
    // A wrong type inside the second runner's inline source table.
    let text = format!("{MINIMAL}{second}").replace("{ type = \"synthetic\" }\n\n", "{ type = \"synthetic\" }\n\n\n");
    let text = text.replace("symbol = \"B\"", "symbol = 7");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.starts_with("test.toml: runners[1].symbol: invalid type: integer `7`"), "{err}");
    assert!(err.ends_with("(line 9)"), "{err}");
    // A missing key: the line where that entry starts.
    let text = format!("{MINIMAL}\n[[runners]]\nsymbol = \"C\"\nsource = {{ type = \"synthetic\" }}\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("runners[1]: missing field `strategy`") && err.ends_with("(line 8)"), "{err}");
}

#[test]
fn an_error_in_a_key_set_from_the_environment_names_the_variable_not_a_line() {
    let text = format!("{MINIMAL}[engine]\nspeed = 5\n");
    let err = parse_with(&text, &[("TRADING_ENGINE__ENGINE__SPEED", "\"fast\"")]).unwrap_err().to_string();
    assert!(err.contains("engine.speed: invalid type: string \"fast\""), "{err}");
    assert!(err.ends_with("(engine.speed set by TRADING_ENGINE__ENGINE__SPEED)"), "{err}");
    assert!(!err.contains("line"), "the file's line holds another value: {err}");
    // An override elsewhere leaves the line of a key from the file.
    let text = format!("{MINIMAL}[engine]\nsped = 5\n");
    let err = parse_with(&text, &[("TRADING_ENGINE__EXECUTION__FEES__TAKER_BPS", "3")]).unwrap_err().to_string();
    assert!(err.contains("engine.sped: unknown field `sped`") && err.ends_with("(line 7)"), "{err}");
}

/// `MINIMAL` with `[engine] mode` and `[execution] mode` set and the source
/// replaced by `source`.
fn with_modes(engine: &str, execution: &str, source: &str) -> String {
    let runner = MINIMAL.replace("{ type = \"synthetic\" }", source);
    format!("[engine]\nmode = \"{engine}\"\n[execution]\nmode = \"{execution}\"\n{runner}")
}

const SYNTHETIC: &str = "{ type = \"synthetic\" }";
const LIVE_SYNTHETIC: &str = "{ type = \"live_synthetic\" }";

#[test]
fn the_mode_table_accepts_its_combinations() {
    let backtest = parse(&with_modes("backtest", "simulated", SYNTHETIC)).unwrap();
    assert_eq!(backtest.engine.mode, EngineMode::Backtest);
    let paper = parse(&with_modes("paper", "simulated", LIVE_SYNTHETIC)).unwrap();
    assert_eq!(paper.engine.mode, EngineMode::Paper);
    let modes = |name: &str| {
        let c = Config::load(&config_dir().join(name)).unwrap_or_else(|e| panic!("{e}"));
        (c.engine.mode, c.execution.mode)
    };
    assert_eq!(modes("backtest.toml"), (EngineMode::Backtest, ExecutionMode::Simulated));
    assert_eq!(modes("multi_symbol.toml"), (EngineMode::Backtest, ExecutionMode::Simulated));
    assert_eq!(modes("paper.toml"), (EngineMode::Paper, ExecutionMode::Simulated));
}

#[test]
fn paper_and_live_engines_refuse_historical_sources() {
    // QA m6.toml: a "paper" session that was really a 20,000-bar backtest.
    let m6 = "[engine]\nmode = \"paper\"\n[[runners]]\nsymbol = \"SYNTH\"\n\
              strategy = \"../lua-strategies/ema_crossover.lua\"\nsource = { type = \"synthetic\" }\n";
    let err = parse(m6).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "test.toml: runners[0].source.type = \"synthetic\" is historical data, but engine.mode = \"paper\""
        ),
        "{err}"
    );
    assert!(err.contains("expected type = \"live_synthetic\""), "{err}");
    let file = with_modes("paper", "simulated", "{ type = \"file\", path = \"backtest.toml\" }");
    assert!(parse(&file).unwrap_err().to_string().contains("runners[0].source.type = \"file\" is historical"));
}

#[test]
fn live_execution_on_a_synthetic_market_is_refused() {
    // QA m7.toml: paper engine, live execution, simulated market.
    let err = parse(&with_modes("paper", "live", LIVE_SYNTHETIC)).unwrap_err().to_string();
    assert!(
        err.contains("execution.mode = \"live\" sends real orders, but engine.mode = \"paper\" simulates"),
        "{err}"
    );
    assert!(err.contains("expected execution.mode = \"simulated\""), "{err}");
    // QA l2.toml: live engine, live execution, simulated market.
    let err = parse(&with_modes("live", "live", LIVE_SYNTHETIC)).unwrap_err().to_string();
    assert!(
        err.contains("runners[0].source.type = \"live_synthetic\" is a simulated market with no exchange"),
        "{err}"
    );
    assert!(err.contains("expected a live exchange source"), "{err}");
    // QA l1.toml: a live engine whose orders would be simulated.
    let err = parse(&with_modes("live", "simulated", LIVE_SYNTHETIC)).unwrap_err().to_string();
    assert!(err.contains("engine.mode = \"live\" sends real orders, but execution.mode = \"simulated\""), "{err}");
    assert!(err.contains("expected execution.mode = \"live\""), "{err}");
}

#[test]
fn a_mode_set_from_the_environment_names_its_variable() {
    let err = parse_with(MINIMAL, &[("TRADING_ENGINE__ENGINE__MODE", "paper")]).unwrap_err().to_string();
    assert!(err.contains("engine.mode = \"paper\" (set by TRADING_ENGINE__ENGINE__MODE)"), "{err}");
    let live = MINIMAL.replace("type = \"synthetic\"", "type = \"live_synthetic\"");
    let err = parse_with(&live, &[("TRADING_ENGINE__EXECUTION__MODE", "live")]).unwrap_err().to_string();
    assert!(err.starts_with("test.toml: execution.mode = \"live\" cannot run a backtest"), "{err}");
    assert!(err.ends_with("(execution.mode set by TRADING_ENGINE__EXECUTION__MODE)"), "{err}");
}

#[test]
fn an_empty_kill_switch_file_is_refused_at_load() {
    // QA r2.toml: "" was joined to the config's directory, which exists,
    // so the switch was engaged for the whole run.
    let err = parse(&format!("{MINIMAL}\n[risk]\nkill_switch = {{ file = \"\" }}\n")).unwrap_err().to_string();
    assert!(err.starts_with("test.toml: risk.kill_switch.file must not be empty"), "{err}");
    let err = parse(&MINIMAL.replace("../lua-strategies/ema_crossover.lua", "")).unwrap_err().to_string();
    assert!(err.contains("runners[0].strategy: must be the path of a Lua file, got an empty string"), "{err}");
    let err = parse(&format!("{MINIMAL}\n[events]\ndir = \"\"\n")).unwrap_err().to_string();
    assert!(err.contains("events.dir: must be a directory path, got an empty string"), "{err}");
}

#[test]
fn every_path_is_resolved_to_an_absolute_normalised_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("configs")).unwrap();
    std::fs::create_dir_all(root.join("strategies")).unwrap();
    std::fs::write(root.join("strategies/s.lua"), "").unwrap();
    std::fs::write(root.join("bars.csv"), "").unwrap();
    let text = "[engine]\noutput = \"out\"\nstate_dir = \"./state/../state\"\n\
                [[runners]]\nsymbol = \"X\"\nstrategy = \"../strategies/s.lua\"\n\
                source = { type = \"file\", path = \"../configs/../bars.csv\" }\n\
                [risk]\nkill_switch = { file = \"../STOP\" }\n[events]\ndir = \"../sessions\"\n";
    std::fs::write(root.join("configs/run.toml"), text).unwrap();
    // Loaded through a path with `..` in it: still the same absolute paths.
    let c = Config::load(&root.join("strategies/../configs/run.toml")).unwrap();
    assert_eq!(c.runners[0].strategy, root.join("strategies/s.lua"));
    assert_eq!(
        c.runners[0].source,
        SourceSection::File { path: root.join("bars.csv"), format: None, skip_bad_rows: false }
    );
    assert_eq!(c.engine.output, Some(root.join("configs/out")));
    assert_eq!(c.engine.state_dir, Some(root.join("configs/state")));
    assert_eq!(c.risk.kill_switch.file, Some(root.join("STOP")));
    assert_eq!(c.events.dir, Some(root.join("sessions")));
}

#[test]
fn a_missing_file_is_reported_by_its_resolved_path() {
    let err = parse(&MINIMAL.replace("ema_crossover.lua", "./nope.lua")).unwrap_err().to_string();
    let expected = config_dir().parent().unwrap().join("lua-strategies/nope.lua");
    assert!(err.contains(&format!("runners[0].strategy: {} does not exist", expected.display())), "{err}");
}

#[test]
fn a_relative_base_is_taken_from_the_working_directory() {
    // Unit tests run in engine-core/: `x/..` is that directory.
    let c = Config::parse(MINIMAL, "t", Path::new("x/.."), Vec::new());
    let cwd = std::env::current_dir().unwrap();
    let expected = cwd.parent().unwrap().join("lua-strategies/ema_crossover.lua");
    assert_eq!(c.unwrap().runners[0].strategy, expected);
}

#[test]
fn speeds_must_be_finite() {
    let err = parse_with(MINIMAL, &[("TRADING_ENGINE__ENGINE__SPEED", "inf")]).unwrap_err().to_string();
    assert!(err.contains("engine.speed: must be a finite number above 0, got inf"), "{err}");
    // `backtest --speed inf` sets the field after loading, then validates.
    let mut config = parse(MINIMAL).unwrap();
    config.engine.speed = Some(f64::INFINITY);
    assert_eq!(config.validate().unwrap_err(), "engine.speed: must be a finite number above 0, got inf");
    let live = MINIMAL.replace("{ type = \"synthetic\" }", "{ type = \"live_synthetic\", speed = inf }");
    let err = parse(&format!("[engine]\nmode = \"paper\"\n{live}")).unwrap_err().to_string();
    assert!(err.contains("runners[0].source.speed: must be a finite number above 0, got inf"), "{err}");
}

#[test]
fn the_interval_error_describes_exactly_what_is_accepted() {
    let with_interval = |interval: &str| {
        MINIMAL.replace("{ type = \"synthetic\" }", &format!("{{ type = \"synthetic\", interval = \"{interval}\" }}"))
    };
    for accepted in ["250ms", "1s", "5m", "15m", "4h", "1d", "1w", "90000"] {
        parse(&with_interval(accepted)).unwrap_or_else(|e| panic!("{accepted}: {e}"));
    }
    for refused in ["1x", "0m", "m", "5 m", "-5m", "1.5h", ""] {
        let err = parse(&with_interval(refused)).unwrap_err().to_string();
        assert!(
            err.ends_with(&format!(
                "runners[0].source.interval: {refused:?} is not an interval: expected a whole number above 0 \
                 followed by ms, s, m, h, d or w (250ms, 1s, 5m, 4h, 1d, 1w) or by nothing for milliseconds (90000)"
            )),
            "{refused}: {err}"
        );
    }
}

#[test]
fn the_status_interval_must_be_positive() {
    for (bad, shown) in [("0", "0"), ("-1", "-1"), ("nan", "NaN")] {
        let err = parse(&format!("{MINIMAL}[engine]\nstatus_interval_s = {bad}\n")).unwrap_err().to_string();
        assert!(
            err.contains(&format!("engine.status_interval_s: must be a finite number of seconds above 0, got {shown}")),
            "{err}"
        );
    }
    let c = parse(&format!("{MINIMAL}[engine]\nstatus_interval_s = 0.5\n")).unwrap();
    assert_eq!(c.engine.status_interval_s, 0.5);
}
