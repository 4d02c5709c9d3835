//! The rule for the titles of workspaces and tokens, shared by the API and the CLI.

/// Maximum title length, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TitleError {
    Empty,
    TooLong,
    ControlCharacter,
}

/// Trims surrounding white space and checks that a title has 1 to 255 characters and no
/// control characters. Returns the trimmed title.
pub fn parse_title(raw: &str) -> Result<String, TitleError> {
    let title = raw.trim();

    if title.is_empty() {
        return Err(TitleError::Empty);
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(TitleError::TooLong);
    }
    if title.chars().any(char::is_control) {
        return Err(TitleError::ControlCharacter);
    }

    Ok(title.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_rules() {
        assert_eq!(parse_title("  laptop "), Ok("laptop".to_string()));
        assert_eq!(parse_title(" \t"), Err(TitleError::Empty));
        assert_eq!(parse_title(&"é".repeat(255)), Ok("é".repeat(255)));
        assert_eq!(parse_title(&"a".repeat(256)), Err(TitleError::TooLong));
        assert_eq!(parse_title("a\u{0}b"), Err(TitleError::ControlCharacter));
    }
}
