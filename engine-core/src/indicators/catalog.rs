//! The indicator catalog (names, parameters, inputs, outputs) and
//! [`IndicatorSpec`], an indicator name with validated parameters that can
//! build the streaming indicator.

use std::fmt;
use std::str::FromStr;

use super::{
    Adx, Atr, Bollinger, Cci, Ema, Indicator, Macd, Obv, Roc, Rsi, SessionVwap, Sma, StdDev, Stoch, Vwap, WillR, Wma,
};
use crate::market_data::Bar;

/// A bar field an indicator reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    Time,
    Open,
    High,
    Low,
    Close,
    Volume,
}

impl Input {
    /// Lower-case name: `"time"`, `"open"`, …
    pub fn name(&self) -> &'static str {
        match self {
            Input::Time => "time",
            Input::Open => "open",
            Input::High => "high",
            Input::Low => "low",
            Input::Close => "close",
            Input::Volume => "volume",
        }
    }
}

/// One parameter of an indicator.
///
/// Integer parameters must be whole numbers `>= min`; real parameters must
/// be finite and strictly `> min` (Bollinger's `k > 0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamInfo {
    pub name: &'static str,
    pub default: f64,
    pub integer: bool,
    pub min: f64,
}

/// Description of one indicator of the catalog.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndicatorInfo {
    pub name: &'static str,
    pub params: &'static [ParamInfo],
    pub inputs: &'static [Input],
    pub outputs: &'static [&'static str],
    pub description: &'static str,
}

const fn int(name: &'static str, default: f64, min: f64) -> ParamInfo {
    ParamInfo { name, default, integer: true, min }
}

const fn period(default: f64) -> ParamInfo {
    int("period", default, 1.0)
}

use Input::{Close, High, Low, Time, Volume};

const CLOSE: &[Input] = &[Close];
const HLC: &[Input] = &[High, Low, Close];

static CATALOG: [IndicatorInfo; 16] = [
    IndicatorInfo {
        name: "sma",
        params: &[period(20.0)],
        inputs: CLOSE,
        outputs: &["sma"],
        description: "Simple moving average",
    },
    IndicatorInfo {
        name: "ema",
        params: &[period(20.0)],
        inputs: CLOSE,
        outputs: &["ema"],
        description: "Exponential moving average, SMA-seeded",
    },
    IndicatorInfo {
        name: "wma",
        params: &[period(20.0)],
        inputs: CLOSE,
        outputs: &["wma"],
        description: "Linearly weighted moving average",
    },
    IndicatorInfo {
        name: "rsi",
        params: &[int("period", 14.0, 2.0)],
        inputs: CLOSE,
        outputs: &["rsi"],
        description: "Relative strength index (Wilder)",
    },
    IndicatorInfo {
        name: "macd",
        params: &[int("fast", 12.0, 1.0), int("slow", 26.0, 1.0), int("signal", 9.0, 1.0)],
        inputs: CLOSE,
        outputs: &["line", "signal", "hist"],
        description: "Moving average convergence/divergence",
    },
    IndicatorInfo {
        name: "bollinger",
        params: &[period(20.0), ParamInfo { name: "k", default: 2.0, integer: false, min: 0.0 }],
        inputs: CLOSE,
        outputs: &["upper", "middle", "lower"],
        description: "Bollinger Bands (population standard deviation)",
    },
    IndicatorInfo {
        name: "atr",
        params: &[period(14.0)],
        inputs: HLC,
        outputs: &["atr"],
        description: "Average true range (Wilder)",
    },
    IndicatorInfo {
        name: "vwap",
        params: &[period(20.0)],
        inputs: &[High, Low, Close, Volume],
        outputs: &["vwap"],
        description: "Rolling volume-weighted average price",
    },
    IndicatorInfo {
        name: "vwap_session",
        params: &[int("session_minutes", 1440.0, 1.0), int("offset_minutes", 0.0, 0.0)],
        inputs: &[Time, High, Low, Close, Volume],
        outputs: &["vwap"],
        description: "Session-anchored volume-weighted average price",
    },
    IndicatorInfo {
        name: "stoch",
        params: &[int("k_period", 14.0, 1.0), int("k_smooth", 3.0, 1.0), int("d_period", 3.0, 1.0)],
        inputs: HLC,
        outputs: &["k", "d"],
        description: "Slow stochastic oscillator",
    },
    IndicatorInfo {
        name: "adx",
        params: &[int("period", 14.0, 2.0)],
        inputs: HLC,
        outputs: &["adx", "plus_di", "minus_di"],
        description: "Average directional index (Wilder)",
    },
    IndicatorInfo {
        name: "obv",
        params: &[],
        inputs: &[Close, Volume],
        outputs: &["obv"],
        description: "On-balance volume",
    },
    IndicatorInfo {
        name: "cci",
        params: &[int("period", 20.0, 2.0)],
        inputs: HLC,
        outputs: &["cci"],
        description: "Commodity channel index",
    },
    IndicatorInfo {
        name: "willr",
        params: &[period(14.0)],
        inputs: HLC,
        outputs: &["willr"],
        description: "Williams %R",
    },
    IndicatorInfo {
        name: "roc",
        params: &[period(10.0)],
        inputs: CLOSE,
        outputs: &["roc"],
        description: "Rate of change, percent",
    },
    IndicatorInfo {
        name: "stddev",
        params: &[period(20.0)],
        inputs: CLOSE,
        outputs: &["stddev"],
        description: "Population standard deviation",
    },
];

