//! LEB128 varints: seven bits a byte, low bits first, the high bit set on every byte but the
//! last. Used by the posting blocks (`grams`), the record layout (`codec`) and its metadata
//! pairs (`pairs`).

/// Appends `v` as a varint (1 to 10 bytes).
pub(crate) fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads the varint at `*pos` and moves `*pos` past it; `None` when the bytes end first or the
/// value does not fit in a `u64`.
#[inline]
pub(crate) fn get(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    // Most varints of a record (its lengths, its handle) are one byte: inlined where read.
    let first = *bytes.get(*pos)?;
    if first < 0x80 {
        *pos += 1;
        return Some(u64::from(first));
    }
    get_long(bytes, pos)
}

/// [`get`] of a varint of more than one byte.
fn get_long(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        if shift == 63 && b & 0x7F > 1 {
            // Bits past the 64th.
            return None;
        }
        v |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// An `i64` as a `u64` whose varint is short when the number is near zero, either side.
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn round_trips(v in any::<u64>(), s in any::<i64>()) {
            let mut out = Vec::new();
            put(&mut out, v);
            put(&mut out, zigzag(s));
            let mut pos = 0;
            prop_assert_eq!(get(&out, &mut pos), Some(v));
            prop_assert_eq!(get(&out, &mut pos).map(unzigzag), Some(s));
            prop_assert_eq!(pos, out.len());
        }
    }

    #[test]
    fn small_numbers_take_one_byte() {
        for v in [0i64, 1, -1, 63, -64] {
            let mut out = Vec::new();
            put(&mut out, zigzag(v));
            assert_eq!(out.len(), 1, "{v}");
        }
    }

    #[test]
    fn truncated_and_oversized_varints_are_refused() {
        assert_eq!(get(&[0x80], &mut 0), None);
        assert_eq!(get(&[], &mut 0), None);
        // Eleven continuation bytes: more than 64 bits.
        assert_eq!(get(&[0xFF; 11], &mut 0), None);
        // Ten bytes whose last carries bits beyond the 64th.
        let mut too_big = vec![0xFF; 9];
        too_big.push(0x7F);
        assert_eq!(get(&too_big, &mut 0), None);
    }
}
