//! Fuzz target of the prompt parser (`predict --box/--point`, `uncertsam_bench::user_prompts`)
//! as a capped property test: 100 000 inputs (`UNCERTSAM_FUZZ_CASES` to change), mutated from
//! valid prompts or drawn at random, then checked against a random image size. Zero panics; an
//! accepted prompt is finite, inside the image, a proper box, and the numbers it was written
//! with. `.ci/run` fixes the seed (`PROPTEST_RNG_SEED`); a longer local run:
//! `UNCERTSAM_FUZZ_CASES=2000000 cargo test -p uncertsam-bench --release --test it fuzz_prompts`.

use proptest::prelude::*;
use uncertsam_bench::user_prompts::{parse_box, parse_point, prompt_row};

fn cases() -> u32 {
    std::env::var("UNCERTSAM_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

/// Text that is often close to a prompt: numbers (also signed, exponent, NaN, inf), commas,
/// spaces and stray characters.
fn prompt_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => (-2000.0f64..2000.0).prop_map(|v| format!("{v}")),
        2 => (0u32..600).prop_map(|v| v.to_string()),
        1 => Just("nan".to_string()),
        1 => Just("-inf".to_string()),
        1 => Just("1e400".to_string()),
        1 => Just(String::new()),
        1 => "[ ,.+eE0-9a-z-]{0,6}",
        1 => any::<String>(),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|p| p.join(","))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_prompt_parser(
        bbox in prop::option::of(prompt_text()),
        points in proptest::collection::vec(prompt_text(), 0..3),
        width in 0u32..2048,
        height in 0u32..2048,
    ) {
        let parsed_box = bbox.as_deref().map(parse_box).transpose();
        let parsed_points: Result<Vec<_>, _> = points.iter().map(|p| parse_point(p)).collect();
        let (Ok(b), Ok(p)) = (parsed_box, parsed_points) else {
            return Ok(());
        };
        if let Ok(row) = prompt_row(b, &p, width, height) {
            let (w, h) = (f64::from(width), f64::from(height));
            prop_assert!(row.bbox.is_some() || !row.points.is_empty());
            if let Some([x0, y0, x1, y1]) = row.bbox {
                prop_assert!(0.0 <= x0 && x0 < x1 && x1 <= w, "{row:?}");
                prop_assert!(0.0 <= y0 && y0 < y1 && y1 <= h, "{row:?}");
            }
            for ([x, y], label) in &row.points {
                prop_assert!((0.0..=w).contains(x) && (0.0..=h).contains(y), "{row:?}");
                prop_assert!(*label == 0 || *label == 1);
            }
            prop_assert_eq!(row.bbox, b);
            prop_assert_eq!(row.points, p);
        }
    }
}

proptest! {
    #[test]
    fn written_prompts_parse_back_to_their_numbers(
        b in prop::array::uniform4(-1e6f64..1e6),
        xy in prop::array::uniform2(-1e6f64..1e6),
        label in 0i64..2,
    ) {
        let text = format!("{},{},{},{}", b[0], b[1], b[2], b[3]);
        prop_assert_eq!(parse_box(&text), Ok(b));
        prop_assert_eq!(parse_point(&format!("{}, {},{label}", xy[0], xy[1])), Ok((xy, label)));
    }
}
