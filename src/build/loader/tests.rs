use super::*;
use crate::image::rootfs::Node;

/// A tree of regular files (empty unless given content), symbolic links (`path -> target`)
/// and ld.so.conf files.
fn tree(paths: &[&str], conf: &[(&str, &str)]) -> RootFs {
    type Described = (String, Node, Option<Box<[u8]>>);
    let mut nodes: Vec<Described> = Vec::new();
    for path in paths {
        match path.split_once(" -> ") {
            Some((link, target)) => nodes.push((
                link.to_string(),
                Node::described(Kind::Symlink, 0o777, 0, Some(target.into())),
                None,
            )),
            None => nodes.push((
                path.to_string(),
                Node::described(Kind::File, 0o644, 0, None),
                None,
            )),
        }
    }
    for (path, text) in conf {
        nodes.push((
            path.to_string(),
            Node::described(Kind::File, 0o644, text.len() as u64, None),
            Some(text.as_bytes().into()),
        ));
    }
    RootFs::from_nodes(nodes, "a test tree").unwrap()
}

fn object(path: &str, layer: &'static str, needed: &[&str]) -> Object {
    Object {
        path: path.to_string(),
        layer,
        dynamic: Dynamic {
            needed: needed.iter().map(|s| s.to_string()).collect(),
            ..Dynamic::default()
        },
    }
}

fn no_providers(_: &BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
    BTreeMap::new()
}

fn listed(found: Vec<Missing>) -> Vec<String> {
    found
        .into_iter()
        .map(|m| format!("{}: {}", m.path, m.soname))
        .collect()
}

/// What fails the build.
fn missing_sonames(tree: &RootFs, objects: &[Object], search: &SearchPath) -> Vec<String> {
    listed(missing(tree, objects, search, &no_providers).fatal)
}

/// What is only reported.
fn optional_sonames(tree: &RootFs, objects: &[Object], search: &SearchPath) -> Vec<String> {
    listed(missing(tree, objects, search, &no_providers).optional)
}

fn search(tree: &RootFs) -> SearchPath {
    SearchPath::of_image(tree, &[], "amd64", None)
}

const SITE: &str = "usr/lib/python3/dist-packages";

#[test]
fn default_directories_and_symbolic_links_inside_the_image() {
    let t = tree(
        &[
            "usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
            "usr/lib/x86_64-linux-gnu/libz.so.1 -> libz.so.1.2.13",
            "lib -> usr/lib",
            "usr/lib/x86_64-linux-gnu/libc.so.6",
            // A dangling link provides nothing.
            "usr/lib/x86_64-linux-gnu/libgone.so.3 -> libgone.so.3.0.0",
        ],
        &[],
    );
    let objects = [object(
        &format!("{SITE}/m/_m.so"),
        "pip",
        &["libz.so.1", "libc.so.6", "libgone.so.3", "libnowhere.so.9"],
    )];
    assert_eq!(
        missing_sonames(&t, &objects, &search(&t)),
        [
            format!("{SITE}/m/_m.so: libgone.so.3"),
            format!("{SITE}/m/_m.so: libnowhere.so.9"),
        ]
    );
}

/// (A virtual environment's site-packages outside the folders [`files_named`] takes as
/// import folders, so that only the RUNPATH can find the library.)
#[test]
fn runpath_with_origin_finds_the_libraries_a_wheel_ships() {
    let site = "opt/app/python";
    let t = tree(
        &[&format!("{site}/numpy.libs/libopenblas64_p-r0.3.so")],
        &[],
    );
    let mut numpy = object(
        &format!("{site}/numpy/core/_multiarray_umath.so"),
        "pip",
        &["libopenblas64_p-r0.3.so"],
    );
    assert_eq!(missing_sonames(&t, &[numpy.clone()], &search(&t)).len(), 1);
    numpy.dynamic.runpath = vec!["$ORIGIN/../../numpy.libs".into()];
    assert!(missing_sonames(&t, &[numpy.clone()], &search(&t)).is_empty());
    numpy.dynamic.runpath = vec!["${ORIGIN}/../../numpy.libs".into()];
    assert!(missing_sonames(&t, &[numpy], &search(&t)).is_empty());
}

#[test]
fn rpath_counts_only_without_runpath() {
    let t = tree(&["opt/vendor/lib/libv.so.1"], &[]);
    let mut o = object("opt/x/_x.so", "pip", &["libv.so.1"]);
    o.dynamic.rpath = vec!["/opt/vendor/lib".into()];
    assert!(missing_sonames(&t, &[o.clone()], &search(&t)).is_empty());
    // With a RUNPATH, ld.so ignores DT_RPATH.
    o.dynamic.runpath = vec!["/elsewhere".into()];
    assert_eq!(
        missing_sonames(&t, &[o], &search(&t)),
        ["opt/x/_x.so: libv.so.1"]
    );
}

