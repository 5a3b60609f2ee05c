//! The library's imports run one way: `serve` → `batch` → `workflow` → `stitch`/`seg`/`bench` → `ops` →
//! `pipeline` → `gpu` → `io` → `image`/`transforms` → `error`, and no two files import each other,
//! directly or around a circle. This test reads `src/` (the library's files; the CLI's `main.rs` and
//! `cli/` are a separate crate on top), collects every `crate::…` and `super::…` path outside comments
//! and `#[cfg(test)]` modules, resolves each to the file that defines the module, and fails naming the
//! offending files — so a circle cannot come back unnoticed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::repo_path;

/// Top-level modules from the bottom of the house up; a module may import only modules below it.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["transforms", "image"],
    &["io"],
    &["gpu"],
    &["pipeline"],
    &["ops"],
    &["stitch", "seg", "bench"],
    &["workflow"],
    &["batch"],
    &["serve"],
];

type Module = Vec<String>;

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `["a", "b"]`; `src/lib.rs` → `[]`.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

/// The source without comments, string literals and `#[cfg(test)]` items.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if text[i..].starts_with("//") {
            i += text[i..].find('\n').unwrap_or(b.len() - i);
        } else if text[i..].starts_with("/*") {
            i += text[i..].find("*/").map_or(b.len() - i, |e| e + 2);
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if text[i..].starts_with("#[cfg(test)]") {
            // Skip the attribute and the item after it: up to its `;` or its balanced `{…}`.
            i += "#[cfg(test)]".len();
            let mut depth = 0usize;
            while i < b.len() {
                match b[i] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    b';' if depth == 0 => {
                        i += 1;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
        } else {
            let c = text[i..].chars().next().expect("char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Every path written after `crate::` or `super::` (with `{a::b, c}` groups expanded), as segments.
fn paths_after(code: &str, keyword: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(keyword) {
        let before_ok = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        rest = &rest[at + keyword.len()..];
        if !before_ok {
            continue;
        }
        expand(rest, Vec::new(), &mut found);
    }
    found
}

fn ident_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len())
}

/// Reads `a::b::{c, d::e}` at the start of `s` onto `prefix`.
fn expand(s: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let s = s.trim_start();
    if let Some(group) = s.strip_prefix('{') {
        let mut depth = 0usize;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand(&group[start..i], prefix.clone(), out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&group[start..i], prefix.clone(), out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let n = ident_len(s);
    if n == 0 {
        if !prefix.is_empty() {
            out.push(prefix);
        }
        return;
    }
    let mut path = prefix;
    path.push(s[..n].to_string());
    match s[n..].strip_prefix("::") {
        Some(more) => expand(more, path, out),
        None => out.push(path),
    }
}

/// The longest prefix of `path` that is a module with a file of its own.
fn resolve(path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| modules.contains(m))
}

fn import_graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = repo_path("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| {
        let rel = f.strip_prefix(&src).expect("under src");
        rel != Path::new("main.rs") && !rel.starts_with("cli")
    });
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(&src, f)).collect();
    let lib = code_of(&std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs"));
    let mut reexports: BTreeMap<String, Module> = BTreeMap::new();
    for p in paths_after(&lib.replace("pub use ", "pub use crate::"), "crate::") {
        if let (Some(last), Some(m)) = (p.last(), resolve(&p, &modules)) {
            reexports.insert(last.clone(), m);
        }
    }
    let mut graph = BTreeMap::new();
    for file in &files {
        let me = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("read source");
        let code = code_of(&text);
        // `super` of `a/b.rs` is `a`; of `a/b/mod.rs` it is `a` as well.
        let parent: Module = me[..me.len().saturating_sub(1)].to_vec();
        let mut targets = BTreeSet::new();
        for p in paths_after(&code, "crate::") {
            // `crate::Engine` goes through lib.rs's re-export to the module that defines it.
            let via_root = p.first().and_then(|n| reexports.get(n));
            targets.extend(via_root.cloned().or_else(|| resolve(&p, &modules)));
        }
        for p in paths_after(&code, "super::") {
            let mut full = parent.clone();
            full.extend(p);
            targets.extend(resolve(&full, &modules));
        }
        // A module naming its own children (`mod x;`, re-exports) or its ancestors' `mod.rs` is not
        // an import between peers.
        targets.retain(|t| t != &me && !me.starts_with(t) && !t.is_empty());
        graph.insert(me, targets);
    }
    graph
}

/// Strongly connected components of more than one module (Tarjan).
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let Some((w, _)) = graph.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.found.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.found
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_file_imports_another_that_imports_it_back() {
    let graph = import_graph();
    assert!(graph.len() > 50, "read only {} modules", graph.len());
    let found = circles(&graph);
    let report: Vec<String> = found
        .iter()
        .map(|c| c.iter().map(name).collect::<Vec<_>>().join(" ↔ "))
        .collect();
    assert!(
        found.is_empty(),
        "import circles in src/:\n{}",
        report.join("\n")
    );
}

#[test]
fn imports_point_down_the_layers() {
    let graph = import_graph();
    let mut wrong = Vec::new();
    for (from, targets) in &graph {
        let Some(top) = from.first() else { continue };
        let Some(lf) = layer_of(top) else {
            wrong.push(format!("{}: a top-level module not in LAYERS", name(from)));
            continue;
        };
        for to in targets {
            let (Some(tt), true) = (to.first(), to.first() != from.first()) else {
                continue;
            };
            match layer_of(tt) {
                Some(lt) if lt < lf => {}
                _ => wrong.push(format!("{} → {}", name(from), name(to))),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_groups_nested_paths_and_circles() {
    let code = code_of(
        "use crate::{a::{b, c::D}, e};\n// crate::commented\nlet x = \"crate::quoted\";\n\
         #[cfg(test)]\nmod tests { use crate::hidden; }\nfn f() { super::g::h(); }",
    );
    let got = paths_after(&code, "crate::");
    let want: Vec<Vec<String>> = [vec!["a", "b"], vec!["a", "c", "D"], vec!["e"]]
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        paths_after(&code, "super::"),
        vec![vec!["g".to_string(), "h".to_string()]]
    );
    let m = |s: &str| -> Module { s.split("::").map(String::from).collect() };
    let mut g = BTreeMap::new();
    g.insert(m("a"), BTreeSet::from([m("b")]));
    g.insert(m("b"), BTreeSet::from([m("c")]));
    g.insert(m("c"), BTreeSet::from([m("a")]));
    g.insert(m("d"), BTreeSet::from([m("a")]));
    assert_eq!(circles(&g), vec![vec![m("a"), m("b"), m("c")]]);
}
