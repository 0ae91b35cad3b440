//! `cargo xtask compare-rows A/rows.csv B/rows.csv [--fail-above X]`: the largest absolute
//! difference per numeric column between two benchmark `rows.csv` files (e.g. a CPU and a CUDA
//! run of the same command), rows matched by `dataset,image_id,mask_id,estimator`.
//!
//! Std only (this crate must stay instant to build); `rows.csv` is plain comma separated
//! numbers and names without quoting (`uncertsam_bench::report::merge` writes it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The columns that identify a row; every other column is compared as a number.
const KEY_COLUMNS: [&str; 4] = ["dataset", "image_id", "mask_id", "estimator"];

/// One parsed `rows.csv`.
#[derive(Debug)]
pub struct Rows {
    /// Header names, in file order.
    pub header: Vec<String>,
    /// Row key (the [`KEY_COLUMNS`] joined by `,`) to the row's fields.
    pub rows: BTreeMap<String, Vec<String>>,
}

/// Parses `text` (the contents of a `rows.csv`); `what` names it in errors.
pub fn parse(text: &str, what: &str) -> Result<Rows> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .with_context(|| format!("{what}: empty file"))?
        .split(',')
        .map(str::to_string)
        .collect();
    let key_idx: Vec<usize> = KEY_COLUMNS
        .iter()
        .map(|k| {
            header
                .iter()
                .position(|h| h == k)
                .with_context(|| format!("{what}: no `{k}` column"))
        })
        .collect::<Result<_>>()?;
    let mut rows = BTreeMap::new();
    for (n, line) in lines.enumerate() {
        let fields: Vec<String> = line.split(',').map(str::to_string).collect();
        if fields.len() != header.len() {
            bail!(
                "{what}: line {} has {} fields, the header {}",
                n + 2,
                fields.len(),
                header.len()
            );
        }
        let key = key_idx
            .iter()
            .map(|&i| fields[i].as_str())
            .collect::<Vec<_>>()
            .join(",");
        if rows.insert(key.clone(), fields).is_some() {
            bail!("{what}: row `{key}` appears twice");
        }
    }
    Ok(Rows { header, rows })
}

/// The comparison of one numeric column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDiff {
    /// Column name.
    pub column: String,
    /// Largest |a - b| over the rows where both are finite numbers (0 when there are none).
    pub max_abs_diff: f64,
    /// The row key where it occurs (empty when no row has two finite values).
    pub worst_row: String,
    /// Rows where both values are finite numbers.
    pub compared: usize,
    /// Rows where one side is a finite number and the other is empty, NaN or not a number.
    pub mismatched: usize,
}

/// Per-column differences of `a` and `b`, which must have the same header and the same row keys.
pub fn compare(a: &Rows, b: &Rows) -> Result<Vec<ColumnDiff>> {
    if a.header != b.header {
        bail!(
            "the headers differ:\n  {}\n  {}",
            a.header.join(","),
            b.header.join(",")
        );
    }
    let only_a: Vec<&String> = a.rows.keys().filter(|k| !b.rows.contains_key(*k)).collect();
    let only_b: Vec<&String> = b.rows.keys().filter(|k| !a.rows.contains_key(*k)).collect();
    if !only_a.is_empty() || !only_b.is_empty() {
        bail!(
            "the row keys differ: {} only in the first (e.g. {:?}), {} only in the second (e.g. {:?})",
            only_a.len(),
            only_a.first(),
            only_b.len(),
            only_b.first()
        );
    }
    let value = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
    let mut out = Vec::new();
    for (i, column) in a.header.iter().enumerate() {
        if KEY_COLUMNS.contains(&column.as_str()) {
            continue;
        }
        let mut d = ColumnDiff {
            column: column.clone(),
            max_abs_diff: 0.0,
            worst_row: String::new(),
            compared: 0,
            mismatched: 0,
        };
        for (key, ra) in &a.rows {
            let rb = &b.rows[key];
            match (value(&ra[i]), value(&rb[i])) {
                (Some(x), Some(y)) => {
                    d.compared += 1;
                    let diff = (x - y).abs();
                    if d.worst_row.is_empty() || diff > d.max_abs_diff {
                        d.max_abs_diff = diff;
                        d.worst_row = key.clone();
                    }
                }
                (None, None) => {}
                _ => d.mismatched += 1,
            }
        }
        out.push(d);
    }
    Ok(out)
}

/// The report: one line per column, largest difference first.
pub fn render(diffs: &[ColumnDiff], rows: usize) -> String {
    let mut sorted: Vec<&ColumnDiff> = diffs.iter().collect();
    sorted.sort_by(|x, y| y.max_abs_diff.total_cmp(&x.max_abs_diff));
    let mut s = format!(
        "{rows} rows, {} numeric columns\n{:<32} {:>12} {:>9} {:>10}  worst row\n",
        diffs.len(),
        "column",
        "max |diff|",
        "compared",
        "one-sided"
    );
    for d in sorted {
        let _ = writeln!(
            s,
            "{:<32} {:>12.3e} {:>9} {:>10}  {}",
            d.column, d.max_abs_diff, d.compared, d.mismatched, d.worst_row
        );
    }
    s
}