#[test]
fn ld_so_conf_with_includes_and_ld_library_path() {
    let t = tree(
        &["opt/blas/lib/libblas.so.3", "opt/env/libenv.so.2"],
        &[
            (
                "etc/ld.so.conf",
                "# comment\ninclude /etc/ld.so.conf.d/*.conf\n",
            ),
            ("etc/ld.so.conf.d/blas.conf", "/opt/blas/lib\n"),
            ("etc/ld.so.conf.d/.hidden.conf", "/opt/env\n"),
            ("etc/ld.so.conf.d/notes.txt", "/opt/env\n"),
        ],
    );
    assert_eq!(ld_so_conf(&t), ["/opt/blas/lib"]);
    let objects = [object(
        "opt/x/_x.so",
        "pip",
        &["libblas.so.3", "libenv.so.2"],
    )];
    assert_eq!(
        missing_sonames(&t, &objects, &search(&t)),
        ["opt/x/_x.so: libenv.so.2"]
    );
    let env = [
        "PATH=/usr/bin".to_string(),
        "LD_LIBRARY_PATH=/opt/env:".to_string(),
    ];
    let with_env = SearchPath::of_image(&t, &env, "amd64", None);
    assert!(missing_sonames(&t, &objects, &with_env).is_empty());
}

#[test]
fn an_include_loop_ends() {
    let t = tree(
        &[],
        &[("etc/ld.so.conf", "include ld.so.conf\n/usr/local/lib\n")],
    );
    assert_eq!(ld_so_conf(&t), ["/usr/local/lib"]);
}

#[test]
fn r_objects_search_what_ldpaths_adds() {
    let ldpaths = ": ${JAVA_HOME=/usr/lib/jvm/default-java}\n\
: ${R_JAVA_LD_LIBRARY_PATH=${JAVA_HOME}/lib/server}\n\
if test -n \"\"; then\n\
: ${R_LD_LIBRARY_PATH=${R_HOME}/lib:}\n\
else\n\
: ${R_LD_LIBRARY_PATH=${R_HOME}/lib:/usr/local/lib:${R_JAVA_LD_LIBRARY_PATH}}\n\
fi\n";
    let t = tree(
        &["usr/lib/jvm/default-java/lib/server/libjvm.so"],
        &[("usr/lib/R/etc/ldpaths", ldpaths)],
    );
    let rjava = object(
        "usr/local/lib/R/site-library/rJava/libs/rJava.so",
        "r",
        &["libjvm.so"],
    );
    let with_r = SearchPath::of_image(&t, &[], "amd64", Some("/usr/lib/R"));
    assert_eq!(
        with_r.r_ld_library_path,
        [
            "/usr/lib/R/lib",
            "/usr/local/lib",
            "/usr/lib/jvm/default-java/lib/server"
        ]
    );
    assert!(missing_sonames(&t, std::slice::from_ref(&rjava), &with_r).is_empty());
    // A wheel's object gets none of it.
    let pip = Object {
        layer: "pip",
        ..rjava
    };
    assert_eq!(missing_sonames(&t, &[pip], &with_r).len(), 1);
}