/// The indicators of `docs/indicators.md`, in that document's order.
pub fn catalog() -> &'static [IndicatorInfo] {
    &CATALOG
}

/// The catalog entry named `name` (case-insensitive).
pub fn find(name: &str) -> Option<&'static IndicatorInfo> {
    CATALOG.iter().find(|info| info.name.eq_ignore_ascii_case(name))
}

/// Why an indicator specification or parameter was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("unknown indicator `{name}` (known: {known})")]
    UnknownIndicator { name: String, known: String },
    #[error("{indicator} takes {}, got {got}", at_most(*.max))]
    TooManyParams { indicator: &'static str, max: usize, got: usize },
    #[error("{indicator}: parameter `{param}` is not a number: `{text}`")]
    NotANumber { indicator: &'static str, param: &'static str, text: String },
    #[error("{indicator}: parameter `{param}` must be a whole number >= {min}, got {got}")]
    NotWholeNumber { indicator: &'static str, param: &'static str, min: f64, got: f64 },
    #[error("{indicator}: parameter `{param}` must be at most {max}, got {got}")]
    TooLarge { indicator: &'static str, param: &'static str, max: f64, got: f64 },
    #[error("{indicator}: parameter `{param}` must be > {min}, got {got}")]
    NotAboveMin { indicator: &'static str, param: &'static str, min: f64, got: f64 },
}

fn at_most(max: usize) -> String {
    match max {
        0 => "no parameters".to_string(),
        1 => "at most 1 parameter".to_string(),
        n => format!("at most {n} parameters"),
    }
}

/// Checks an integer parameter given to a constructor.
pub(crate) fn check_int(
    indicator: &'static str,
    param: &'static str,
    value: usize,
    min: usize,
) -> Result<(), SpecError> {
    if value < min {
        return Err(SpecError::NotWholeNumber { indicator, param, min: min as f64, got: value as f64 });
    }
    Ok(())
}

/// Checks a real parameter that must be finite and > 0.
pub(crate) fn check_positive(indicator: &'static str, param: &'static str, value: f64) -> Result<(), SpecError> {
    if !(value.is_finite() && value > 0.0) {
        return Err(SpecError::NotAboveMin { indicator, param, min: 0.0, got: value });
    }
    Ok(())
}

/// Largest integer parameter accepted: a billion bars (1,900 years of
/// minutes) is beyond any real window, and the bound keeps every product of
/// parameters (session minutes × 60,000 ms) far from overflow.
pub const MAX_INTEGER_PARAM: f64 = 1e9;

fn check_param(indicator: &'static str, p: &ParamInfo, value: f64) -> Result<f64, SpecError> {
    if p.integer && value.is_finite() && value > MAX_INTEGER_PARAM {
        return Err(SpecError::TooLarge { indicator, param: p.name, max: MAX_INTEGER_PARAM, got: value });
    }
    let ok = if p.integer {
        value.is_finite() && value.fract() == 0.0 && value >= p.min
    } else {
        value.is_finite() && value > p.min
    };
    if ok {
        // Normalise -0 to 0 so labels never print "-0".
        Ok(value + 0.0)
    } else if p.integer {
        Err(SpecError::NotWholeNumber { indicator, param: p.name, min: p.min, got: value })
    } else {
        Err(SpecError::NotAboveMin { indicator, param: p.name, min: p.min, got: value })
    }
}

/// An indicator name with its full, validated parameter list.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorSpec {
    info: &'static IndicatorInfo,
    params: Vec<f64>,
}

impl IndicatorSpec {
    /// Looks `name` up (case-insensitive) and validates `params`; missing
    /// trailing parameters take their defaults.
    pub fn new(name: &str, params: &[f64]) -> Result<Self, SpecError> {
        let info = find(name).ok_or_else(|| unknown(name))?;
        if params.len() > info.params.len() {
            return Err(SpecError::TooManyParams { indicator: info.name, max: info.params.len(), got: params.len() });
        }
        let params = info
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| check_param(info.name, p, params.get(i).copied().unwrap_or(p.default)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IndicatorSpec { info, params })
    }

