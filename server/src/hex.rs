//! Lower-case hex digits, written a buffer at a time: a page writes a few hundred checksums,
//! and pushing them a character at a time took a third of the instructions of rendering items.

/// Each byte's two digits.
const PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [DIGITS[byte >> 4], DIGITS[byte & 15]];
        byte += 1;
    }
    pairs
};

/// Writes `bytes` as hex digits into `out` (twice their length; extra room is left alone).
pub fn write(out: &mut [u8], bytes: &[u8]) {
    for (pair, &byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&PAIRS[usize::from(byte)]);
    }
}

/// Appends a SHA-256 digest as 64 hex digits.
pub fn push_sha256(out: &mut String, digest: &[u8; 32]) {
    let mut text = [0u8; 64];
    write(&mut text, digest);
    out.push_str(std::str::from_utf8(&text).expect("hex digits are ASCII"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn digits_are_lower_case_and_in_order() {
        let mut text = String::new();
        let mut digest = [0u8; 32];
        digest[0] = 0xAB;
        digest[31] = 0x0F;
        super::push_sha256(&mut text, &digest);
        assert_eq!(text.len(), 64);
        assert!(text.starts_with("ab00") && text.ends_with("000f"), "{text}");
    }
}
