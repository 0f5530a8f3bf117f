//! Display names of keys and other resources: trimmed, 1 to 100 characters, no control
//! characters. Parsed once at the edge so the rest of the code never re-checks.

use serde::{Deserialize, Serialize};
use std::fmt;

pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_NAME_CHARS} characters (got {0})")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must not contain characters that reorder or hide text (bidirectional controls, zero-width characters)")]
    InvisibleFormatting,
}

/// Characters that change how the text around them is displayed without being seen:
/// Unicode's default-ignorable code points (bidirectional embeddings, overrides and
/// isolates, zero-width characters, fillers, tags) and a few blanks. A name holding them
/// can pass for another in a listing. The emoji variation selectors (U+FE00–FE0F) stay
/// allowed: "❤️" needs one.
fn is_invisible_formatting(c: char) -> bool {
    matches!(c,
        '\u{00AD}' // soft hyphen
        | '\u{034F}' // combining grapheme joiner
        | '\u{061C}' // Arabic letter mark
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
        | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
        | '\u{200B}'..='\u{200F}' // zero-width characters, LRM, RLM
        | '\u{2028}'..='\u{202E}' // line and paragraph separators, embeddings, overrides
        | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates
        | '\u{FEFF}' // zero-width no-break space
        | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
        | '\u{FFF0}'..='\u{FFF8}' // unassigned specials
        | '\u{2800}' // braille blank
        | '\u{13430}'..='\u{1343F}' // Egyptian hieroglyph format controls
        | '\u{1BCA0}'..='\u{1BCA3}' // shorthand format controls
        | '\u{1D173}'..='\u{1D17A}' // musical formatting
        | '\u{E0000}'..='\u{E0FFF}' // tags and variation selectors supplement
    )
}

impl Name {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(NameError::Empty);
        }
        let chars = trimmed.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(NameError::TooLong(chars));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(NameError::ControlCharacter);
        }
        if trimmed.chars().any(is_invisible_formatting) {
            return Err(NameError::InvisibleFormatting);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Name> for String {
    fn from(value: Name) -> Self {
        value.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_hide_or_reorder_text_are_refused() {
        for bad in [
            "acme\u{202E}moc",
            "ac\u{200B}me",
            "\u{2066}x\u{2069}",
            "a\u{061C}b",
            "a\u{00AD}b",
            "a\u{3164}b",
            "a\u{E0041}b",
            "a\u{2028}b",
            "a\u{2800}b",
            "a\u{E0100}b",
            "a\u{1BCA0}b",
        ] {
            assert_eq!(
                Name::parse(bad).unwrap_err(),
                NameError::InvisibleFormatting,
                "{bad:?}"
            );
        }
        assert!(Name::parse("Ünïcödé ✓ 名前").is_ok());
        assert!(Name::parse("\u{2764}\u{FE0F} prod").is_ok());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  CI worker ").unwrap().as_str(), "CI worker");
        assert_eq!(Name::parse("   "), Err(NameError::Empty));
        assert_eq!(
            Name::parse(&"é".repeat(100))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            100
        );
        assert_eq!(Name::parse(&"a".repeat(101)), Err(NameError::TooLong(101)));
        assert_eq!(Name::parse("a\u{7}b"), Err(NameError::ControlCharacter));
    }
}
