use serde_json::{json, Map, Value};

use super::{Sidecar, SidecarError};
use crate::indicators::{IndicatorSpec, Input};
use crate::market_data::Bar;

/// Computes `spec` over `bars` in the sidecar: one column per output, in the
/// order of `spec.info().outputs`, `None` where the sidecar has no value.
pub async fn compute(
    sidecar: &mut Sidecar,
    spec: &IndicatorSpec,
    bars: &[Bar],
) -> Result<Vec<Vec<Option<f64>>>, SidecarError> {
    let mut inputs = Map::new();
    for input in spec.info().inputs {
        let column: Value = match input {
            Input::Time => bars.iter().map(|b| Value::from(b.open_time)).collect(),
            Input::Open => floats(bars, |b| b.open),
            Input::High => floats(bars, |b| b.high),
            Input::Low => floats(bars, |b| b.low),
            Input::Close => floats(bars, |b| b.close),
            Input::Volume => floats(bars, |b| b.volume),
        };
        inputs.insert(input.name().to_string(), column);
    }
    let params = json!({
        "indicator": spec.info().name,
        "params": spec.params(),
        "inputs": inputs,
    });
    let result = sidecar.request("compute", params).await?;
    parse_outputs(spec, bars.len(), &result)
}

fn floats(bars: &[Bar], field: impl Fn(&Bar) -> f64) -> Value {
    Value::Array(bars.iter().map(|b| json!(field(b))).collect())
}

fn parse_outputs(
    spec: &IndicatorSpec,
    len: usize,
    result: &Value,
) -> Result<Vec<Vec<Option<f64>>>, SidecarError> {
    let bad = |detail: String| SidecarError::BadResponse { id: 0, detail };
    let outputs = result
        .get("outputs")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no `outputs` object".into()))?;
    spec.info()
        .outputs
        .iter()
        .map(|name| {
            let column = outputs
                .get(*name)
                .and_then(Value::as_array)
                .ok_or_else(|| bad(format!("output `{name}` missing for {}", spec.label())))?;
            if column.len() != len {
                return Err(bad(format!(
                    "output `{name}` has {} values for {len} bars",
                    column.len()
                )));
            }
            column
                .iter()
                .map(|v| match v {
                    Value::Null => Ok(None),
                    other => other
                        .as_f64()
                        .map(Some)
                        .ok_or_else(|| bad(format!("output `{name}` holds {other}"))),
                })
                .collect()
        })
        .collect()
}