    /// The catalog entry.
    pub fn info(&self) -> &'static IndicatorInfo {
        self.info
    }

    /// All parameters, defaults filled in.
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// `name(p1,p2,…)`, or just `name` without parameters; parameters in
    /// Rust's shortest round-trip form (`bollinger(20,2.5)`).
    pub fn label(&self) -> String {
        if self.params.is_empty() {
            return self.info.name.to_string();
        }
        let params: Vec<String> = self.params.iter().map(|p| p.to_string()).collect();
        format!("{}({})", self.info.name, params.join(","))
    }

    /// Column names: the label for one output, `label.output` for several.
    pub fn columns(&self) -> Vec<String> {
        let label = self.label();
        match self.info.outputs {
            [_] => vec![label],
            outputs => outputs.iter().map(|o| format!("{label}.{o}")).collect(),
        }
    }

    /// Builds the streaming indicator.
    pub fn build(&self) -> Box<dyn Indicator> {
        // Parameters were validated as whole numbers within range in `new`,
        // so the casts are exact and the constructors cannot fail.
        let p = |i: usize| self.params[i] as usize;
        let built: Result<Box<dyn Indicator>, SpecError> = match self.info.name {
            "sma" => Sma::new(p(0)).map(|x| Box::new(x) as _),
            "ema" => Ema::new(p(0)).map(|x| Box::new(x) as _),
            "wma" => Wma::new(p(0)).map(|x| Box::new(x) as _),
            "rsi" => Rsi::new(p(0)).map(|x| Box::new(x) as _),
            "macd" => Macd::new(p(0), p(1), p(2)).map(|x| Box::new(x) as _),
            "bollinger" => Bollinger::new(p(0), self.params[1]).map(|x| Box::new(x) as _),
            "atr" => Atr::new(p(0)).map(|x| Box::new(x) as _),
            "vwap" => Vwap::new(p(0)).map(|x| Box::new(x) as _),
            "vwap_session" => SessionVwap::new(self.params[0] as u64, self.params[1] as u64).map(|x| Box::new(x) as _),
            "stoch" => Stoch::new(p(0), p(1), p(2)).map(|x| Box::new(x) as _),
            "adx" => Adx::new(p(0)).map(|x| Box::new(x) as _),
            "obv" => Ok(Box::new(Obv::new())),
            "cci" => Cci::new(p(0)).map(|x| Box::new(x) as _),
            "willr" => WillR::new(p(0)).map(|x| Box::new(x) as _),
            "roc" => Roc::new(p(0)).map(|x| Box::new(x) as _),
            "stddev" => StdDev::new(p(0)).map(|x| Box::new(x) as _),
            other => unreachable!("catalog entry `{other}` has no constructor"),
        };
        built.unwrap_or_else(|e| unreachable!("validated spec refused: {e}"))
    }

    /// Runs the indicator over `bars`: one vector per output, one entry per bar.
    pub fn compute(&self, bars: &[Bar]) -> Vec<Vec<Option<f64>>> {
        let mut ind = self.build();
        let outputs = self.info.outputs.len();
        let mut out = vec![Vec::with_capacity(bars.len()); outputs];
        for bar in bars {
            ind.update(bar);
            for (k, column) in out.iter_mut().enumerate() {
                column.push(ind.output(k));
            }
        }
        out
    }
}

fn unknown(name: &str) -> SpecError {
    let known: Vec<&str> = CATALOG.iter().map(|i| i.name).collect();
    SpecError::UnknownIndicator { name: name.to_string(), known: known.join(", ") }
}

impl fmt::Display for IndicatorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl FromStr for IndicatorSpec {
    type Err = SpecError;

