//! How counts read in what tessera prints: `1 file`, `2 files`, `9,184`.

/// `1 partial tile`, `2 partial tiles`: a count with the noun that fits it.
pub fn counted(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// `9184` as `9,184`: figures read by people.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (k, digit) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(counted(0, "partial tile", "partial tiles"), "0 partial tiles");
        assert_eq!(counted(1, "partial tile", "partial tiles"), "1 partial tile");
        assert_eq!(counted(2, "partial tile", "partial tiles"), "2 partial tiles");
    }

    #[test]
    fn thousands_are_separated() {
        let cases = [(0, "0"), (999, "999"), (1_000, "1,000"), (9_184, "9,184"), (11_399_940, "11,399,940")];
        for (n, text) in cases {
            assert_eq!(thousands(n), text);
        }
    }
}
