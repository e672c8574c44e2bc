//! The walls between layers, checked: the pure core never reaches into the OS layer,
//! the pipeline or the command line, and never touches files or clocks itself; the OS
//! layer knows no report, renderer, pipeline or command line; no two modules import
//! each other; and no function outgrows a screenful or two.
//!
//! The checks read the source as text, without a compiler. Except the first (a line
//! scan), they blank comments, string literals and `#[cfg(test)]` items first, so only
//! what ships is judged, and they resolve `crate::`, `self::`, `super::` and submodule
//! paths to the file that defines the module, following `pub use` re-exports.

#![allow(clippy::disallowed_methods, reason = "this test reads the source tree")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const PURE: &[&str] = &[
    "src/model",
    "src/wire",
    "src/attrib",
    "src/account",
    "src/render",
    "src/engine.rs",
    "src/annotate.rs",
    "src/report.rs",
];

const FORBIDDEN: &[&str] = &[
    "crate::os",
    "crate::pipeline",
    "crate::cli",
    "std::fs",
    "std::net::TcpStream",
    "Instant::now",
    "SystemTime::now",
    "std::process",
];

/// What `os/` must not import: it hands plain data to the core, and knows nothing of
/// what is made of it.
const ABOVE_OS: &[&str] = &["report", "render", "pipeline", "cli"];

/// The longest a function body may be, in lines of code (blank and comment-only lines
/// not counted).
const MAX_FN_LINES: usize = 80;

/// Functions allowed past [`MAX_FN_LINES`], as (file, function): none. An entry must
/// say why; the test fails while an entry names a function that is no longer too long.
const LONG_FN_ALLOWED: &[(&str, &str)] = &[];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

