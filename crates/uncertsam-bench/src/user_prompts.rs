//! Prompts a user types (`predict --box x0,y0,x1,y1 --point x,y[,label]`): parsed, and checked
//! against the image before any model sees them. Every malformed or out-of-image prompt is an
//! error naming the text and the image size; nothing here panics (fuzzed:
//! `tests/it/fuzz_prompts.rs`).

use uncertsam_sam::PromptRow;

/// A prompt that does not parse or does not fit the image.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum PromptError {
    /// `--point` is not `x,y` or `x,y,label` with label 0 or 1.
    #[error("--point `{0}` is not x,y[,label] with numbers x, y and label 0 or 1")]
    Point(String),
    /// `--box` is not four numbers.
    #[error("--box `{0}` is not x0,y0,x1,y1 (four numbers)")]
    Box(String),
    /// A coordinate is NaN or infinite.
    #[error("{what} has a coordinate that is not a finite number")]
    NotFinite {
        /// The prompt, as the user gave it.
        what: String,
    },
    /// A coordinate lies outside the image.
    #[error("{what} lies outside the {width}x{height} image (x in 0..={width}, y in 0..={height})")]
    Outside {
        /// The prompt, as the user gave it.
        what: String,
        /// Image width in pixels.
        width: u32,
        /// Image height in pixels.
        height: u32,
    },
    /// A box whose corners are not top-left then bottom-right.
    #[error("{what} is not a box: need x0 < x1 and y0 < y1")]
    EmptyBox {
        /// The prompt, as the user gave it.
        what: String,
    },
    /// Neither a box nor a point.
    #[error("give at least one --box or --point (a box or a point)")]
    Nothing,
}

fn numbers(s: &str) -> Option<Vec<f64>> {
    s.split(',').map(|x| x.trim().parse::<f64>().ok()).collect()
}

/// Parses `x,y` (a foreground point) or `x,y,label` (label 1 foreground, 0 background).
pub fn parse_point(s: &str) -> Result<([f64; 2], i64), PromptError> {
    match numbers(s).as_deref() {
        Some([x, y]) => Ok(([*x, *y], 1)),
        Some([x, y, l]) if *l == 0.0 || *l == 1.0 => Ok(([*x, *y], *l as i64)),
        _ => Err(PromptError::Point(s.to_owned())),
    }
}

/// Parses `x0,y0,x1,y1`.
pub fn parse_box(s: &str) -> Result<[f64; 4], PromptError> {
    match numbers(s).as_deref() {
        Some(&[a, b, c, d]) => Ok([a, b, c, d]),
        _ => Err(PromptError::Box(s.to_owned())),
    }
}

fn check_inside(what: String, xy: &[f64], width: u32, height: u32) -> Result<String, PromptError> {
    if xy.iter().any(|v| !v.is_finite()) {
        return Err(PromptError::NotFinite { what });
    }
    let (w, h) = (f64::from(width), f64::from(height));
    let inside = xy
        .chunks(2)
        .all(|p| (0.0..=w).contains(&p[0]) && (0.0..=h).contains(&p[1]));
    if inside {
        Ok(what)
    } else {
        Err(PromptError::Outside {
            what,
            width,
            height,
        })
    }
}

/// One prompt row from a user's box and points, each checked against a `width` x `height`
/// image: finite, inside `[0, width] x [0, height]`, a box with `x0 < x1` and `y0 < y1`, and at
/// least one of the two.
pub fn prompt_row(
    bbox: Option<[f64; 4]>,
    points: &[([f64; 2], i64)],
    width: u32,
    height: u32,
) -> Result<PromptRow, PromptError> {
    if bbox.is_none() && points.is_empty() {
        return Err(PromptError::Nothing);
    }
    if let Some(b) = bbox {
        let what = check_inside(format!("box {b:?}"), &b, width, height)?;
        if !(b[0] < b[2] && b[1] < b[3]) {
            return Err(PromptError::EmptyBox { what });
        }
    }
    for (p, _) in points {
        check_inside(format!("point {p:?}"), p, width, height)?;
    }
    Ok(PromptRow {
        points: points.to_vec(),
        bbox,
        mask: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_prompts_parse_and_bad_ones_are_named() {
        assert_eq!(parse_point("3, 4"), Ok(([3.0, 4.0], 1)));
        assert_eq!(parse_point("3,4,0"), Ok(([3.0, 4.0], 0)));
        assert_eq!(
            parse_point("3,4,2"),
            Err(PromptError::Point("3,4,2".into()))
        );
        assert_eq!(parse_box("1,2,30,40"), Ok([1.0, 2.0, 30.0, 40.0]));
        assert!(matches!(parse_box("1,2,3"), Err(PromptError::Box(_))));
        let row = prompt_row(Some([1.0, 2.0, 30.0, 40.0]), &[([5.0, 6.0], 0)], 64, 48).unwrap();
        assert_eq!(row.bbox, Some([1.0, 2.0, 30.0, 40.0]));
        assert_eq!(row.points, vec![([5.0, 6.0], 0)]);
        let outside = prompt_row(Some([1.0, 2.0, 30.0, 50.0]), &[], 64, 48).unwrap_err();
        assert!(
            outside.to_string().contains("outside the 64x48 image"),
            "{outside}"
        );
        let nan = prompt_row(None, &[([f64::NAN, 1.0], 1)], 64, 48).unwrap_err();
        assert!(matches!(nan, PromptError::NotFinite { .. }), "{nan}");
        let flat = prompt_row(Some([5.0, 2.0, 5.0, 9.0]), &[], 64, 48).unwrap_err();
        assert!(matches!(flat, PromptError::EmptyBox { .. }), "{flat}");
        assert_eq!(prompt_row(None, &[], 64, 48), Err(PromptError::Nothing));
    }
}
