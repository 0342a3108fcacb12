//! Titles of sessions (issue #13): an unnamed session, one whose name the server made up,
//! is shown by its prompt's first words, in the web UI and in `agentpipe-web sessions`.

/// Whether `name` is one the server made up (SPEC 2.4) rather than one the producer
/// gave: `Conversation YYYY-MM-DD HH:MM UTC`, or the placeholder `Conversation <first 8
/// characters of the id>` of a conversation whose start has not arrived.
pub fn is_default_name(name: &str, id: &str) -> bool {
    let Some(rest) = name.strip_prefix("Conversation ") else {
        return false;
    };
    if rest == id.chars().take(8).collect::<String>() {
        return true;
    }
    // YYYY-MM-DD HH:MM UTC
    let b = rest.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 | 16 => *c == b' ',
            13 => *c == b':',
            17..=19 => c.is_ascii_uppercase(),
            _ => c.is_ascii_digit(),
        })
        && rest.ends_with(" UTC")
}

/// Longest title made from a prompt, in characters (an ellipsis is added when cut).
pub const TITLE_CHARS: usize = 60;

/// The first words of a prompt as a title (issue #13): Markdown markers dropped
/// (headings, quotes, list bullets, emphasis and code ticks), whitespace collapsed, cut
/// after the first sentence when that ends within [`TITLE_CHARS`], else at the last word
/// boundary before it with `…`. `None` when the prompt has no letters or digits.
pub fn prompt_title(prompt: &str) -> Option<String> {
    let mut words: Vec<&str> = Vec::new();
    for line in prompt.lines() {
        let line = line.trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, '#' | '>' | '-' | '*' | '+' | '|')
        });
        words.extend(line.split_whitespace());
        if words.join(" ").chars().count() > TITLE_CHARS * 2 {
            break;
        }
    }
    let text: String = words
        .join(" ")
        .chars()
        .filter(|c| !matches!(c, '*' | '`'))
        .collect();
    let text = text.trim();
    if !text.chars().any(char::is_alphanumeric) {
        return None;
    }
    // The first sentence, when it ends in time and is not a stub like "Hi." or "1.".
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate().take(TITLE_CHARS) {
        let end =
            matches!(c, '.' | '?' | '!') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if end && i >= 12 {
            let keep = if *c == '.' { i } else { i + 1 };
            return Some(chars[..keep].iter().collect());
        }
    }
    if chars.len() <= TITLE_CHARS {
        return Some(text.to_string());
    }
    let cut: String = chars[..TITLE_CHARS].iter().collect();
    let at_word = if chars[TITLE_CHARS].is_whitespace() {
        cut.as_str()
    } else {
        match cut.rfind(char::is_whitespace) {
            Some(i) if i >= TITLE_CHARS / 2 => &cut[..i],
            _ => cut.as_str(),
        }
    };
    let trimmed = at_word.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-' | '(' | '.')
    });
    Some(format!("{trimmed}\u{2026}"))
}

/// The title the UI shows for a session: its name, or for an unnamed one (a name the
/// server made up, see [`is_default_name`]) the first words of its prompt.
pub fn session_title(name: &str, id: &str, prompt: Option<&str>) -> String {
    if is_default_name(name, id) {
        if let Some(t) = prompt.and_then(prompt_title) {
            return t;
        }
    }
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_get_the_prompts_first_words() {
        let id = "abcdef12-3456";
        assert!(is_default_name("Conversation 2026-12-01 07:14 UTC", id));
        assert!(is_default_name("Conversation abcdef12", id));
        assert!(!is_default_name("Conversation about caching", id));
        assert!(!is_default_name("Retry design", id));
        assert_eq!(
            session_title(
                "Conversation 2026-12-01 07:14 UTC",
                id,
                Some("Design a **retry** policy for the uploader.\nKeep it short.")
            ),
            "Design a retry policy for the uploader"
        );
        assert_eq!(
            session_title("Retry design", id, Some("Design a retry policy")),
            "Retry design"
        );
        assert_eq!(
            session_title("Conversation abcdef12", id, Some("  ")),
            "Conversation abcdef12"
        );
        let long = "Compare server-sent events and WebSockets for a live dashboard behind corporate proxies and load balancers";
        let t = session_title("Conversation 2026-12-01 07:14 UTC", id, Some(long));
        assert_eq!(
            t,
            "Compare server-sent events and WebSockets for a live\u{2026}"
        );
        assert!(t.chars().count() <= TITLE_CHARS + 1);
        assert_eq!(
            prompt_title("# Task\n\n- Review `main.rs`?"),
            Some("Task Review main.rs?".into())
        );
        assert_eq!(
            prompt_title("Hi. Tell me a story about a cat"),
            Some("Hi. Tell me a story about a cat".into())
        );
    }
}
