//! Customer ids: a `u64` inside, `cust_` + 14 characters of `0-9a-z` outside.
//!
//! The number is `(milliseconds since the Unix epoch << 20) | sequence`: the high bits date the
//! record, the low 20 bits count within a millisecond. A new id is the larger of "now" and the
//! business's previous id + 1, so ids increase strictly within a business even when the clock
//! steps back, and they say nothing about other businesses' activity.
//!
//! The text form is `cust_c` followed by the number in 13 base-36 digits, zero-padded. A fixed
//! width of lower-case digits sorts bytewise like the numbers do, so id order is creation order
//! in both forms.

use std::ops::Bound;

const PREFIX: &str = "cust_";
/// The character that starts every id this store issues, after the prefix.
const LEAD: u8 = b'c';
const DIGITS: usize = 13;
const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// The number of low bits that count ids within one millisecond.
pub(crate) const SEQUENCE_BITS: u32 = 20;

/// Renders an id number as its public text.
pub(crate) fn encode(n: u64) -> String {
    let mut out = String::with_capacity(PREFIX.len() + 1 + DIGITS);
    encode_into(n, &mut out);
    out
}

/// Every pair of base-36 digits, `"00"` to `"zz"`, indexed by its value (0 to 36² - 1).
const PAIRS: [[u8; 2]; 36 * 36] = {
    let mut pairs = [[0; 2]; 36 * 36];
    let mut i = 0;
    while i < 36 * 36 {
        pairs[i] = [ALPHABET[i / 36], ALPHABET[i % 36]];
        i += 1;
    }
    pairs
};

/// Renders an id number as its public text into `out`, replacing what it held.
///
/// The hot path of every read: the digits come two at a time from [`PAIRS`], out of two
/// independent `u32` chains of six digits and the leading digit, and the text goes in with
/// one copy after the ASCII check.
pub(crate) fn encode_into(n: u64, out: &mut String) {
    const HEAD: usize = PREFIX.len() + 1;
    let mut text = [LEAD; HEAD + DIGITS];
    text[..PREFIX.len()].copy_from_slice(PREFIX.as_bytes());
    // 36^6 < 2^32, and n / 36^12 < 36: one digit and two chunks of six cover the 13 digits.
    const CHUNK: u64 = 36u64.pow(6);
    text[HEAD] = ALPHABET[(n / CHUNK / CHUNK) as usize];
    let (middle, low) = text[HEAD + 1..].split_at_mut(6);
    for (slots, chunk) in [middle, low]
        .into_iter()
        .zip([n / CHUNK % CHUNK, n % CHUNK])
    {
        let mut rest = chunk as u32;
        for slot in slots.rchunks_exact_mut(2) {
            slot.copy_from_slice(&PAIRS[(rest % (36 * 36)) as usize]);
            rest /= 36 * 36;
        }
    }
    out.clear();
    match crate::text::utf8(&text) {
        Some(text) => out.push_str(text),
        // Not reached: every byte comes from PREFIX, LEAD or ALPHABET, all ASCII.
        None => out.extend(text.iter().map(|&b| char::from(b))),
    }
}

/// Whether `text` has the shape of an id: `cust_` and 14 characters of `0-9a-z`.
pub(crate) fn is_well_formed(text: &str) -> bool {
    text.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == DIGITS + 1
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    })
}

fn digit_value(b: u8) -> u128 {
    u128::from(if b.is_ascii_digit() {
        b - b'0'
    } else {
        b - b'a' + 10
    })
}

/// The number of an id this store could have issued, or `None` for any other text.
pub(crate) fn decode(text: &str) -> Option<u64> {
    if !is_well_formed(text) {
        return None;
    }
    let rest = &text.as_bytes()[PREFIX.len()..];
    if rest[0] != LEAD {
        return None;
    }
    let n = rest[1..]
        .iter()
        .fold(0u128, |acc, &b| acc * 36 + digit_value(b));
    u64::try_from(n).ok()
}

/// Where a list resumes after `cursor`, as a lower bound on id numbers.
///
/// Every well-formed cursor has a place in id order, even one this store never issued:
/// `Excluded(n)` resumes after id `n`, `Unbounded` starts at the first id, and `None` means no
/// id comes after the cursor. `Err` when the cursor is not well-formed.
pub(crate) fn resume_after(cursor: &str) -> Result<Option<Bound<u64>>, ()> {
    if !is_well_formed(cursor) {
        return Err(());
    }
    let rest = &cursor.as_bytes()[PREFIX.len()..];
    Ok(match rest[0].cmp(&LEAD) {
        std::cmp::Ordering::Less => Some(Bound::Unbounded),
        std::cmp::Ordering::Greater => None,
        std::cmp::Ordering::Equal => decode(cursor).map(Bound::Excluded),
    })
}

