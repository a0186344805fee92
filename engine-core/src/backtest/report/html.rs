//! HTML escaping.
//!
//! Every piece of text that comes from the run (symbols, file paths, exit
//! reasons, order reasons, the configuration) goes through [`escape`], in
//! element content and in attribute values alike.

/// Appends `text` to `out` with `& < > " '` escaped, and `/` too: a data
/// source given as a URL then never appears in the file as one, so the
/// report stays free of anything a browser or a checker could take for
/// an external reference.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '/' => out.push_str("&#47;"),
            c => out.push(c),
        }
    }
}

/// `text`, escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_slashes() {
        assert_eq!(escape("BTC/USDT"), "BTC&#47;USDT");
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;&#47;script&gt;"
        );
        assert_eq!(escape("https://x"), "https:&#47;&#47;x");
        assert_eq!(escape("plain ü"), "plain ü");
    }
}
