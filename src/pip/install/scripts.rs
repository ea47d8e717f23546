//! Scripts as pip writes them: wrappers for `console_scripts` and `gui_scripts` entry
//! points (pip's vendored distlib template, the base interpreter in the shebang), and
//! `#!python` shebangs of a wheel's `.data/scripts` rewritten to the base interpreter.

/// One entry point of `entry_points.txt`: `name = module:attr [extras]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    pub name: String,
    pub module: String,
    /// `main` or `cli.main` (dotted attributes are allowed).
    pub attr: String,
}

/// An entry of `entry_points.txt` that is not `name = module:attr`: pip refuses those.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the script `{line}` is not `name = module:function`")]
pub struct BadEntryPoint {
    /// The line as written (trimmed).
    pub line: String,
}

/// The console and GUI scripts of an `entry_points.txt` (INI), in file order, each
/// entry without `module:attr` as a [`BadEntryPoint`].
pub fn entry_points(text: &str) -> Vec<Result<EntryPoint, BadEntryPoint>> {
    let mut out = Vec::new();
    let mut wanted = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            wanted = matches!(section.trim(), "console_scripts" | "gui_scripts");
            continue;
        }
        if !wanted {
            continue;
        }
        let bad = || BadEntryPoint {
            line: line.to_string(),
        };
        let Some((name, value)) = line.split_once('=') else {
            out.push(Err(bad()));
            continue;
        };
        // Extras (`[extra]`) only select dependencies: the wrapper is the same.
        let value = value.split('[').next().unwrap_or(value).trim();
        match value.split_once(':') {
            Some((module, attr)) if !module.trim().is_empty() && !attr.trim().is_empty() => out
                .push(Ok(EntryPoint {
                    name: name.trim().to_string(),
                    module: module.trim().to_string(),
                    attr: attr.trim().to_string(),
                })),
            _ => out.push(Err(bad())),
        }
    }
    out
}

/// The wrapper pip installs for `entry` (distlib's template, byte for byte, so that
/// the RECORD hashes equal pip's).
pub fn wrapper(entry: &EntryPoint, interpreter: &str) -> Vec<u8> {
    let import_name = entry.attr.split('.').next().unwrap_or(&entry.attr);
    format!(
        "#!{interpreter}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom {module} import {import_name}\n\
         if __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    \
         sys.exit({func}())\n",
        module = entry.module,
        func = entry.attr,
    )
    .into_bytes()
}

/// A `.data/scripts` file with its `#!python…` first line replaced by the interpreter,
/// as pip's `fix_script` does; other files unchanged (`None`).
pub fn fix_shebang(content: &[u8], interpreter: &str) -> Option<Vec<u8>> {
    if !content.starts_with(b"#!python") {
        return None;
    }
    let rest = match content.iter().position(|&b| b == b'\n') {
        Some(end) => &content[end + 1..],
        None => &[][..],
    };
    let mut out = format!("#!{interpreter}\n").into_bytes();
    out.extend_from_slice(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_wrappers_and_shebangs() {
        let parsed = entry_points(
            "[console_scripts]\nnormalizer = charset_normalizer.cli:cli_detect\n\
             f2py = numpy.f2py.f2py2e:main.run [extra]\nbroken = nocolon\n\n\
             [pandas_plotting_backends]\nmatplotlib = pandas:plotting._matplotlib\n\
             [gui_scripts]\nviewer=pkg.gui:start\n",
        );
        assert_eq!(parsed.len(), 4);
        let f2py = parsed[1].clone().unwrap();
        assert_eq!(
            (f2py.module.as_str(), f2py.attr.as_str()),
            ("numpy.f2py.f2py2e", "main.run")
        );
        assert_eq!(
            parsed[2],
            Err(BadEntryPoint {
                line: "broken = nocolon".to_string()
            })
        );
        assert_eq!(
            parsed[2].clone().unwrap_err().to_string(),
            "the script `broken = nocolon` is not `name = module:function`"
        );
        assert_eq!(parsed[3].clone().unwrap().name, "viewer");
        let text = String::from_utf8(wrapper(&f2py, "/usr/bin/python3")).unwrap();
        assert!(text.starts_with("#!/usr/bin/python3\n# -*- coding: utf-8 -*-\n"));
        assert!(text.contains("from numpy.f2py.f2py2e import main\n"));
        assert!(text.contains("re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"));
        assert!(text.ends_with("    sys.exit(main.run())\n"));
        assert_eq!(
            fix_shebang(b"#!pythonw -u\nprint(1)\n", "/usr/bin/python3").unwrap(),
            b"#!/usr/bin/python3\nprint(1)\n"
        );
        assert_eq!(fix_shebang(b"#!/bin/sh\n", "/usr/bin/python3"), None);
    }
}
