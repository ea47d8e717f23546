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

fn missing_sonames(tree: &RootFs, objects: &[Object], search: &SearchPath) -> Vec<String> {
    missing(tree, objects, search, &no_providers)
        .into_iter()
        .map(|m| format!("{}: {}", m.path, m.soname))
        .collect()
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

#[test]
fn runpath_with_origin_finds_the_libraries_a_wheel_ships() {
    let t = tree(
        &[&format!("{SITE}/numpy.libs/libopenblas64_p-r0.3.so")],
        &[],
    );
    let mut numpy = object(
        &format!("{SITE}/numpy/core/_multiarray_umath.so"),
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
fn r_objects_find_libr_in_r_home_and_driver_libraries_are_not_asked_for() {
    let t = tree(&["usr/lib/R/lib/libR.so"], &[]);
    let r = object(
        "usr/local/lib/R/site-library/igraph/libs/igraph.so",
        "r",
        &["libR.so"],
    );
    let pip = object(
        &format!("{SITE}/torch/lib/libtorch_cuda.so"),
        "pip",
        &["libR.so", "libcuda.so.1"],
    );
    let with_r = SearchPath::of_image(&t, &[], "amd64", Some("/usr/lib/R"));
    assert_eq!(
        missing_sonames(&t, &[r, pip], &with_r),
        [format!("{SITE}/torch/lib/libtorch_cuda.so: libR.so")]
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
    assert_eq!(found[0].providers, ["libxml2"]);
}

#[test]
fn wildcards() {
    assert!(wildcard("*.conf", "x86_64-linux-gnu.conf"));
    assert!(wildcard("lib?.conf", "libc.conf"));
    assert!(!wildcard("*.conf", "notes.txt"));
    assert!(!wildcard("[a]*", "a.conf"));
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
    let all = [ext.clone(), openblas, gfortran.clone()];
    assert!(missing_sonames(&t, &all, &search(&t)).is_empty());
    // Without OpenBLAS loading it first, gfortran's need is unmet, as ld.so would find.
    ext.dynamic.needed = vec!["libgfortran-04.so.5.0.0".into()];
    assert_eq!(
        missing_sonames(&t, &[ext, gfortran], &search(&t)),
        [format!(
            "{libs}/libgfortran-04.so.5.0.0: libquadmath-96.so.0.0.0"
        )]
    );
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
