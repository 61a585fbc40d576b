//! Values from the network made fit for the page: cut to a size a projector
//! can show, whatever a peer sent. The page itself only ever puts them in as
//! text (`textContent`), never as markup.

use networkzero::Value;

/// Longest name or topic shown, in characters.
pub const MAX_LABEL: usize = 200;
/// Longest piece of data (a news item, a reply) shown, in characters.
pub const MAX_DATA: usize = 2000;

/// `text` cut to at most `max` characters, saying how much was left out.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => {
            let left = text.len() - cut;
            format!("{}… ({left} more bytes)", &text[..cut])
        }
    }
}

/// `value` as indented JSON, cut to [`MAX_DATA`] characters.
pub fn pretty(value: &Value) -> String {
    // Serializing a `Value` cannot fail.
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
    truncate(&text, MAX_DATA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "abc… (1 more bytes)");
        assert_eq!(truncate("ééé", 1), "é… (4 more bytes)");
        let huge = Value::String("x".repeat(1 << 20));
        let shown = pretty(&huge);
        assert!(shown.chars().count() < MAX_DATA + 40, "{}", shown.len());
        assert!(shown.ends_with("more bytes)"));
        assert_eq!(pretty(&serde_json::json!({"a": 1})), "{\n  \"a\": 1\n}");
    }
}
