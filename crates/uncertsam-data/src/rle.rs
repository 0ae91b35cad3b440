//! COCO run-length encoding, bit-exact with pycocotools (`maskApi.c`).
//!
//! Runs are taken over the mask in column-major (Fortran) order and alternate background and
//! foreground, starting with background (so the first run may be 0).
//! The compressed string writes each run `x` (from the fourth run on, `x - runs[i - 2]`) as
//! little-endian groups of 5 bits; each group becomes one character `48 + g`, with bit 5 (0x20)
//! set while more groups follow. The last group's bit 4 is the sign, as in LEB128.

use base64::Engine as _;

use crate::error::RleError;
use crate::mask::Mask;

/// The largest mask the decoder accepts (2^30 pixels, e.g. 32768 x 32768), so that a short
/// string cannot ask for an unbounded allocation.
pub const MAX_PIXELS: u64 = 1 << 30;

/// An uncompressed COCO RLE: a mask size and its column-major runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rle {
    /// Mask height.
    pub height: usize,
    /// Mask width.
    pub width: usize,
    /// Alternating background/foreground run lengths in column-major order.
    pub counts: Vec<u32>,
}

impl Rle {
    /// Run-length encodes a mask exactly as `pycocotools.mask.encode` does.
    pub fn encode(mask: &Mask) -> Self {
        let (h, w) = (mask.height(), mask.width());
        let data = mask.data();
        let mut counts = Vec::new();
        let mut previous = 0u8;
        let mut run = 0u32;
        for x in 0..w {
            for y in 0..h {
                let v = data[y * w + x];
                if v != previous {
                    counts.push(run);
                    run = 0;
                    previous = v;
                }
                run += 1;
            }
        }
        counts.push(run);
        Self {
            height: h,
            width: w,
            counts,
        }
    }

    /// Checks that the runs cover exactly `height * width` pixels.
    pub fn validate(&self) -> Result<(), RleError> {
        let expected = (self.height as u64)
            .checked_mul(self.width as u64)
            .filter(|&n| n <= MAX_PIXELS)
            .ok_or(RleError::TooLarge {
                height: self.height,
                width: self.width,
            })?;
        let covered: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        if covered != expected {
            return Err(RleError::WrongLength {
                covered,
                expected,
                height: self.height,
                width: self.width,
            });
        }
        Ok(())
    }

    /// Expands the runs into a row-major mask.
    pub fn decode(&self) -> Result<Mask, RleError> {
        self.validate()?;
        let (h, w) = (self.height, self.width);
        let mut data = vec![0u8; h * w];
        let mut pos = 0usize;
        for (i, &run) in self.counts.iter().enumerate() {
            let end = pos + run as usize;
            if i % 2 == 1 {
                for p in pos..end {
                    // Column-major position p is (x = p / h, y = p % h).
                    data[(p % h) * w + p / h] = 1;
                }
            }
            pos = end;
        }
        Mask::from_vec(h, w, data).ok_or(RleError::WrongLength {
            covered: pos as u64,
            expected: (h * w) as u64,
            height: h,
            width: w,
        })
    }

