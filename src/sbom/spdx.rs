//! SPDX 2.3 JSON: one package per component plus the image itself, `DESCRIBES` the
//! image, the image `CONTAINS` each component, and `DEPENDS_ON` the lock's graph.
//!
//! Licenses a package states are `licenseDeclared` as an SPDX expression when they map
//! to listed identifiers, else as a `LicenseRef-` with the text as written in
//! `hasExtractedLicensingInfos`; nothing is concluded (`licenseConcluded` is
//! `NOASSERTION`: rtlock reads what packages say, it does not audit their sources).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Sbom;
use super::license::spdx_expression;
use crate::lockfile::rfc3339;

pub fn document(sbom: &Sbom) -> String {
    let hex = sbom.subject.digest.trim_start_matches("sha256:");
    let subject_id = "SPDXRef-Subject".to_string();
    let mut extracted: BTreeMap<String, String> = BTreeMap::new();
    let mut packages = vec![json!({
        "SPDXID": subject_id,
        "name": sbom.subject.name,
        "versionInfo": sbom.subject.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": hex}],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": subject_id,
    })];
    for c in &sbom.components {
        let declared = match &c.license {
            None => "NOASSERTION".to_string(),
            Some(text) => spdx_expression(text).unwrap_or_else(|| {
                let id = format!("LicenseRef-{}", spdx_id_part(text));
                extracted.insert(id.clone(), text.clone());
                id
            }),
        };
        let mut package = json!({
            "SPDXID": spdx_ref(&c.id),
            "name": c.name,
            "versionInfo": c.version,
            "downloadLocation": c.url.as_deref().filter(|u| named_host(u)).unwrap_or("NOASSERTION"),
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": declared,
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": c.purl,
            }],
        });
        if let Some(url) = c.url.as_deref().filter(|u| !named_host(u)) {
            package["sourceInfo"] = format!("downloaded from {url}").into();
        }
        if let Some(sha256) = &c.sha256 {
            package["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": sha256}]);
        }
        packages.push(package);
        relationships.push(json!({
            "spdxElementId": subject_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": spdx_ref(&c.id),
        }));
    }
    for (from, to) in &sbom.depends_on {
        relationships.push(json!({
            "spdxElementId": spdx_ref(from),
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": spdx_ref(to),
        }));
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{} ({} {})", sbom.subject.name, sbom.subject.kind, sbom.subject.digest),
        // A namespace of its own for every subject, and the same one for the same subject.
        "documentNamespace": format!("urn:rtlock:spdx:{}:{hex}", sbom.subject.kind),
        "creationInfo": {
            "created": rfc3339(sbom.created),
            "creators": [format!("Tool: rtlock-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = extracted
            .into_iter()
            .map(|(id, text)| json!({"licenseId": id, "name": text, "extractedText": text}))
            .collect::<Vec<Value>>()
            .into();
    }
    let mut out = serde_json::to_string_pretty(&doc).expect("plain data serializes");
    out.push('\n');
    out
}

/// Does `url` name its host by a DNS name? SPDX's validators read `downloadLocation`
/// with a pattern that wants one, so a URL on an address (a mirror on 127.0.0.1) goes
/// to `sourceInfo` instead.
fn named_host(url: &str) -> bool {
    url::Url::parse(url)
        .is_ok_and(|u| matches!(u.host(), Some(url::Host::Domain(d)) if d.contains('.')))
}

/// `SPDXRef-` and a component id with only the characters SPDX allows (`A-Za-z0-9.-`).
/// Component ids join words that cannot hold a `:` with `:`, so `-` keeps them apart.
fn spdx_ref(id: &str) -> String {
    format!("SPDXRef-{}", spdx_id_part(&id.replace(':', "-")))
}

/// `text` in SPDX id characters: others become `-`, with a short digest of the text
/// appended when anything was replaced, so different texts never share an id.
fn spdx_id_part(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean == text {
        return clean;
    }
    use sha2::Digest as _;
    let digest = hex::encode(&sha2::Sha256::digest(text.as_bytes())[..4]);
    let short: String = clean.chars().take(40).collect();
    format!("{short}-{digest}")
}
