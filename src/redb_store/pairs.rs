//! A record's metadata as stored: postcard's encoding of its `(key, value)` pairs in key order,
//! written through serde and read back here by hand.
//!
//! The wire format is postcard's (stable and documented): the number of pairs as a varint,
//! then each key as a varint length and its UTF-8 bytes, and each value as its variant's index
//! (a varint of at most five bytes: postcard reads it as a `u32`) and its contents: a string
//! as a key is, an integer as a zigzag varint, a float as eight bytes little-endian, a boolean
//! as one byte, 0 or 1. [`PairReader`] accepts exactly what postcard would on a 64-bit target,
//! which a property test checks on valid, damaged and random bytes. (On a 32-bit one postcard
//! reads counts and lengths as `u32` varints, of five bytes at most, and would refuse an
//! over-long one that this reader takes; no encoder writes one.)
//!
//! Read by hand because the list walk decodes the metadata of every record it returns: serde's
//! visitor built a `Vec` of pairs for each record only for the walk to copy them into the
//! customer's map and free it (see DESIGN.md, "Metadata read by hand").

use serde::{Deserialize, Serialize};

use super::varint;

/// A metadata value as stored. postcard encodes the variant by its index: the order of the
/// variants is part of the stored format.
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
pub(super) enum StoredValue<'a> {
    String(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// The pairs of one record, read one at a time from their stored bytes.
#[derive(Clone)]
pub(super) struct PairReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Pairs not yet read.
    left: u64,
}

impl<'a> PairReader<'a> {
    /// Starts on `bytes`, which hold the pairs and nothing else; `None` when their count does
    /// not decode.
    pub(super) fn new(bytes: &'a [u8]) -> Option<PairReader<'a>> {
        let mut pos = 0;
        let left = varint::get(bytes, &mut pos)?;
        Some(PairReader { bytes, pos, left })
    }

    /// How many pairs are left to read, as stored (a damaged count may be far too many: the
    /// reads run out first).
    pub(super) fn left(&self) -> u64 {
        self.left
    }

    /// The next pair; `None` when none is left or it does not decode.
    pub(super) fn next_pair(&mut self) -> Option<(&'a str, StoredValue<'a>)> {
        self.left = self.left.checked_sub(1)?;
        let key = self.text()?;
        let value = self.value()?;
        Some((key, value))
    }

    /// Whether every pair has been read and no byte follows the last.
    pub(super) fn finished(&self) -> bool {
        self.left == 0 && self.pos == self.bytes.len()
    }

    fn text(&mut self) -> Option<&'a str> {
        let len = usize::try_from(varint::get(self.bytes, &mut self.pos)?).ok()?;
        let end = self.pos.checked_add(len)?;
        let text = crate::text::utf8(self.bytes.get(self.pos..end)?)?;
        self.pos = end;
        Some(text)
    }

