use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::{Sidecar, SidecarError};
use crate::indicators::{IndicatorSpec, Input};
use crate::market_data::Bar;

/// Computes `spec` over `bars` in the sidecar: one column per output, in the
/// order of `spec.info().outputs`, `None` where the sidecar has no value.
///
/// Series travel in the protocol's `f64le` encoding (base64 of the
/// little-endian doubles): exact by construction and an order of magnitude
/// cheaper than printing and parsing decimal floats on both sides.
pub async fn compute(
    sidecar: &mut Sidecar,
    spec: &IndicatorSpec,
    bars: &[Bar],
) -> Result<Vec<Vec<Option<f64>>>, SidecarError> {
    let mut inputs = Map::new();
    for input in spec.info().inputs {
        let column: Vec<f64> = match input {
            // Epoch milliseconds are exact in a double for ±285,000 years.
            Input::Time => bars.iter().map(|b| b.open_time as f64).collect(),
            Input::Open => bars.iter().map(|b| b.open).collect(),
            Input::High => bars.iter().map(|b| b.high).collect(),
            Input::Low => bars.iter().map(|b| b.low).collect(),
            Input::Close => bars.iter().map(|b| b.close).collect(),
            Input::Volume => bars.iter().map(|b| b.volume).collect(),
        };
        inputs.insert(input.name().to_string(), json!({ "f64le": encode(&column) }));
    }
    let params = json!({
        "indicator": spec.info().name,
        "params": spec.params(),
        "encoding": "f64le",
        "inputs": inputs,
    });
    let result = sidecar.request("compute", params).await?;
    parse_outputs(spec, bars.len(), &result)
}

fn encode(values: &[f64]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 8);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    BASE64.encode(bytes)
}

/// Decodes an `f64le` column; NaN marks a missing value.
fn decode(text: &str) -> Result<Vec<Option<f64>>, String> {
    let bytes = BASE64.decode(text).map_err(|e| format!("bad base64: {e}"))?;
    if bytes.len() % 8 != 0 {
        return Err(format!("{} bytes are not a whole number of doubles", bytes.len()));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("chunks of 8")))
        .map(|v| (!v.is_nan()).then_some(v))
        .collect())
}

fn parse_outputs(spec: &IndicatorSpec, len: usize, result: &Value) -> Result<Vec<Vec<Option<f64>>>, SidecarError> {
    let bad = |detail: String| SidecarError::BadOutput { indicator: spec.label(), detail };
    let outputs = result.get("outputs").and_then(Value::as_object).ok_or_else(|| bad("no `outputs` object".into()))?;
    spec.info()
        .outputs
        .iter()
        .map(|name| {
            let text = outputs
                .get(*name)
                .and_then(|column| column.get("f64le"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("output `{name}` missing or not f64le")))?;
            let column = decode(text).map_err(|e| bad(format!("output `{name}`: {e}")))?;
            if column.len() != len {
                return Err(bad(format!("output `{name}` has {} values for {len} bars", column.len())));
            }
            Ok(column)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64le_round_trips_every_bit() {
        let values = [0.0, -0.0, 1.0 / 3.0, f64::MIN_POSITIVE, 1e308, -2.5e-300, 46319.0];
        let decoded = decode(&encode(&values)).unwrap();
        for (a, b) in values.iter().zip(&decoded) {
            assert_eq!(a.to_bits(), b.unwrap().to_bits());
        }
        assert_eq!(decode(&encode(&[f64::NAN])).unwrap(), vec![None]);
        assert!(decode("AAAA").unwrap_err().contains("not a whole number"));
        assert!(decode("***").is_err());
    }
}
