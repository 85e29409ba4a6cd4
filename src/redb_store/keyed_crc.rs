//! The checksum of a version-3 record: CRC-32C of its key (business handle, then id number,
//! little-endian), then of its bytes.
//!
//! Every read of a record computes it, and records are short (about 100 bytes). The `crc32c`
//! crate is built for long inputs: each call splits its input for a three-way parallel loop,
//! and the key and the bytes took a call each, about 335 instructions a record in callgrind
//! over the list walk. On x86-64 with SSE 4.2 (every x86-64 CPU since 2008), a short record is
//! summed here instead, one `crc32` instruction per eight bytes: about 60 instructions. Long
//! records, and other CPUs, use the crate. Both give the same checksum (a property test
//! compares them on any input).

/// Records of up to this many bytes are summed without the crate on x86-64.
#[cfg(target_arch = "x86_64")]
const SHORT: usize = 512;

/// CRC-32C of `business` and `id` (little-endian), then of `body`.
pub(crate) fn keyed_crc(business: u32, id: u64, body: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if body.len() <= SHORT && std::arch::is_x86_feature_detected!("sse4.2") {
        #[allow(unsafe_code)]
        // SAFETY: `sse42` is compiled with SSE 4.2 enabled, and it may run because the CPU has
        // SSE 4.2 (checked just above). That is its only requirement: it is otherwise safe code.
        return unsafe { sse42(business, id, body) };
    }
    portable(business, id, body)
}

/// [`keyed_crc`] through the `crc32c` crate.
fn portable(business: u32, id: u64, body: &[u8]) -> u32 {
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&business.to_le_bytes());
    key[4..].copy_from_slice(&id.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&key), body)
}

/// [`keyed_crc`] with the CPU's CRC-32C instruction. The instruction takes its operand's bytes
/// in little-endian order, as the crate reads them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn sse42(business: u32, id: u64, body: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u32, _mm_crc32_u64};
    let mut crc = _mm_crc32_u32(!0, business);
    let mut wide = _mm_crc32_u64(u64::from(crc), id);
    let mut words = body.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        wide = _mm_crc32_u64(wide, u64::from_le_bytes(bytes));
    }
    // The instruction's result always fits in 32 bits.
    crc = wide as u32;
    for &byte in words.remainder() {
        crc = _mm_crc32_u8(crc, byte);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn matches_the_crate_on_a_known_record() {
        let body = b"\x03\x07the bytes of a record, a little over eight words long";
        assert_eq!(keyed_crc(7, 42, body), portable(7, 42, body));
        assert_eq!(keyed_crc(0, 0, b""), portable(0, 0, b""));
    }

    proptest! {
        /// The fast path and the crate agree on any key and bytes, short and long.
        #[test]
        fn fast_path_matches_the_crate(
            business in any::<u32>(),
            id in any::<u64>(),
            body in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            prop_assert_eq!(keyed_crc(business, id, &body), portable(business, id, &body));
        }
    }
}
