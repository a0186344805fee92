//! `trading-engine validate --strategy FILE`: load a strategy, look for
//! sandbox violations in its text, run it on a short synthetic series and
//! report what it did. Exit 0 only when clean.

use std::path::PathBuf;

use anyhow::Context;
use engine_core::execution::broker::WRONG_SIDE;
use engine_core::regime::{DetectorConfig, RegimeDetector};
use engine_core::risk::RefusalCode;
use engine_core::runner::{Outcome, RunnerConfig, SymbolRunner};
use engine_core::sources::{generate, SyntheticConfig};
use engine_core::state_machine::StateEvent;
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, LuaStrategy};

use super::BadInput;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The strategy file.
    #[arg(long, value_name = "FILE.lua")]
    strategy: PathBuf,
    /// Strategy parameters: JSON (`{"fast": 9}`) or `key=value,...` (numbers, true/false, text).
    #[arg(long, value_name = "PARAMS")]
    params: Option<String>,
    /// The synthetic series to run on: `seed=42,bars=3000,interval=1m` (any subset).
    #[arg(long, value_name = "SPEC", default_value = "bars=3000")]
    synthetic: SyntheticConfig,
}

/// Text that reaches for something the sandbox does not have.
const FORBIDDEN: [(&str, &str); 12] = [
    ("os.", "the os library is not available"),
    ("io.", "the io library is not available"),
    ("debug.", "the debug library is not available"),
    ("package.", "package is not available"),
    ("require", "require is not available: a strategy is one file"),
    ("dofile", "dofile is not available"),
    ("loadfile", "loadfile is not available"),
    ("loadstring", "loadstring is not available"),
    ("load(", "load is not available: no code from strings"),
    ("string.dump", "string.dump is not available: no bytecode"),
    ("collectgarbage", "collectgarbage is not available"),
    ("rawset", "rawset is not available"),
];

pub fn run(args: ValidateArgs) -> anyhow::Result<u8> {
    let params = parse_params(args.params.as_deref())?;
    let source =
        std::fs::read_to_string(&args.strategy).with_context(|| format!("reading {}", args.strategy.display()))?;
    let file =
        args.strategy.file_name().map_or_else(|| args.strategy.display().to_string(), |f| f.to_string_lossy().into());
    let mut problems = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.split("--").next().unwrap_or("");
        for (needle, why) in FORBIDDEN {
            if contains_word(code, needle) {
                problems.push(format!("{file}:{}: {why}", n + 1));
            }
        }
    }
    let strategy =
        match LuaStrategy::load(&args.strategy, &args.synthetic.symbol, params, SandboxLimits::default(), 500) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e.to_string());
                return report(&file, &problems, None);
            }
        };
    let series = generate(&args.synthetic);
    // A regime detector trained on another series of the same kind, so
    // that `ind.regime()` answers.
    let training = generate(&SyntheticConfig {
        seed: args.synthetic.seed.wrapping_add(1),
        bars: 5_000,
        start_ms: args.synthetic.start_ms - 5_000 * args.synthetic.interval_ms,
        ..args.synthetic.clone()
    });
    let mut detector = RegimeDetector::new(DetectorConfig::default())?;
    detector.train(&training.bars).context("training the regime detector for validation")?;
    let mut runner = SymbolRunner::new(&args.synthetic.symbol, strategy, RunnerConfig::default()).with_regime(detector);
    for bar in &series.bars {
        runner.on_bar(bar).map_err(|e| anyhow::anyhow!("engine invariant broken while validating: {e}"))?;
    }
    for d in runner.decisions() {
        match &d.outcome {
            Outcome::BadAction { message } | Outcome::Failed { message } => {
                problems.push(format!("bar {}: {message}", d.time));
            }
            // An entry no account could ever take (a stop on the wrong
            // side of the price, say) is a bug in the strategy; the other
            // refusals depend on the account and the limits.
            Outcome::RiskRefused { code, message } if code == RefusalCode::InvalidIntent.as_str() => {
                problems.push(format!(
                    "bar {}: {file}: {} entry refused ({code}): {message}",
                    d.time,
                    d.callback.as_str()
                ));
            }
            // A stop or target moved to the wrong side of the price is
            // refused on any account: a bug in the strategy. Execution's
            // other refusals (funds, an order already working) depend on the
            // account and the timing, as risk's do.
            Outcome::Refused { reason } if reason.contains(WRONG_SIDE) => {
                problems.push(format!(
                    "bar {}: {file}: {} refused by execution: {reason}",
                    d.time,
                    d.callback.as_str()
                ));
            }
            _ => {}
        }
    }
    if runner.counts().calls == 0 {
        problems.push(format!(
            "the strategy was never called on {} bars: give a longer series (--synthetic bars=N)",
            series.bars.len()
        ));
    }
    report(&file, &problems, Some(&runner))
}

