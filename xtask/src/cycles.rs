//! `cargo xtask cycles`: finds module-level import cycles in every crate of the workspace.
//!
//! A module is a source file (`src/a/b.rs` or `src/a/b/mod.rs` is `a::b`; `src/lib.rs`,
//! `src/main.rs` and `src/bin/*.rs` are roots). Module `m` imports module `n` when a line
//! of `m` that is not a comment names `crate::...` or `super::...` resolving to `n` (the
//! longest module prefix of the path). Imports of a module's own ancestors (the crate
//! root's re-exports, a parent's `mod.rs`) and descendants are the tree, not edges. A cycle
//! is a strongly connected component of more than one module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module paths (`["a", "b"]`) to the module paths they import.
pub type Graph = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

/// The import graph of the crate whose sources are under `src`.
pub fn crate_graph(src: &Path) -> std::io::Result<Graph> {
    let mut files = Vec::new();
    collect(src, &mut files)?;
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .into_iter()
        .filter_map(|f| module_path(src, &f).map(|m| (m, f)))
        .collect();
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    let mut graph = Graph::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file)?;
        let edges = graph.entry(module.clone()).or_default();
        for path in imported_paths(&text, module) {
            if let Some(target) = longest_module(&path, &known)
                && !target.starts_with(module)
                && !module.starts_with(&target)
            {
                edges.insert(target);
            }
        }
    }
    Ok(graph)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `src/a/b.rs` -> `["a", "b"]`; roots (`lib.rs`, `main.rs`, `bin/*.rs`) -> `[]`; `None`
/// for roots of other targets, which are separate module trees.
fn module_path(src: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts == ["lib"] {
        return Some(Vec::new());
    }
    if parts == ["main"] || parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    Some(parts)
}

/// Every `crate::...` / `super::...` path named on a non-comment line of `text`, as absolute
/// module paths (`use crate::{a, b::c}` gives `a` and `b::c`).
fn imported_paths(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(module))] {
            let mut rest = code;
            while let Some(i) = rest.find(prefix) {
                let before = rest[..i].chars().last();
                rest = &rest[i + prefix.len()..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let mut base = base.clone();
                while let Some(r) = rest.strip_prefix("super::").filter(|_| prefix == "super::") {
                    base = parent(&base);
                    rest = r;
                }
                for tail in expand(rest) {
                    let mut path = base.clone();
                    path.extend(tail);
                    out.push(path);
                }
            }
        }
    }
    out
}

fn parent(module: &[String]) -> Vec<String> {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// The paths after `crate::`: `a::b::C` -> `[[a, b, C]]`, `{a, b::c}` -> `[[a], [b, c]]`.
fn expand(rest: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> Vec<String> {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(s.len());
        s[..end]
            .split("::")
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect()
    };
    if let Some(group) = rest.strip_prefix('{') {
        let end = group.find('}').unwrap_or(group.len());
        group[..end]
            .split(',')
            .map(|p| ident(p.trim()))
            .filter(|p| !p.is_empty())
            .collect()
    } else {
        vec![ident(rest)]
    }
}

fn longest_module(path: &[String], known: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| known.contains(p))
}

/// The import cycles of `graph`: its strongly connected components of two or more modules.
pub fn cycles(graph: &Graph) -> Vec<Vec<Vec<String>>> {
    let nodes: Vec<&Vec<String>> = graph.keys().collect();
    let reach = |from: &Vec<String>| -> BTreeSet<Vec<String>> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for m in graph.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(*n) {
            continue;
        }
        let component: Vec<Vec<String>> = nodes
            .iter()
            .filter(|m| *m == n || (reachable[*n].contains(**m) && reachable[**m].contains(*n)))
            .map(|m| (*m).clone())
            .collect();
        done.extend(component.iter().cloned());
        if component.len() > 1 {
            out.push(component);
        }
    }
    out
}

/// The cycles of every crate under `crates/` and of `xtask`, as printable lines.
pub fn workspace_cycles(root: &Path) -> std::io::Result<Vec<String>> {
    let mut srcs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))?
        .filter_map(|e| e.ok().map(|e| e.path().join("src")))
        .filter(|p| p.is_dir())
        .collect();
    srcs.push(root.join("xtask/src"));
    srcs.sort();
    let mut out = Vec::new();
    for src in srcs {
        for cycle in cycles(&crate_graph(&src)?) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            out.push(format!("{}: {}", src.display(), names.join(" <-> ")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_found_and_the_tree_is_not_one() {
        let dir = std::env::temp_dir().join(format!("xtask-cycles-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("p")).expect("dir");
        let write = |f: &str, t: &str| std::fs::write(dir.join(f), t).expect("write");
        write("lib.rs", "mod a; mod b; mod c; mod p; pub use a::X;");
        write("a.rs", "use crate::{b::Y, X};\n// crate::c is a comment");
        write("b.rs", "pub fn f() { crate::a::g() }");
        write("c.rs", "use crate::p::q::Z; use super::a;");
        write("p/mod.rs", "pub mod q; use q::Z;");
        write("p/q.rs", "use super::super::c; use crate::p::W;");
        let graph = crate_graph(&dir).expect("graph");
        let found = cycles(&graph);
        assert_eq!(found.len(), 2, "{graph:?}");
        assert_eq!(found[0], [vec!["a".to_string()], vec!["b".to_string()]]);
        assert_eq!(found[1].len(), 2, "c <-> p::q");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn no_crate_of_the_workspace_has_a_module_import_cycle() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let found = workspace_cycles(&root).expect("sources");
        assert!(
            found.is_empty(),
            "module import cycles:\n{}",
            found.join("\n")
        );
    }
}