    /// Foreground pixel count (`pycocotools.mask.area`): the sum of the odd runs.
    pub fn area(&self) -> u64 {
        self.counts
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&c| u64::from(c))
            .sum()
    }

    /// The compressed string, identical to pycocotools' `counts` bytes.
    pub fn to_compressed(&self) -> String {
        let mut s = String::with_capacity(self.counts.len() * 2);
        for (i, &c) in self.counts.iter().enumerate() {
            let mut x = i64::from(c);
            if i > 2 {
                x -= i64::from(self.counts[i - 2]);
            }
            loop {
                let mut group = (x & 0x1f) as u8;
                x >>= 5;
                let more = if group & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    group |= 0x20;
                }
                s.push(char::from(group + 48));
                if !more {
                    break;
                }
            }
        }
        s
    }

    /// Parses a compressed string for a mask of the given size.
    ///
    /// Stricter than pycocotools, which reads any byte: characters must lie in 48..=111, the
    /// string must not end inside a count, and runs must cover the mask exactly.
    pub fn from_compressed(height: usize, width: usize, s: &[u8]) -> Result<Self, RleError> {
        let mut counts: Vec<u32> = Vec::new();
        let mut p = 0;
        while p < s.len() {
            let start = p;
            let mut x: i128 = 0;
            let mut k = 0u32;
            loop {
                let Some(&byte) = s.get(p) else {
                    return Err(RleError::Truncated { offset: start });
                };
                if !(48..=111).contains(&byte) {
                    return Err(RleError::InvalidChar { offset: p, byte });
                }
                let c = i128::from(byte - 48);
                // 13 groups hold 65 bits, more than any valid count needs.
                if k >= 13 {
                    return Err(RleError::CountOutOfRange {
                        index: counts.len(),
                        value: x,
                    });
                }
                x |= (c & 0x1f) << (5 * k);
                p += 1;
                k += 1;
                if c & 0x20 == 0 {
                    if c & 0x10 != 0 {
                        x |= -1i128 << (5 * k);
                    }
                    break;
                }
            }
            let m = counts.len();
            if m > 2 {
                x += i128::from(counts[m - 2]);
            }
            let count =
                u32::try_from(x).map_err(|_| RleError::CountOutOfRange { index: m, value: x })?;
            counts.push(count);
        }
        let rle = Self {
            height,
            width,
            counts,
        };
        rle.validate()?;
        Ok(rle)
    }
}

/// Decodes an UncertSAM `counts` field: base64 of the compressed RLE string.
pub(crate) fn decode_base64_counts(
    height: usize,
    width: usize,
    counts: &str,
) -> Result<Result<Mask, RleError>, base64::DecodeError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(counts)?;
    Ok(Rle::from_compressed(height, width, &bytes).and_then(|rle| rle.decode()))
}

/// Encodes a mask as an UncertSAM `counts` field: base64 of the compressed RLE string.
pub fn encode_base64_counts(mask: &Mask) -> String {
    base64::engine::general_purpose::STANDARD.encode(Rle::encode(mask).to_compressed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_round_trip(mask: &Mask) {
        let rle = Rle::encode(mask);
        let s = rle.to_compressed();
        let back = Rle::from_compressed(mask.height(), mask.width(), s.as_bytes());
        assert_eq!(back.as_ref(), Ok(&rle));
        assert_eq!(rle.decode().as_ref(), Ok(mask));
        assert_eq!(rle.area(), mask.area());
    }

    #[test]
    fn empty_and_full_masks_round_trip() {
        check_round_trip(&Mask::zeros(3, 4));
        check_round_trip(&Mask::from_fn(3, 4, |_, _| true));
        check_round_trip(&Mask::zeros(0, 5));
    }

    #[test]
    fn runs_are_column_major() {
        // Only the top-right pixel of a 2x3 mask: column-major index 4.
        let mask = Mask::from_fn(2, 3, |x, y| x == 2 && y == 0);
        assert_eq!(Rle::encode(&mask).counts, vec![4, 1, 1]);
    }

    #[test]
    fn short_runs_are_rejected_with_their_coverage() {
        let err = Rle::from_compressed(2, 2, b"1").unwrap_err();
        assert!(matches!(
            err,
            RleError::WrongLength {
                covered: 1,
                expected: 4,
                ..
            }
        ));
    }

    #[test]
    fn characters_outside_the_alphabet_are_rejected() {
        let err = Rle::from_compressed(1, 1, b"1 ").unwrap_err();
        assert_eq!(
            err,
            RleError::InvalidChar {
                offset: 1,
                byte: b' '
            }
        );
    }

    #[test]
    fn a_string_ending_with_a_continuation_bit_is_truncated() {
        // '0' + 0x20 = 'P' sets the continuation bit.
        let err = Rle::from_compressed(1, 1, b"P").unwrap_err();
        assert_eq!(err, RleError::Truncated { offset: 0 });
    }
}
