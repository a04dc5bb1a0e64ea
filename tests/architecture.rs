//! The library's imports flow one way (docs/architecture.md): every
//! `crate::` path in src/ (tests and the CLI aside) is read, mapped to the
//! top-level module it names, and checked against the layer table below.
//! An import from a higher layer fails the test unless it is one of the
//! known violations listed in `KNOWN_UPWARD` (none left since issue 15);
//! a listed violation that no longer exists fails too, so the list only
//! shrinks. The module graph in docs/architecture.md is this test's
//! output: when it changes, the test prints the new block to paste.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, lowest first. A module may import from its own layer and below.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaf: limits, hex codec, key ids and who they name, read/write counts",
        &["limits", "hex", "key_id", "io_count"],
    ),
    (
        "format: headers, no crypto; errors",
        &["container", "error"],
    ),
    (
        "primitives: hashes/KDF/AES helpers, body ciphers, x86-64 kernels, decompression",
        &["primitives", "stream", "arch", "compress"],
    ),
    ("keys: types, codecs, ids, ring", &["keys"]),
    ("wrap: per-recipient session keys", &["wrap"]),
    (
        "decrypt / encrypt: blocking and async adapters",
        &["decryptor", "encryptor", "async_io"],
    ),
    ("store: Maildir, sdbox and mdbox operations", &["store"]),
    ("bench internals", &["internals"]),
];

/// Upward imports that exist and are still to be removed: (importer,
/// imported, what). Empty since issue 15 moved the hash/KDF/AES helpers to
/// `primitives` and ECDH to `keys`; a new entry needs a reason and an issue.
const KNOWN_UPWARD: &[(&str, &str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Names re-exported at the crate root (`pub use module::{A, B}`), mapped
/// to their module, so that `crate::Decryptor` counts as `decryptor`.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut rest = lib;
    while let Some(i) = rest.find("pub use ") {
        rest = &rest[i + 8..];
        let end = rest.find(';').unwrap();
        let item = &rest[..end];
        if let Some((module, names)) = item.split_once("::") {
            let names = names.trim_matches(|c| c == '{' || c == '}');
            for n in names.split(',') {
                let n = n.trim();
                if !n.is_empty() {
                    map.insert(n.to_string(), module.trim().to_string());
                }
            }
        }
    }
    map
}

/// The top-level module of every `crate::` path in the non-test code of
/// each module.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let reexports = root_reexports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "bin" || module == "lib" || rel.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        // Unit tests sit at the end of the file; they may import anything.
        let code = match text.find("#[cfg(test)]\nmod tests") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        let entry = graph.entry(module.clone()).or_default();
        for line in code.lines() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue; // doc links do not create dependencies
            }
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + 7..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let target = reexports.get(&name).cloned().unwrap_or(name);
                if target != module {
                    entry.insert(target);
                }
            }
        }
    }
    graph
}

fn render(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut out = String::new();
    for (i, (name, mods)) in LAYERS.iter().enumerate().rev() {
        out.push_str(&format!("{i} {name}\n"));
        for m in *mods {
            let deps: Vec<&str> = graph
                .get(*m)
                .map(|d| d.iter().map(String::as_str).collect())
                .unwrap_or_default();
            let deps = if deps.is_empty() {
                "(nothing)".to_string()
            } else {
                deps.join(", ")
            };
            out.push_str(&format!("    {m} -> {deps}\n"));
        }
    }
    out
}

#[test]
fn imports_flow_one_way() {
    let graph = module_graph();
    let known: BTreeSet<(&str, &str)> = KNOWN_UPWARD.iter().map(|(a, b, _)| (*a, *b)).collect();
    let mut new_violations = Vec::new();
    let mut seen_known = BTreeSet::new();
    for (from, deps) in &graph {
        let lf = layer_of(from).unwrap_or_else(|| panic!("module {from} is in no layer"));
        for to in deps {
            let lt =
                layer_of(to).unwrap_or_else(|| panic!("{from} imports {to}, which is in no layer"));
            if lt > lf {
                if known.contains(&(from.as_str(), to.as_str())) {
                    seen_known.insert((from.as_str(), to.as_str()));
                } else {
                    new_violations.push(format!("{from} (layer {lf}) imports {to} (layer {lt})"));
                }
            }
        }
    }
    assert!(
        new_violations.is_empty(),
        "imports from a higher layer:\n{}",
        new_violations.join("\n")
    );
    let gone: Vec<_> = known.difference(&seen_known).collect();
    assert!(gone.is_empty(), "fixed, remove from KNOWN_UPWARD: {gone:?}");
}

#[test]
fn the_documented_module_graph_is_the_real_one() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    let start = "<!-- module graph: generated by tests/architecture.rs -->\n```text\n";
    let i = doc.find(start).expect("marker in docs/architecture.md") + start.len();
    let j = i + doc[i..].find("```").unwrap();
    let want = render(&module_graph());
    assert!(
        doc[i..j] == want,
        "docs/architecture.md is out of date; the module graph now is:\n{want}"
    );
}
