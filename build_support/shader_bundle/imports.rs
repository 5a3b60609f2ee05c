//! `#import name` resolution against `shaders/common/name.wgsl`: each common file inlined at most
//! once, cycles and missing files refused, and a map of where each imported file's text lies (so an
//! error or a struct can be attributed to the file it came from).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// Where an imported common file's text lies in a resolved shader (byte range of the output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRegion {
    /// Common file stem, e.g. `plan` for `shaders/common/plan.wgsl`.
    pub file: String,
    /// Byte range of its text in the resolved source (nested imports lie inside).
    pub range: std::ops::Range<usize>,
}

/// A shader's WGSL with its imports inlined, and where each import landed.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The WGSL.
    pub source: String,
    /// One region per inlined common file.
    pub regions: Vec<ImportRegion>,
}

impl Resolved {
    /// The innermost common file that byte `at` of the source came from, if any.
    pub fn origin_of(&self, at: usize) -> Option<&str> {
        self.regions
            .iter()
            .filter(|r| r.range.contains(&at))
            .min_by_key(|r| r.range.len())
            .map(|r| r.file.as_str())
    }
}

/// Inlines `#import name` lines (each common file at most once per shader, recursively).
pub fn resolve_imports(source: &str, common_dir: &Path, origin: &str) -> Result<String, String> {
    resolve_imports_mapped(source, common_dir, origin).map(|r| r.source)
}

/// [`resolve_imports`], also recording where each common file's text landed, so that reflection can
/// tell a struct or constant of `common/plan.wgsl` from one of the shader itself.
pub fn resolve_imports_mapped(
    source: &str,
    common_dir: &Path,
    origin: &str,
) -> Result<Resolved, String> {
    let mut seen = BTreeSet::new();
    let mut resolved = Resolved {
        source: String::new(),
        regions: Vec::new(),
    };
    resolve_into(source, common_dir, origin, &mut seen, &mut resolved, 0)?;
    Ok(resolved)
}

fn resolve_into(
    source: &str,
    common_dir: &Path,
    origin: &str,
    seen: &mut BTreeSet<String>,
    out: &mut Resolved,
    depth: usize,
) -> Result<(), String> {
    if depth > 16 {
        return Err(format!(
            "{origin}: #import nesting deeper than 16 (a cycle?)"
        ));
    }
    for (line_no, line) in source.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("#import") {
            let name = rest.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "{origin}:{}: malformed #import '{trimmed}'",
                    line_no + 1
                ));
            }
            if !seen.insert(name.to_string()) {
                continue;
            }
            let path = common_dir.join(format!("{name}.wgsl"));
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "{origin}:{}: #import {name}: cannot read {}: {e}",
                    line_no + 1,
                    path.display()
                )
            })?;
            let _ = writeln!(out.source, "// ---- begin import {name} ----");
            let start = out.source.len();
            resolve_into(
                &text,
                common_dir,
                &format!("common/{name}.wgsl"),
                seen,
                out,
                depth + 1,
            )?;
            out.regions.push(ImportRegion {
                file: name.to_string(),
                range: start..out.source.len(),
            });
            let _ = writeln!(out.source, "// ---- end import {name} ----");
        } else {
            out.source.push_str(line);
            out.source.push('\n');
        }
    }
    Ok(())
}
