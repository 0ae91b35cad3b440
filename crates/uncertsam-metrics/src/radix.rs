//! The O(n) sort behind the pixel-level rankings of [`crate::ranking`]: f32 scores as
//! order-preserving `u32` keys in `(key << 32) | payload` entries, one MSD pass on the top
//! digit, then each bucket sorted while it is in cache (radix on the bits that vary within it,
//! or by comparison when it is small).

/// Order-preserving `u32` key of a finite f32; −0.0 and +0.0 get the same key.
#[inline]
pub(crate) fn key(x: f32) -> u32 {
    let b = (x + 0.0).to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// Bits of the most significant radix digit, sorted first.
pub(crate) const TOP_BITS: usize = 11;
/// Bits of each of the two lower digits, sorted within a top-digit bucket.
pub(crate) const LOW_BITS: usize = 11;
/// Buckets per radix digit.
pub(crate) const RADIX: usize = 1 << TOP_BITS;
/// Top-digit buckets at most this long are sorted by comparison instead of by radix.
pub(crate) const SMALL_BUCKET: usize = 256;
/// Payload bit that carries the label of an entry (indices are below 2^31).
pub(crate) const LABEL_BIT: u64 = 1 << 31;

/// The key of a `(key << 32) | payload` entry.
#[inline]
pub(crate) fn entry_key(x: u64) -> u32 {
    (x >> 32) as u32
}

/// Exclusive prefix sums of a histogram, into `offset`.
pub(crate) fn prefix_sums(h: &[u32], offset: &mut [usize]) {
    let mut total = 0;
    for (o, &c) in offset.iter_mut().zip(h) {
        *o = total;
        total += c as usize;
    }
}

/// Sorts the entries `(key << 32) | payload` that `entries` yields ascending by key (the
/// order of equal keys is unspecified): [`top_digit_scatter`], then [`sort_buckets`]. `v`
/// and `buf` are scratch space; the sorted entries end up in `v`.
pub(crate) fn radix_sort(
    entries: impl Iterator<Item = u64> + Clone,
    v: &mut Vec<u64>,
    buf: &mut Vec<u64>,
) {
    let hist = top_digit_scatter(entries, v);
    sort_buckets(v, buf, &hist);
}

/// One MSD radix pass on the top 11 bits of the key, scattering straight from `entries`
/// (iterated twice, once for the histogram) into `v`; returns the bucket sizes.
pub(crate) fn top_digit_scatter(
    entries: impl Iterator<Item = u64> + Clone,
    v: &mut Vec<u64>,
) -> Vec<u32> {
    let shift = 32 - TOP_BITS;
    let mut hist = vec![0u32; RADIX];
    let mut n = 0usize;
    for x in entries.clone() {
        hist[(entry_key(x) >> shift) as usize] += 1;
        n += 1;
    }
    if v.len() != n {
        *v = vec![0; n];
    }
    let mut offset = vec![0usize; RADIX];
    prefix_sums(&hist, &mut offset);
    for x in entries {
        let b = (entry_key(x) >> shift) as usize;
        v[offset[b]] = x;
        offset[b] += 1;
    }
    hist
}

/// Sorts every top-digit bucket of `v` (sizes `hist`) on its own, while it is still in cache
/// ([`sort_bucket`]); `buf` is scratch space.
pub(crate) fn sort_buckets(v: &mut [u64], buf: &mut Vec<u64>, hist: &[u32]) {
    if buf.len() != v.len() {
        *buf = vec![0; v.len()];
    }
    let mut low_hist = Box::new([[0u32; RADIX]; 2]);
    let mut offset = Box::new([0usize; RADIX]);
    let mut start = 0;
    for &c in hist {
        let end = start + c as usize;
        sort_bucket(
            &mut v[start..end],
            &mut buf[start..end],
            &mut low_hist,
            &mut offset,
        );
        start = end;
    }
}

/// Sorts entries that share the top 11 key bits by the lower 21: by comparison when short,
/// else by an LSD radix sort over just the bits that vary within the bucket (one or two
/// digits of at most 11 bits). `buf` is scratch space of the same length, `hist` and `offset`
/// scratch histograms.
pub(crate) fn sort_bucket(
    v: &mut [u64],
    buf: &mut [u64],
    hist: &mut [[u32; RADIX]; 2],
    offset: &mut [usize; RADIX],
) {
    if v.len() <= SMALL_BUCKET {
        v.sort_unstable();
        return;
    }
    let (or, and) = v.iter().fold((0u32, u32::MAX), |(or, and), &x| {
        (or | entry_key(x), and & entry_key(x))
    });
    let varying = or ^ and;
    if varying == 0 {
        return;
    }
    let lowest = varying.trailing_zeros() as usize;
    let span = 32 - varying.leading_zeros() as usize - lowest;
    let passes = span.div_ceil(LOW_BITS);
    let bits = span.div_ceil(passes);
    let size = 1usize << bits;
    // `mask` < RADIX, so digits index the fixed-size histograms without bounds checks.
    let mask = ((1u32 << bits) - 1) & (RADIX as u32 - 1);
    let (shift0, shift1) = (lowest, lowest + bits);
    let digit0 = |x: u64| ((entry_key(x) >> shift0) & mask) as usize;
    let digit1 = |x: u64| ((entry_key(x) >> shift1) & mask) as usize;
    let [h0, h1] = hist;
    h0[..size].fill(0);
    if passes == 1 {
        for &x in v.iter() {
            h0[digit0(x)] += 1;
        }
        scatter(v, buf, &h0[..size], offset, digit0);
        // The sorted entries are in `buf`.
        v.copy_from_slice(buf);
    } else {
        h1[..size].fill(0);
        for &x in v.iter() {
            h0[digit0(x)] += 1;
            h1[digit1(x)] += 1;
        }
        scatter(v, buf, &h0[..size], offset, digit0);
        scatter(buf, v, &h1[..size], offset, digit1);
    }
}

/// One stable counting-sort pass: `src` into `dst` by `digit` (below [`RADIX`]), whose
/// histogram is `hist`.
#[inline]
pub(crate) fn scatter(
    src: &[u64],
    dst: &mut [u64],
    hist: &[u32],
    offset: &mut [usize; RADIX],
    digit: impl Fn(u64) -> usize,
) {
    prefix_sums(hist, offset);
    for &x in src {
        let b = digit(x) & (RADIX - 1);
        dst[offset[b]] = x;
        offset[b] += 1;
    }
}

/// `(key << 32) | payload` of an f32 value.
#[inline]
pub(crate) fn entry(x: f32, payload: u32) -> u64 {
    (u64::from(key(x)) << 32) | u64::from(payload)
}