/// The task: prints the report; fails when the files do not line up, when a value is finite on
/// one side only, or when `--fail-above X` is given and a column differs by more than X.
pub fn run(args: &[String]) -> Result<std::process::ExitCode> {
    let mut files = Vec::new();
    let mut fail_above = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--fail-above" {
            let v = it.next().context("--fail-above needs a value")?;
            fail_above = Some(
                v.parse::<f64>()
                    .with_context(|| format!("--fail-above `{v}`"))?,
            );
        } else {
            files.push(a.clone());
        }
    }
    let [fa, fb] = files.as_slice() else {
        bail!("usage: cargo xtask compare-rows A/rows.csv B/rows.csv [--fail-above X]");
    };
    let read = |f: &str| -> Result<Rows> {
        let text = std::fs::read_to_string(Path::new(f)).with_context(|| format!("reading {f}"))?;
        parse(&text, f)
    };
    let (a, b) = (read(fa)?, read(fb)?);
    let diffs = compare(&a, &b)?;
    print!("{}", render(&diffs, a.rows.len()));
    let one_sided: usize = diffs.iter().map(|d| d.mismatched).sum();
    let over: Vec<&ColumnDiff> = fail_above
        .map(|t| diffs.iter().filter(|d| d.max_abs_diff > t).collect())
        .unwrap_or_default();
    if one_sided > 0 {
        eprintln!("{one_sided} values are finite in one file only");
    }
    if let Some(t) = fail_above
        && !over.is_empty()
    {
        eprintln!("{} columns differ by more than {t:e}", over.len());
    }
    Ok(if one_sided > 0 || !over.is_empty() {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "dataset,image_id,mask_id,estimator,iou_pred,iou,ece\n\
                     S,0,1,entropy,0.9,0.80,0.010\n\
                     S,0,2,entropy,0.8,0.70,NaN\n\
                     S,1,1,tta,,0.50,0.020\n";

    #[test]
    fn identical_files_differ_by_zero_everywhere() {
        let a = parse(A, "a").unwrap();
        let d = compare(&a, &parse(A, "b").unwrap()).unwrap();
        assert_eq!(d.len(), 3);
        assert!(d.iter().all(|c| c.max_abs_diff == 0.0 && c.mismatched == 0));
        let iou = d.iter().find(|c| c.column == "iou").unwrap();
        assert_eq!(iou.compared, 3);
        // The empty iou_pred and the NaN ece are absent on both sides: not compared.
        assert_eq!(d[0].compared, 2);
        assert_eq!(d[2].compared, 2);
    }

    #[test]
    fn the_largest_difference_and_its_row_are_reported_in_any_row_order() {
        let b = "dataset,image_id,mask_id,estimator,iou_pred,iou,ece\n\
                 S,1,1,tta,,0.50,0.020\n\
                 S,0,2,entropy,0.8,0.75,NaN\n\
                 S,0,1,entropy,0.9,0.79,0.010\n";
        let d = compare(&parse(A, "a").unwrap(), &parse(b, "b").unwrap()).unwrap();
        let iou = d.iter().find(|c| c.column == "iou").unwrap();
        assert!((iou.max_abs_diff - 0.05).abs() < 1e-12);
        assert_eq!(iou.worst_row, "S,0,2,entropy");
        assert!(render(&d, 3).lines().nth(2).unwrap().starts_with("iou "));
    }

    #[test]
    fn a_value_finite_on_one_side_only_is_counted() {
        let b = A.replace("0.70,NaN", "0.70,0.5");
        let d = compare(&parse(A, "a").unwrap(), &parse(&b, "b").unwrap()).unwrap();
        let ece = d.iter().find(|c| c.column == "ece").unwrap();
        assert_eq!((ece.mismatched, ece.compared), (1, 2));
    }

    #[test]
    fn different_rows_or_headers_are_errors_that_say_what_differs() {
        let a = parse(A, "a").unwrap();
        let fewer = parse(&A.replace("S,1,1,tta,,0.50,0.020\n", ""), "b").unwrap();
        let e = compare(&a, &fewer).unwrap_err().to_string();
        assert!(e.contains("1 only in the first"), "{e}");
        let other = parse(&A.replace(",ece", ",nll"), "b").unwrap();
        assert!(
            compare(&a, &other)
                .unwrap_err()
                .to_string()
                .contains("headers")
        );
        let ragged = parse("dataset,image_id,mask_id,estimator,x\nS,0,1,e\n", "r");
        assert!(ragged.unwrap_err().to_string().contains("line 2"));
        let dup = parse(&format!("{A}S,0,1,entropy,0.9,0.80,0.010\n"), "d");
        assert!(dup.unwrap_err().to_string().contains("twice"));
    }
}