#[test]
fn pure_core_uses_no_os_layer_files_or_clocks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for p in PURE {
        rust_files(&root.join(p), &mut files);
    }
    assert!(
        files.len() >= 15,
        "expected the core's files, found {files:?}"
    );
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for f in FORBIDDEN {
                if line.contains(f) {
                    violations.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the core crossed a wall:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_os_layer_imports_no_report_renderer_pipeline_or_command_line() {
    let crate_ = Crate::read();
    let mut violations = Vec::new();
    for (from, to, at) in crate_.imports() {
        if from.first().is_some_and(|m| m == "os")
            && to.first().is_some_and(|m| ABOVE_OS.contains(&m.as_str()))
        {
            violations.push(format!("{at}: os imports crate::{}", to.join("::")));
        }
    }
    assert!(
        violations.is_empty(),
        "the OS layer reached up:\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other() {
    let crate_ = Crate::read();
    // Every module and every directory of modules, at every depth: `wire::fast` and
    // `wire::summary` may not import each other, nor may `os` and `report` (through any
    // of their files). A module and its own submodules are one unit, not a pair.
    let mut edges: BTreeMap<(Vec<String>, Vec<String>), String> = BTreeMap::new();
    for (from, to, at) in crate_.imports() {
        for a in 1..=from.len() {
            for b in 1..=to.len() {
                let (a, b) = (from[..a].to_vec(), to[..b].to_vec());
                if !nested(&a, &b) {
                    edges.entry((a, b)).or_insert_with(|| at.clone());
                }
            }
        }
    }
    let mut pairs = Vec::new();
    for ((a, b), at) in &edges {
        if a < b {
            if let Some(back) = edges.get(&(b.clone(), a.clone())) {
                pairs.push(format!(
                    "{} <-> {} ({at} imports the second; {back} the first)",
                    a.join("::"),
                    b.join("::")
                ));
            }
        }
    }
    assert!(
        pairs.is_empty(),
        "modules that import each other:\n{}",
        pairs.join("\n")
    );
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let crate_ = Crate::read();
    let mut offenders = Vec::new();
    let mut allowed_seen = BTreeSet::new();
    for file in &crate_.files {
        for f in functions(&file.code) {
            if f.lines <= MAX_FN_LINES {
                continue;
            }
            let key = (file.path.as_str(), f.name.as_str());
            if let Some(allowed) = LONG_FN_ALLOWED.iter().find(|a| **a == key) {
                allowed_seen.insert(allowed);
                continue;
            }
            offenders.push(format!(
                "{}:{}: fn {} is {} lines",
                file.path, f.line, f.name, f.lines
            ));
        }
    }
    assert!(
        offenders.is_empty(),
        "functions longer than {MAX_FN_LINES} lines (split them):\n{}",
        offenders.join("\n")
    );
    let stale: Vec<_> = LONG_FN_ALLOWED
        .iter()
        .filter(|a| !allowed_seen.contains(a))
        .collect();
    assert!(
        stale.is_empty(),
        "these are no longer too long: remove them from LONG_FN_ALLOWED: {stale:?}"
    );
}

/// Whether one module is the other or contains it.
fn nested(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The library's source files (not the binary's `main.rs`, nor files compiled only for
/// tests), each with its code blanked of comments, strings and test-only items.
struct Crate {
    files: Vec<SourceFile>,
    modules: BTreeSet<Vec<String>>,
    /// (module, name) → the module that defines what the module re-exports as `name`
    /// (`pub use summary::PacketSummary` in `wire`), so an import through a parent's
    /// re-export counts as an import of the module behind it.
    reexports: BTreeMap<(Vec<String>, String), Vec<String>>,
}

struct SourceFile {
    /// Relative to the crate root, e.g. `src/wire/fast.rs`.
    path: String,
    /// `["wire", "fast"]`; empty for `lib.rs`.
    module: Vec<String>,
    code: String,
}

impl Crate {
    fn read() -> Crate {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = Vec::new();
        rust_files(&root.join("src"), &mut paths);
        let mut files = Vec::new();
        let mut test_only = BTreeSet::new();
        for path in paths {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let Some(module) = module_of(&rel) else {
                continue;
            };
            let text = std::fs::read_to_string(&path).unwrap();
            let (code, test_mods) = without_tests(&blank_comments_and_strings(&text));
            for m in test_mods {
                let mut child = module.clone();
                child.push(m);
                test_only.insert(child);
            }
            files.push(SourceFile {
                path: rel,
                module,
                code,
            });
        }
        files.retain(|f| !test_only.iter().any(|t| f.module.starts_with(t)));
        assert!(files.len() >= 40, "expected the crate's files");
        let modules = files.iter().map(|f| f.module.clone()).collect();
        let mut crate_ = Crate {
            files,
            modules,
            reexports: BTreeMap::new(),
        };
        // Twice, so a re-export of a re-export is followed too.
        for _ in 0..2 {
            let mut reexports = BTreeMap::new();
            for file in &crate_.files {
                for path in reexported(&file.code) {
                    let (Some(name), Some(to)) = (path.last(), crate_.resolve(&file.module, &path))
                    else {
                        continue;
                    };
                    if to != file.module {
                        reexports.insert((file.module.clone(), name.clone()), to);
                    }
                }
            }
            crate_.reexports = reexports;
        }
        crate_
    }

    /// Every import of one module by another: (importer, imported, `file:line`).
    fn imports(&self) -> Vec<(Vec<String>, Vec<String>, String)> {
        let mut out = Vec::new();
        for file in &self.files {
            for (path, line) in paths(&file.code) {
                if let Some(to) = self.resolve(&file.module, &path) {
                    if to != file.module {
                        out.push((file.module.clone(), to, format!("{}:{line}", file.path)));
                    }
                }
            }
        }
        out
    }

    /// The module a path names (the longest prefix that is a module, followed through
    /// re-exports), for paths that start at `crate`, `self`, `super` or a submodule.
    fn resolve(&self, here: &[String], path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?.as_str();
        let (mut at, mut rest): (Vec<String>, &[String]) = match first {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (here.to_vec(), &path[1..]),
            "super" => (here[..here.len().saturating_sub(1)].to_vec(), &path[1..]),
            _ if self.modules.contains(&[here, &path[..1]].concat()) => (here.to_vec(), path),
            _ => return None,
        };
        while rest.first().is_some_and(|s| s == "super") {
            at.pop();
            rest = &rest[1..];
        }
        for segment in rest {
            let mut next = at.clone();
            next.push(segment.clone());
            if self.modules.contains(&next) {
                at = next;
            } else if let Some(to) = self.reexports.get(&(at.clone(), segment.clone())) {
                at = to.clone();
            } else {
                break;
            }
        }
        Some(at)
    }
}

/// `src/wire/fast.rs` → `["wire", "fast"]`; `src/lib.rs` → `[]`; `None` for the binary.
fn module_of(rel: &str) -> Option<Vec<String>> {
    let inner = rel.strip_prefix("src/")?.strip_suffix(".rs")?;
    if inner == "main" {
        return None;
    }
    if inner == "lib" {
        return Some(Vec::new());
    }
    let inner = inner.strip_suffix("/mod").unwrap_or(inner);
    Some(inner.split('/').map(String::from).collect())
}

/// The source with every comment and the inside of every string and character literal
/// replaced by spaces; line breaks are kept, so line numbers still hold.
fn blank_comments_and_strings(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (next == Some('"') || next == Some('#'))
            && raw_string_prefix(&c, i)
            && raw_string_at(&c, i + 1).is_some()
        {
            let hashes = raw_string_at(&c, i + 1).unwrap_or(0);
            out.push('r');
            i += 1;
            for _ in 0..hashes {
                out.push('#');
            }
            out.push('"');
            i += hashes + 1;
            while i < c.len() {
                if c[i] == '"' && (0..hashes).all(|h| c.get(i + 1 + h) == Some(&'#')) {
                    out.push('"');
                    i += 1;
                    for _ in 0..hashes {
                        out.push('#');
                    }
                    i += hashes;
                    break;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c[i] == '\'' && char_literal_len(&c, i).is_some() {
            let len = char_literal_len(&c, i).unwrap_or(1);
            out.push('\'');
            for _ in 1..len - 1 {
                out.push(' ');
            }
            out.push('\'');
            i += len;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Whether the `r` at `at` starts a raw string (`r"`, `br"`), not ends an identifier.
fn raw_string_prefix(c: &[char], at: usize) -> bool {
    let before = |n: usize| at.checked_sub(n).map(|p| c[p]);
    !ident_char(before(1)) || (before(1) == Some('b') && !ident_char(before(2)))
}

/// At `at`, `#*"` opening a raw string: how many `#`.
fn raw_string_at(c: &[char], at: usize) -> Option<usize> {
    let hashes = c[at..].iter().take_while(|&&ch| ch == '#').count();
    (c.get(at + hashes) == Some(&'"')).then_some(hashes)
}

/// The length of a character literal starting at `at` (a `'`), or `None` for a lifetime.
fn char_literal_len(c: &[char], at: usize) -> Option<usize> {
    if c.get(at + 1) == Some(&'\\') {
        let close = c[at + 2..].iter().position(|&ch| ch == '\'')?;
        return Some(close + 3);
    }
    (c.get(at + 2) == Some(&'\'')).then_some(3)
}

/// The code with every `#[cfg(test)]` item blanked, and the names of the modules so
/// declared in other files (`#[cfg(test)] mod tests;`).
fn without_tests(code: &str) -> (String, Vec<String>) {
    const MARK: &[char] = &['#', '[', 'c', 'f', 'g', '(', 't', 'e', 's', 't', ')', ']'];
    let mut c: Vec<char> = code.chars().collect();
    let mut test_mods = Vec::new();
    let mut start = 0;
    while let Some(found) = c[start..].windows(MARK.len()).position(|w| w == MARK) {
        let begin = start + found;
        // The item runs to its first `;` outside braces, or to the brace closing its
        // first `{`.
        let mut end = begin;
        let mut depth = 0usize;
        while end < c.len() {
            match c[end] {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                ';' if depth == 0 => break,
                _ => {}
            }
            end += 1;
        }
        let end = end.min(c.len() - 1);
        let item: String = c[begin..=end].iter().collect();
        if c[end] == ';' {
            let mut words = item.split_whitespace().skip_while(|w| *w != "mod");
            if let Some(name) = words.nth(1) {
                test_mods.push(name.trim_end_matches(';').to_string());
            }
        }
        for ch in &mut c[begin..=end] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        start = end;
    }
    (c.into_iter().collect(), test_mods)
}

/// Every path the code names that starts at `crate`, `self` or `super`, with its line:
/// the whole trees of `use` declarations, and paths written inline.
fn paths(code: &str) -> Vec<(Vec<String>, usize)> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (tok, line) = (&tokens[i].0, tokens[i].1);
        if tok == "use" {
            let end = tokens[i..]
                .iter()
                .position(|t| t.0 == ";")
                .map_or(tokens.len(), |p| i + p);
            let tree: Vec<&str> = tokens[i + 1..end].iter().map(|t| t.0.as_str()).collect();
            for path in use_tree(&tree, &mut 0) {
                out.push((path, line));
            }
            i = end;
        } else if matches!(tok.as_str(), "crate" | "self" | "super")
            && tokens.get(i + 1).is_some_and(|t| t.0 == "::")
            && (i == 0 || tokens[i - 1].0 != "::")
        {
            let mut path = vec![tok.clone()];
            let mut j = i + 1;
            while tokens.get(j).is_some_and(|t| t.0 == "::")
                && tokens.get(j + 1).is_some_and(|t| is_ident(&t.0))
            {
                path.push(tokens[j + 1].0.clone());
                j += 2;
            }
            out.push((path, line));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The paths a file re-exports: those of its `pub use` and `pub(crate) use` trees.
fn reexported(code: &str) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    for (i, (tok, _)) in tokens.iter().enumerate() {
        if tok != "pub" {
            continue;
        }
        // `pub use`, `pub(crate) use`, `pub(super) use`.
        let after = if tokens.get(i + 1).is_some_and(|t| t.0 == "(") {
            i + 4
        } else {
            i + 1
        };
        if tokens.get(after).is_none_or(|t| t.0 != "use") {
            continue;
        }
        let end = tokens[after..]
            .iter()
            .position(|t| t.0 == ";")
            .map_or(tokens.len(), |p| after + p);
        let tree: Vec<&str> = tokens[after + 1..end]
            .iter()
            .map(|t| t.0.as_str())
            .collect();
        out.extend(use_tree(&tree, &mut 0));
    }
    out
}

/// The paths of a `use` tree (`a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`).
fn use_tree(t: &[&str], at: &mut usize) -> Vec<Vec<String>> {
    let mut prefix = Vec::new();
    let mut out = Vec::new();
    while *at < t.len() {
        match t[*at] {
            "{" => {
                *at += 1;
                loop {
                    for tail in use_tree(t, at) {
                        out.push(prefix.iter().cloned().chain(tail).collect());
                    }
                    match t.get(*at) {
                        Some(&",") => *at += 1,
                        _ => break,
                    }
                }
                *at += 1; // the closing brace
                return out;
            }
            "," | "}" => break,
            "::" | "*" => *at += 1,
            "as" => *at += 2,
            s if s.starts_with("pub") || s == "(" || s == ")" => *at += 1,
            s => {
                prefix.push(s.to_string());
                *at += 1;
            }
        }
    }
    if !prefix.is_empty() {
        out.push(prefix);
    }
    out
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::` and single punctuation characters, each with its line.
fn tokenize(code: &str) -> Vec<(String, usize)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        if c[i] == '\n' {
            line += 1;
            i += 1;
        } else if c[i].is_whitespace() {
            i += 1;
        } else if c[i].is_alphanumeric() || c[i] == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((c[start..i].iter().collect(), line));
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push(("::".into(), line));
            i += 2;
        } else {
            out.push((c[i].to_string(), line));
            i += 1;
        }
    }
    out
}

struct Function {
    name: String,
    /// Where `fn` is.
    line: usize,
    /// Lines of code in the body (blank and comment-only lines left out).
    lines: usize,
}

/// Every function with a body, nested ones included (a nested function's lines count
/// in the function around it too).
fn functions(code: &str) -> Vec<Function> {
    let tokens = tokenize(code);
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, (tok, line)) in tokens.iter().enumerate() {
        // `fn(u8) -> u8` is a type, not a function.
        if tok != "fn" || !tokens.get(i + 1).is_some_and(|t| is_ident(&t.0)) {
            continue;
        }
        let mut j = i + 2;
        let mut parens = 0i32;
        while j < tokens.len() {
            match tokens[j].0.as_str() {
                "(" => parens += 1,
                ")" => parens -= 1,
                "{" | ";" if parens == 0 => break,
                _ => {}
            }
            j += 1;
        }
        if tokens.get(j).is_none_or(|t| t.0 == ";") {
            continue; // a declaration in a trait
        }
        let open = tokens[j].1;
        let mut depth = 0;
        let mut close = open;
        for t in &tokens[j..] {
            match t.0.as_str() {
                "{" => depth += 1,
                "}" => {
                    depth -= 1;
                    if depth == 0 {
                        close = t.1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = (open..close.saturating_sub(1))
            .filter(|&n| lines.get(n).is_some_and(|l| !l.trim().is_empty()))
            .count();
        out.push(Function {
            name: tokens[i + 1].0.clone(),
            line: *line,
            lines: body,
        });
    }
    out
}