#[test]
fn ld_so_cache_directories() {
    // A new-format cache of two entries; values are offsets from the header's start.
    let strings = b"libfoo.so.1\0/opt/cuda/lib64/libfoo.so.1\0libbar.so\0/srv/x/libbar.so\0";
    let mut bytes = b"glibc-ld.so.cache1.1".to_vec();
    bytes.extend(2u32.to_le_bytes());
    bytes.extend((strings.len() as u32).to_le_bytes());
    bytes.extend([0u8; 4 + 4 + 12]);
    let base = bytes.len() + 2 * 24;
    let entry = |key: usize, value: usize| {
        let mut e = Vec::new();
        e.extend(0x303i32.to_le_bytes());
        e.extend((key as u32).to_le_bytes());
        e.extend((value as u32).to_le_bytes());
        e.extend(0u32.to_le_bytes());
        e.extend(0u64.to_le_bytes());
        e
    };
    bytes.extend(entry(base, base + 12));
    bytes.extend(entry(base + 40, base + 50));
    bytes.extend(strings);
    assert_eq!(search::cache_dirs(&bytes), ["/opt/cuda/lib64", "/srv/x"]);
    // Damaged: a count far past the end, offsets past the end: nothing, no panic.
    let mut damaged = bytes.clone();
    damaged[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(search::cache_dirs(&damaged), ["/opt/cuda/lib64", "/srv/x"]);
    assert!(search::cache_dirs(&bytes[..30]).is_empty());
    assert!(search::cache_dirs(b"not a cache").is_empty());
}

#[test]
fn relative_includes_are_read_against_the_including_file() {
    let t = tree(
        &[],
        &[
            ("etc/ld.so.conf", "include ld.so.conf.d/*.conf\n"),
            (
                "etc/ld.so.conf.d/a.conf",
                "include more/[ab].conf\n/opt/a\n",
            ),
            ("etc/ld.so.conf.d/more/b.conf", "/opt/b/\n"),
        ],
    );
    assert_eq!(ld_so_conf(&t), ["/opt/b", "/opt/a"]);
}

#[test]
fn dynamic_string_tokens() {
    let t = tree(&[], &[]);
    let s = search(&t);
    let mut o = object("opt/p/_x.so", "pip", &[]);
    o.dynamic.runpath = vec![
        "$ORIGIN/../lib".into(),
        "/opt/$LIB".into(),
        "/opt/$LIBX".into(),
        "/opt/${PLATFORM}/x".into(),
        "relative/dir".into(),
    ];
    let dirs = s.for_object(&o, &[]);
    for expected in [
        "/opt/p/../lib",
        "/opt/lib/x86_64-linux-gnu",
        "/opt/$LIBX",
        "/opt/x86_64/x",
        "/opt/haswell/x",
    ] {
        assert!(dirs.iter().any(|d| d == expected), "{expected} in {dirs:?}");
    }
    assert!(!dirs.iter().any(|d| d.contains("relative")));
}

#[test]
fn r_objects_find_libr_in_r_home_and_driver_libraries_are_not_asked_for() {
    let t = tree(&["usr/lib/R/lib/libR.so"], &[]);
    let r = object(
        "usr/local/lib/R/site-library/igraph/libs/igraph.so",
        "r",
        &["libR.so"],
    );
    let pip = object(
        &format!("{SITE}/torch/_C.cpython-311-x86_64-linux-gnu.so"),
        "pip",
        &["libR.so", "libcuda.so.1"],
    );
    let with_r = SearchPath::of_image(&t, &[], "amd64", Some("/usr/lib/R"));
    assert!(missing_sonames(&t, &[r], &with_r).is_empty());
    // R's directory is not searched for a wheel's object; the driver's soname is not
    // asked for.
    assert_eq!(
        missing_sonames(&t, &[pip], &with_r),
        [format!(
            "{SITE}/torch/_C.cpython-311-x86_64-linux-gnu.so: libR.so"
        )]
    );
}

#[test]
fn providers_are_given_for_what_is_missing() {
    let t = tree(&[], &[]);
    let objects = [object(
        "usr/local/lib/R/site-library/xml2/libs/xml2.so",
        "r",
        &["libxml2.so.2"],
    )];
    let found = missing(&t, &objects, &search(&t), &|sonames| {
        sonames
            .iter()
            .map(|s| (s.clone(), vec!["libxml2".to_string()]))
            .collect()
    });
    assert_eq!(found.fatal[0].providers, ["libxml2"]);
}

#[test]
fn wildcards() {
    use search::wildcard;
    assert!(wildcard("*.conf", "x86_64-linux-gnu.conf"));
    assert!(wildcard("lib?.conf", "libc.conf"));
    assert!(!wildcard("*.conf", "notes.txt"));
    assert!(wildcard("[a]*", "a.conf"));
    assert!(wildcard("*", ""));
    // A hostile pattern ends at once.
    let name = "a".repeat(5000);
    assert!(!wildcard(&format!("{}b", "*a".repeat(2000)), &name));
}

/// scipy's wheel: the extension module's RUNPATH loads the bundled OpenBLAS and
/// gfortran; OpenBLAS's own RUNPATH loads quadmath, which gfortran (no RUNPATH) then
/// finds already loaded. Checked alone, gfortran would look like it lacks quadmath.
#[test]
fn bundled_libraries_find_what_their_loader_loaded_first() {
    let libs = format!("{SITE}/scipy.libs");
    let t = tree(
        &[
            &format!("{libs}/libopenblas-r0.so"),
            &format!("{libs}/libgfortran-04.so.5.0.0"),
            &format!("{libs}/libquadmath-96.so.0.0.0"),
        ],
        &[],
    );
    let mut ext = object(
        &format!("{SITE}/scipy/linalg/_flapack.so"),
        "pip",
        &["libopenblas-r0.so", "libgfortran-04.so.5.0.0"],
    );
    ext.dynamic.runpath = vec!["$ORIGIN/../../scipy.libs".into()];
    let mut openblas = object(
        &format!("{libs}/libopenblas-r0.so"),
        "pip",
        &["libgfortran-04.so.5.0.0", "libquadmath-96.so.0.0.0"],
    );
    openblas.dynamic.runpath = vec!["$ORIGIN".into()];
    let gfortran = object(
        &format!("{libs}/libgfortran-04.so.5.0.0"),
        "pip",
        &["libquadmath-96.so.0.0.0"],
    );
    let all = [ext, openblas, gfortran];
    assert!(missing_sonames(&t, &all, &search(&t)).is_empty());
}

/// The same shape outside the folders imports come from, where nothing else could have
/// loaded quadmath first: without OpenBLAS loading it, gfortran's need is unmet, as
/// ld.so would find.
#[test]
fn a_sibling_no_loader_loaded_is_missing() {
    let t = tree(
        &[
            "opt/app/libs/libgfortran.so.5",
            "opt/app/libs/libquadmath.so.0",
        ],
        &[],
    );
    let mut ext = object("opt/app/_ext.so", "pip", &["libgfortran.so.5"]);
    ext.dynamic.runpath = vec!["$ORIGIN/libs".into()];
    let gfortran = object(
        "opt/app/libs/libgfortran.so.5",
        "pip",
        &["libquadmath.so.0"],
    );
    assert_eq!(
        missing_sonames(&t, &[ext, gfortran], &search(&t)),
        ["opt/app/libs/libgfortran.so.5: libquadmath.so.0"]
    );
}

/// flash-attn's extension needs torch's `libc10.so` without a RUNPATH to it: it loads
/// because `import torch` ran first, and ld.so takes a loaded name as is.
#[test]
fn a_need_an_earlier_import_loads_is_not_fatal() {
    let t = tree(&[&format!("{SITE}/torch/lib/libc10.so")], &[]);
    let flash = object(
        &format!("{SITE}/flash_attn_2_cuda.cpython-311-x86_64-linux-gnu.so"),
        "pip",
        &["libc10.so"],
    );
    assert!(missing_sonames(&t, std::slice::from_ref(&flash), &search(&t)).is_empty());
    let bare = tree(&[], &[]);
    assert_eq!(missing_sonames(&bare, &[flash], &search(&bare)).len(), 1);
}

/// A Qt plugin is opened only when an application asks for a PostgreSQL driver: what it
/// lacks is reported, not fatal.
#[test]
fn plugins_nothing_imports_are_only_reported() {
    let t = tree(&[], &[]);
    let plugin = object(
        &format!("{SITE}/PyQt6/Qt6/plugins/sqldrivers/libqsqlpsql.so"),
        "pip",
        &["libpq.so.5"],
    );
    assert!(missing_sonames(&t, std::slice::from_ref(&plugin), &search(&t)).is_empty());
    assert_eq!(
        optional_sonames(&t, &[plugin], &search(&t)),
        [format!(
            "{SITE}/PyQt6/Qt6/plugins/sqldrivers/libqsqlpsql.so: libpq.so.5"
        )]
    );
}

#[test]
fn entry_points_by_name() {
    let o = |path: &str, layer| object(path, layer, &[]);
    assert!(is_entry_point(&o(
        "s/numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so",
        "pip"
    )));
    assert!(is_entry_point(&o("s/pkg/_speedups.abi3.so", "pip")));
    assert!(is_entry_point(&o("s/pkg/_plain.so", "pip")));
    assert!(!is_entry_point(&o("s/numpy.libs/libopenblas.so", "pip")));
    assert!(!is_entry_point(&o("s/pkg/bin/tool", "pip")));
    assert!(is_entry_point(&o(
        "usr/lib/R/site-library/sf/libs/sf.so",
        "r"
    )));
    assert!(!is_entry_point(&o(
        "usr/lib/R/site-library/RcppParallel/lib/libtbb.so",
        "r"
    )));
}

#[test]
fn rpath_is_inherited_from_the_loader_without_runpath() {
    let t = tree(&["opt/v/lib/liba.so.1", "opt/v/lib/libb.so.1"], &[]);
    let mut root = object("opt/v/_ext.so", "pip", &["liba.so.1"]);
    root.dynamic.rpath = vec!["$ORIGIN/lib".into()];
    let a = object("opt/v/lib/liba.so.1", "pip", &["libb.so.1"]);
    let mut a_runpath = a.clone();
    a_runpath.dynamic.runpath = vec!["/nowhere".into()];
    assert!(missing_sonames(&t, &[root.clone(), a], &search(&t)).is_empty());
    assert_eq!(
        missing_sonames(&t, &[root, a_runpath], &search(&t)),
        ["opt/v/lib/liba.so.1: libb.so.1"]
    );
}