/// `needle` in `code`, not as part of a longer name (`myos.x` is fine).
fn contains_word(code: &str, needle: &str) -> bool {
    code.match_indices(needle).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
    })
}

fn parse_params(text: Option<&str>) -> anyhow::Result<CtxValue> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(CtxValue::empty_table());
    };
    if text.starts_with('{') {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| BadInput(format!("--params: not valid JSON: {e}")))?;
        if !json.is_object() {
            return Err(BadInput("--params: expected a JSON object".into()).into());
        }
        return CtxValue::from_json(&json, "params").map_err(|e| BadInput(format!("--params: {e}")).into());
    }
    let mut map = serde_json::Map::new();
    for pair in text.split(',') {
        let (key, value) =
            pair.split_once('=').ok_or_else(|| BadInput(format!("--params: {pair:?} is not key=value")))?;
        let value = value.trim();
        let parsed = match value {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            v => {
                if let Ok(i) = v.parse::<i64>() {
                    i.into()
                } else if let Ok(f) = v.parse::<f64>() {
                    f.into()
                } else {
                    serde_json::Value::String(v.to_string())
                }
            }
        };
        map.insert(key.trim().to_string(), parsed);
    }
    CtxValue::from_json(&serde_json::Value::Object(map), "params")
        .map_err(|e| BadInput(format!("--params: {e}")).into())
}

fn report(file: &str, problems: &[String], runner: Option<&SymbolRunner<LuaStrategy>>) -> anyhow::Result<u8> {
    println!("strategy: {file}");
    if let Some(runner) = runner {
        let history = runner.transitions();
        let count = |e: StateEvent| history.iter().filter(|t| t.event == e).count();
        let counts = runner.counts();
        println!("bars: {}, strategy calls: {}", counts.bars, counts.calls);
        println!(
            "transitions: {} setups, {} cancelled, {} expired, {} entries sent, {} filled, {} unfilled, {} partial exits, {} closed",
            count(StateEvent::SetupFound),
            count(StateEvent::SetupCancelled),
            count(StateEvent::SetupExpired),
            count(StateEvent::EntrySent),
            count(StateEvent::EntryFilled),
            count(StateEvent::EntryFailed),
            count(StateEvent::PartialExit),
            count(StateEvent::PositionClosed),
        );
        println!(
            "actions: {} malformed, {} refused by risk, {} refused by execution; script failures: {}; realised P&L {:.4}",
            counts.bad_actions,
            counts.risk_refusals,
            counts.refusals,
            counts.script_failures,
            runner.account().map_or(0.0, |a| a.realized_pnl())
        );
        for t in history.iter().take(5) {
            println!("  {} {} -> {}: {}", t.time, t.from, t.to, t.reason);
        }
        if history.len() > 5 {
            println!("  ... {} transitions in all", history.len());
        }
    }
    if problems.is_empty() {
        println!("clean");
        return Ok(0);
    }
    println!("problems ({}):", problems.len());
    const SHOWN: usize = 20;
    for p in problems.iter().take(SHOWN) {
        println!("  {p}");
    }
    if problems.len() > SHOWN {
        println!("  ... and {} more", problems.len() - SHOWN);
    }
    Ok(super::exit::BAD_INPUT)
}
