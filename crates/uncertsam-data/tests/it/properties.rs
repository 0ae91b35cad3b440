//! Property tests: the decoders never panic on arbitrary input, and RLE round-trips.

use proptest::prelude::*;
use std::path::Path;
use uncertsam_data::annotations::AnnotationsFile;
use uncertsam_data::{Mask, Rle};

fn mask_strategy() -> impl Strategy<Value = Mask> {
    (0usize..24, 0usize..24, any::<u64>(), 0u8..=4).prop_map(|(h, w, seed, density)| {
        let mut s = seed;
        Mask::from_fn(h, w, |_, _| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 33) % 4) < u64::from(density)
        })
    })
}

proptest! {
    #[test]
    fn rle_round_trips_through_the_compressed_string(mask in mask_strategy()) {
        let rle = Rle::encode(&mask);
        prop_assert_eq!(rle.area(), mask.area());
        let s = rle.to_compressed();
        let back = Rle::from_compressed(mask.height(), mask.width(), s.as_bytes()).expect("own output parses");
        prop_assert_eq!(&back, &rle);
        prop_assert_eq!(back.decode().expect("valid"), mask);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_rle_decoder(h in 0usize..64, w in 0usize..64, bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(rle) = Rle::from_compressed(h, w, &bytes) {
            let mask = rle.decode().expect("validated RLE decodes");
            prop_assert_eq!(mask.area(), rle.area());
        }
    }

    #[test]
    fn arbitrary_rle_alphabet_strings_never_panic(h in 0usize..1_000_000, w in 0usize..1_000_000, s in "[0-o]{0,40}") {
        let _ = Rle::from_compressed(h, w, s.as_bytes()).and_then(|r| r.decode());
    }

    #[test]
    fn arbitrary_text_never_panics_the_json_decoder(s in "\\PC{0,200}") {
        let _ = AnnotationsFile::parse(Path::new("x.json"), s.as_bytes());
    }

    #[test]
    fn json_like_annotations_never_panic_when_decoded(
        id in any::<u64>(), h in 0usize..5000, w in 0usize..5000, counts in "[A-Za-z0-9+/=]{0,40}"
    ) {
        let text = format!(
            r#"{{"annotations":[{{"id":{id},"image_id":1,"segmentation":{{"size":[{h},{w}],"counts":"{counts}"}},"area":1}}]}}"#
        );
        let file = AnnotationsFile::parse(Path::new("x.json"), text.as_bytes()).expect("valid JSON shape");
        let _ = file.annotations[0].decode_mask(Path::new("x.json"));
    }
}