/// The next id of a business: after `previous`, and no earlier than `now_ms`.
///
/// A clock past the ids' time range (2^44 ms, in the year 2527) is ignored: the id then
/// follows `previous`. Taking the end of the range instead would use up the business's id
/// space at one wrong reading, for good, since ids never go back.
///
/// `None` only when the id space is exhausted (`previous == u64::MAX`).
pub(crate) fn next(previous: Option<u64>, now_ms: u64) -> Option<u64> {
    let from_clock = now_ms
        .checked_shl(SEQUENCE_BITS)
        .filter(|n| n >> SEQUENCE_BITS == now_ms);
    let from_clock = from_clock.unwrap_or(0);
    match previous {
        None => Some(from_clock),
        Some(previous) => previous.checked_add(1).map(|after| after.max(from_clock)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_is_fixed_width_and_round_trips() {
        for n in [0, 1, 35, 36, 1 << 40, u64::MAX - 1, u64::MAX] {
            let text = encode(n);
            assert_eq!(text.len(), 19, "{text}");
            assert!(is_well_formed(&text));
            assert_eq!(decode(&text), Some(n));
        }
        assert_eq!(encode(0), "cust_c0000000000000");
    }

    /// The text of `n`, one base-36 digit at a time: the plain form `encode_into` must match.
    fn reference(n: u64) -> String {
        let mut digits = Vec::new();
        let mut rest = n;
        for _ in 0..DIGITS {
            digits.push(char::from(ALPHABET[(rest % 36) as usize]));
            rest /= 36;
        }
        let digits: String = digits.into_iter().rev().collect();
        format!("{PREFIX}{}{digits}", char::from(LEAD))
    }

    proptest::proptest! {
        #[test]
        fn encode_matches_the_digit_by_digit_form(n in proptest::prelude::any::<u64>()) {
            let mut reused = String::from("an earlier id, longer than one");
            encode_into(n, &mut reused);
            proptest::prop_assert_eq!(&reused, &reference(n));
            proptest::prop_assert_eq!(decode(&reused), Some(n));
        }
    }

    #[test]
    fn encode_matches_the_digit_by_digit_form_at_the_chunk_edges() {
        let chunk = 36u64.pow(6);
        for n in [chunk - 1, chunk, chunk * chunk - 1, chunk * chunk, u64::MAX] {
            assert_eq!(encode(n), reference(n), "{n}");
        }
    }

    #[test]
    fn text_order_is_number_order() {
        let numbers = [
            0u64,
            1,
            35,
            36,
            1295,
            1296,
            1 << 20,
            (1 << 20) + 1,
            u64::MAX,
        ];
        for pair in numbers.windows(2) {
            assert!(encode(pair[0]) < encode(pair[1]));
        }
    }

    #[test]
    fn decode_refuses_other_text() {
        for text in [
            "",
            "cust_",
            "cust_c000000000000",
            "cust_c00000000000000",
            "cust_C0000000000000",
            "cust_d0000000000000",
            "cus_c00000000000000",
            "cust_c000000000000-",
            // 36^13 - 1 is above u64::MAX
            "cust_czzzzzzzzzzzzz",
        ] {
            assert_eq!(decode(text), None, "{text}");
        }
        // The seed's sample id is well-formed but above the u64 range.
        assert!(is_well_formed("cust_cl8z2lh820000a"));
        assert_eq!(decode("cust_cl8z2lh820000a"), None);
    }

    #[test]
    fn cursor_bounds() {
        assert_eq!(
            resume_after("cust_a0000000000000"),
            Ok(Some(Bound::Unbounded))
        );
        assert_eq!(
            resume_after("cust_00000000000000"),
            Ok(Some(Bound::Unbounded))
        );
        assert_eq!(resume_after("cust_d0000000000000"), Ok(None));
        assert_eq!(resume_after("cust_czzzzzzzzzzzzz"), Ok(None));
        assert_eq!(resume_after(&encode(7)), Ok(Some(Bound::Excluded(7))));
        assert_eq!(resume_after("nope"), Err(()));
        assert_eq!(resume_after("cust_C0000000000000"), Err(()));
    }

    #[test]
    fn next_is_strictly_increasing_even_when_the_clock_steps_back() {
        let first = next(None, 1_000).unwrap();
        assert_eq!(first, 1_000 << SEQUENCE_BITS);
        let second = next(Some(first), 1_000).unwrap();
        assert_eq!(second, first + 1);
        let after_step_back = next(Some(second), 10).unwrap();
        assert_eq!(after_step_back, second + 1);
        let later = next(Some(after_step_back), 2_000).unwrap();
        assert_eq!(later, 2_000 << SEQUENCE_BITS);
        assert_eq!(next(Some(u64::MAX), 0), None);
        // A clock beyond the ids' time range is ignored, so it cannot use up the id space.
        let past_range = 1 << (64 - SEQUENCE_BITS);
        assert_eq!(next(None, past_range), Some(0));
        assert_eq!(next(Some(later), past_range), Some(later + 1));
        assert_eq!(next(Some(later), u64::MAX), Some(later + 1));
        let last_in_range = past_range - 1;
        assert_eq!(
            next(Some(later), last_in_range),
            Some(last_in_range << SEQUENCE_BITS)
        );
    }
}
