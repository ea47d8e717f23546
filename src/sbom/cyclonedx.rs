//! CycloneDX 1.5 JSON: the image as `metadata.component`, one `library` component per
//! package (its purl as `bom-ref`), SHA-256 hashes of the artifacts the lock pins,
//! the licenses packages state, and the lock's graph as `dependencies`.

use serde_json::{Value, json};

use super::Sbom;
use super::license::spdx_expression;
use crate::lockfile::rfc3339;

pub fn document(sbom: &Sbom) -> String {
    let hex = sbom.subject.digest.trim_start_matches("sha256:");
    let subject_ref = format!("rtlock:{}:{hex}", sbom.subject.kind);
    let components: Vec<Value> = sbom
        .components
        .iter()
        .map(|c| {
            let mut component = json!({
                "type": "library",
                "bom-ref": c.id,
                "name": c.name,
                "version": c.version,
                "purl": c.purl,
            });
            if let Some(sha256) = &c.sha256 {
                component["hashes"] = json!([{"alg": "SHA-256", "content": sha256}]);
            }
            if let Some(text) = &c.license {
                component["licenses"] = match spdx_expression(text) {
                    Some(e) if !e.contains(' ') => json!([{"license": {"id": e}}]),
                    Some(e) => json!([{"expression": e}]),
                    None => json!([{"license": {"name": text}}]),
                };
            }
            if let Some(url) = &c.url {
                component["externalReferences"] = json!([{"type": "distribution", "url": url}]);
            }
            component
        })
        .collect();
    let mut dependencies: Vec<Value> = vec![json!({
        "ref": subject_ref,
        "dependsOn": sbom.components.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
    })];
    let mut current: Option<(&str, Vec<&str>)> = None;
    for (from, to) in &sbom.depends_on {
        match &mut current {
            Some((f, tos)) if *f == from.as_str() => tos.push(to),
            _ => {
                if let Some((f, tos)) = current.take() {
                    dependencies.push(json!({"ref": f, "dependsOn": tos}));
                }
                current = Some((from, vec![to]));
            }
        }
    }
    if let Some((f, tos)) = current {
        dependencies.push(json!({"ref": f, "dependsOn": tos}));
    }
    let doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial_number(&sbom.subject.digest, sbom.subject.kind),
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(sbom.created),
            "tools": {"components": [{
                "type": "application",
                "name": "rtlock",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "container",
                "bom-ref": subject_ref,
                "name": sbom.subject.name,
                "version": sbom.subject.digest,
                "hashes": [{"alg": "SHA-256", "content": hex}],
            },
        },
        "components": components,
        "dependencies": dependencies,
    });
    let mut out = serde_json::to_string_pretty(&doc).expect("plain data serializes");
    out.push('\n');
    out
}

/// A `urn:uuid:` made from the subject (an RFC 9562 version 8 UUID: custom bits), so
/// the same subject always gets the same serial number.
fn serial_number(digest: &str, kind: &str) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(format!("{kind}:{digest}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
