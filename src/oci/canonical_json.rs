//! Canonical JSON: object keys sorted by their UTF-8 bytes, no insignificant whitespace.
//! Manifests and configs are written this way so that their digests depend only on their
//! content — never on map iteration order or a serializer's feature flags (serde_json's
//! `preserve_order`, enabled by any crate in the graph, would otherwise change the bytes).

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

/// The canonical bytes of `value`.
pub fn to_vec(value: &impl Serialize) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("rtlock's image types serialize to JSON");
    let mut out = Vec::new();
    write_value(&mut out, &value);
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, value);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        // Scalars: serde_json's own rendering is already unique for a given value.
        other => serde_json::to_writer(&mut *out, other).expect("writing to a Vec cannot fail"),
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// Canonical JSON followed by nothing: registries and layouts store exactly these bytes.
pub fn write(writer: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    writer.write_all(&to_vec(value))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    #[test]
    fn keys_are_sorted_at_every_depth_whatever_the_map() {
        let mut inner = HashMap::new();
        for k in ["zeta", "alpha", "Mid", "beta"] {
            inner.insert(k.to_string(), 1);
        }
        let value = serde_json::json!({"b": [ {"y": 1, "x": "é\n"} ], "a": inner});
        assert_eq!(
            String::from_utf8(super::to_vec(&value)).unwrap(),
            r#"{"a":{"Mid":1,"alpha":1,"beta":1,"zeta":1},"b":[{"x":"é\n","y":1}]}"#
        );
    }
}
