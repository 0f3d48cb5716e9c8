//! The wire contract's constrained strings (`duanka/schemas/types.py`), checked by hand:
//! each function accepts exactly what its pattern there matches.

/// `^[0-9a-f]{64}$`: a pseudonymous identity token.
pub fn is_identity(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `^\+[1-9][0-9]{6,14}$`: an E.164 phone number.
pub fn is_msisdn(s: &str) -> bool {
    match s.as_bytes() {
        [b'+', first, rest @ ..] => {
            (b'1'..=b'9').contains(first)
                && (6..=14).contains(&rest.len())
                && rest.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// `^[a-z0-9_-]{1,32}$`: an institution or source code.
pub fn is_code(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `^[A-Za-z0-9._:-]{1,64}$`: an event, account, device, outlet or company id.
pub fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// `^[A-Z]{3}$`: an ISO 4217 alphabetic currency code.
pub fn is_currency(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity() {
        assert!(is_identity(&"ab12".repeat(16)));
        assert!(!is_identity(&"AB12".repeat(16)));
        assert!(!is_identity(&"ab12".repeat(15)));
        assert!(!is_identity(&format!("{}\n", "ab12".repeat(16))));
    }

    #[test]
    fn msisdn() {
        assert!(is_msisdn("+8613800138000"));
        assert!(is_msisdn("+1234567"));
        assert!(!is_msisdn("+123456"));
        assert!(!is_msisdn("+0234567"));
        assert!(!is_msisdn("8613800138000"));
        assert!(!is_msisdn("+1234567890123456"));
    }

    #[test]
    fn code_id_currency() {
        assert!(is_code("icbc") && is_code("a_b-9") && !is_code("") && !is_code("ICBC"));
        assert!(!is_code(&"a".repeat(33)));
        assert!(is_id("ccb:c0001.x_y-z") && !is_id("a b") && !is_id(&"a".repeat(65)));
        assert!(is_currency("CNY") && !is_currency("cny") && !is_currency("CNYY"));
    }
}