    fn value(&mut self) -> Option<StoredValue<'a>> {
        let start = self.pos;
        let variant = varint::get(self.bytes, &mut self.pos)?;
        // postcard reads a variant index as a `u32`: five bytes at most, even for a small one.
        if self.pos - start > 5 {
            return None;
        }
        Some(match variant {
            0 => StoredValue::String(self.text()?),
            1 => StoredValue::Int(varint::unzigzag(varint::get(self.bytes, &mut self.pos)?)),
            2 => {
                let bytes = self.bytes.get(self.pos..self.pos + 8)?;
                self.pos += 8;
                StoredValue::Float(f64::from_le_bytes(bytes.try_into().ok()?))
            }
            3 => {
                let value = match self.bytes.get(self.pos)? {
                    0 => false,
                    1 => true,
                    _ => return None,
                };
                self.pos += 1;
                StoredValue::Bool(value)
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A value with its float as bits, so that NaN compares equal to itself.
    #[derive(Debug, PartialEq)]
    enum Plain {
        String(String),
        Int(i64),
        Float(u64),
        Bool(bool),
    }

    fn plain((key, value): (&str, StoredValue<'_>)) -> (String, Plain) {
        let value = match value {
            StoredValue::String(s) => Plain::String(s.to_owned()),
            StoredValue::Int(i) => Plain::Int(i),
            StoredValue::Float(f) => Plain::Float(f.to_bits()),
            StoredValue::Bool(b) => Plain::Bool(b),
        };
        (key.to_owned(), value)
    }

    /// Every pair in `bytes`, read by hand; `None` as soon as anything does not decode.
    fn by_hand(bytes: &[u8]) -> Option<Vec<(String, Plain)>> {
        let mut reader = PairReader::new(bytes)?;
        let mut pairs = Vec::new();
        while reader.left() > 0 {
            pairs.push(plain(reader.next_pair()?));
        }
        reader.finished().then_some(pairs)
    }

    /// Every pair in `bytes`, read by postcard, which must use every byte.
    fn by_postcard(bytes: &[u8]) -> Option<Vec<(String, Plain)>> {
        let (pairs, left): (Vec<(&str, StoredValue<'_>)>, _) =
            postcard::take_from_bytes(bytes).ok()?;
        left.is_empty()
            .then(|| pairs.into_iter().map(plain).collect())
    }

    fn values() -> impl Strategy<Value = (String, Plain)> {
        let value = prop_oneof![
            any::<String>().prop_map(Plain::String),
            any::<i64>().prop_map(Plain::Int),
            any::<u64>().prop_map(Plain::Float),
            any::<bool>().prop_map(Plain::Bool),
        ];
        (any::<String>(), value)
    }

    fn encoded(pairs: &[(String, Plain)]) -> Vec<u8> {
        let stored: Vec<(&str, StoredValue<'_>)> = pairs
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Plain::String(s) => StoredValue::String(s),
                    Plain::Int(i) => StoredValue::Int(*i),
                    Plain::Float(bits) => StoredValue::Float(f64::from_bits(*bits)),
                    Plain::Bool(b) => StoredValue::Bool(*b),
                };
                (k.as_str(), v)
            })
            .collect();
        postcard::to_allocvec(&stored).unwrap()
    }

    /// Bytes near a valid encoding: one byte changed, the end cut, or a byte added.
    fn damaged() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(values(), 0..6),
            any::<prop::sample::Index>(),
            any::<u8>(),
            0..3u8,
        )
            .prop_map(|(pairs, at, byte, how)| {
                let mut bytes = encoded(&pairs);
                let i = at.index(bytes.len());
                match how {
                    0 => bytes[i] = byte,
                    1 => bytes.truncate(i),
                    _ => bytes.insert(i, byte),
                }
                bytes
            })
    }

    proptest! {
        /// What postcard writes reads back by hand as it was written.
        #[test]
        fn reads_what_postcard_writes(pairs in proptest::collection::vec(values(), 0..8)) {
            prop_assert_eq!(by_hand(&encoded(&pairs)), Some(pairs));
        }

        /// On any bytes, valid, damaged or random, the hand reader and postcard agree.
        #[test]
        fn agrees_with_postcard(
            bytes in prop_oneof![
                damaged(),
                proptest::collection::vec(any::<u8>(), 0..40),
                // Small counts, short lengths and the variant indexes, often.
                proptest::collection::vec(prop_oneof![0..5u8, Just(0x80), Just(0xFF), any::<u8>()], 0..40),
            ]
        ) {
            prop_assert_eq!(by_hand(&bytes), by_postcard(&bytes));
        }
    }

    /// The corners postcard draws: a variant index over five bytes or over `u32::MAX`, an
    /// integer whose tenth varint byte carries bits past the 64th, a boolean that is neither
    /// 0 nor 1, a cut float.
    #[test]
    fn the_edges_match_postcard() {
        let cases: [&[u8]; 9] = [
            // One pair "a" => Bool(true), the variant index 3 in five bytes: accepted.
            &[1, 1, b'a', 0x83, 0x80, 0x80, 0x80, 0x00, 1],
            // The same index in six bytes: refused.
            &[1, 1, b'a', 0x83, 0x80, 0x80, 0x80, 0x80, 0x00, 1],
            // An integer of ten bytes whose last holds one bit: accepted; two bits: refused.
            &[
                1, 1, b'a', 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
            ],
            &[
                1, 1, b'a', 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02,
            ],
            // A variant index of 2^32 + 3 in five bytes: refused (no such variant).
            &[1, 1, b'a', 0x83, 0x80, 0x80, 0x80, 0x10, 1],
            // A boolean of 2.
            &[1, 1, b'a', 3, 2],
            // A float cut short.
            &[1, 1, b'a', 2, 0, 0, 0, 0, 0, 0, 0],
            // A key that is not UTF-8.
            &[1, 1, 0xFF, 3, 1],
            // Two pairs promised, one given.
            &[2, 1, b'a', 3, 1],
        ];
        for (i, bytes) in cases.iter().enumerate() {
            assert_eq!(by_hand(bytes), by_postcard(bytes), "case {i}");
        }
        assert!(by_hand(cases[0]).is_some());
        assert!(by_hand(cases[2]).is_some());
        assert!(by_hand(cases[1]).is_none());
        assert!(by_hand(cases[3]).is_none());
        assert!(by_hand(cases[4]).is_none());
    }
}