    /// Parses `name`, `name:p1` or `name:p1,p2,…` (`"macd:12,26,9"`).
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let (name, rest) = match s.split_once(':') {
            Some((name, rest)) => (name.trim(), Some(rest)),
            None => (s.trim(), None),
        };
        let info = find(name).ok_or_else(|| unknown(name))?;
        let texts: Vec<&str> = rest.map(|r| r.split(',').map(str::trim).collect()).unwrap_or_default();
        if texts.len() > info.params.len() {
            return Err(SpecError::TooManyParams { indicator: info.name, max: info.params.len(), got: texts.len() });
        }
        let params = texts
            .iter()
            .zip(info.params)
            .map(|(text, p)| {
                text.parse::<f64>().map_err(|_| SpecError::NotANumber {
                    indicator: info.name,
                    param: p.name,
                    text: text.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        IndicatorSpec::new(info.name, &params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        s.parse::<IndicatorSpec>().unwrap_err().to_string()
    }

    #[test]
    fn catalog_follows_the_document() {
        let names: Vec<_> = catalog().iter().map(|i| i.name).collect();
        assert_eq!(
            names,
            [
                "sma",
                "ema",
                "wma",
                "rsi",
                "macd",
                "bollinger",
                "atr",
                "vwap",
                "vwap_session",
                "stoch",
                "adx",
                "obv",
                "cci",
                "willr",
                "roc",
                "stddev"
            ]
        );
        assert_eq!(find("MACD").unwrap().outputs, &["line", "signal", "hist"]);
        assert_eq!(find("vwap_session").unwrap().inputs[0].name(), "time");
        assert!(find("nosuch").is_none());
    }

    #[test]
    fn parses_labels_and_columns() {
        let s: IndicatorSpec = "ema:20".parse().unwrap();
        assert_eq!(s.label(), "ema(20)");
        assert_eq!(s.columns(), ["ema(20)"]);
        let s: IndicatorSpec = "macd:12,26,9".parse().unwrap();
        assert_eq!(s.columns(), ["macd(12,26,9).line", "macd(12,26,9).signal", "macd(12,26,9).hist"]);
        assert_eq!("obv".parse::<IndicatorSpec>().unwrap().label(), "obv");
        assert_eq!("ema".parse::<IndicatorSpec>().unwrap().params(), &[20.0]);
        assert_eq!("bollinger:20,2.5".parse::<IndicatorSpec>().unwrap().label(), "bollinger(20,2.5)");
        assert_eq!("BOLLINGER:20".parse::<IndicatorSpec>().unwrap().label(), "bollinger(20,2)");
        assert_eq!("macd: 5 ,10".parse::<IndicatorSpec>().unwrap().params(), &[5.0, 10.0, 9.0]);
        assert_eq!(IndicatorSpec::new("stoch", &[5.0]).unwrap().label(), "stoch(5,3,3)");
        assert_eq!(IndicatorSpec::new("vwap_session", &[]).unwrap().label(), "vwap_session(1440,0)");
    }

    #[test]
    fn clear_errors() {
        assert!(err("nosuch").starts_with("unknown indicator `nosuch` (known: sma, ema, wma, rsi, macd,"));
        assert_eq!(err("ema:0"), "ema: parameter `period` must be a whole number >= 1, got 0");
        assert_eq!(err("ema:2.5"), "ema: parameter `period` must be a whole number >= 1, got 2.5");
        assert_eq!(err("ema:abc"), "ema: parameter `period` is not a number: `abc`");
        assert_eq!(err("ema:"), "ema: parameter `period` is not a number: ``");
        assert_eq!(err("ema:20,3"), "ema takes at most 1 parameter, got 2");
        assert_eq!(err("macd:1,2,3,4"), "macd takes at most 3 parameters, got 4");
        assert_eq!(err("obv:3"), "obv takes no parameters, got 1");
        assert_eq!(err("bollinger:20,-1"), "bollinger: parameter `k` must be > 0, got -1");
        assert_eq!(err("bollinger:20,inf"), "bollinger: parameter `k` must be > 0, got inf");
        assert_eq!(err("rsi:1"), "rsi: parameter `period` must be a whole number >= 2, got 1");
        assert_eq!(
            err("vwap_session:60,-5"),
            "vwap_session: parameter `offset_minutes` must be a whole number >= 0, got -5"
        );
        assert_eq!(err("ema:NaN"), "ema: parameter `period` must be a whole number >= 1, got NaN");
    }

    #[test]
    fn builds_every_indicator_with_matching_outputs() {
        for info in catalog() {
            let spec = IndicatorSpec::new(info.name, &[]).unwrap();
            let ind = spec.build();
            assert_eq!(ind.output_names(), info.outputs, "{}", info.name);
            assert!(!ind.is_ready());
        }
    }

    #[test]
    fn compute_first_values_at_warmup() {
        let bars: Vec<Bar> = (0..120)
            .map(|i| {
                let x = 100.0 + (i as f64 * 0.37).sin() * 5.0 + i as f64 * 0.1;
                Bar::new("T".into(), i * 60_000, x, x + 1.0, x - 1.5, x + 0.25, 1000.0 + i as f64)
            })
            .collect();
        for info in catalog() {
            let spec = IndicatorSpec::new(info.name, &[]).unwrap();
            let ind = spec.build();
            let cols = spec.compute(&bars);
            assert_eq!(cols.len(), info.outputs.len());
            // `warmup()` is the bar from which every output has a value.
            let ready_from = cols.iter().map(|c| c.iter().position(Option::is_some).unwrap()).max().unwrap();
            assert_eq!(ready_from, ind.warmup(), "{}", info.name);
            for c in &cols {
                assert_eq!(c.len(), bars.len());
                assert!(c[ready_from..].iter().all(Option::is_some), "{}", info.name);
            }
        }
    }
}
