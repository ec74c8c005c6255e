//! The part of an email the customer wrote this time: mail clients append
//! the whole thread below a reply ("On Mon ... wrote:", Outlook's
//! "From: / Sent:" block), quote lines with `>`, and add signatures and
//! "Sent from my phone" footers. The assistant must answer the new words
//! only, or it answers the thread's old questions again.
//!
//! Written here rather than taken from a crate: the one Rust port of
//! GitHub's email_reply_parser (0.1) compiles its regexes for every line
//! and reads any line holding "-x" as a signature.

/// How a quoted message's attribution line ends, by language: Gmail,
/// Apple Mail and Thunderbird write "On <date>, <name> wrote:".
const ATTRIBUTION_ENDINGS: [&str; 14] = [
    "wrote:",
    "writes:",
    "a écrit :",
    "a écrit:",
    "schrieb:",
    "escribió:",
    "ha scritto:",
    "schreef:",
    "skrev:",
    "escreveu:",
    "napisał:",
    "kirjoitti:",
    "написал:",
    "написал(а):",
];

/// Outlook's separators above a quoted message.
const SEPARATORS: [&str; 5] = [
    "original message",
    "ursprüngliche nachricht",
    "message d'origine",
    "mensaje original",
    "forwarded message",
];

/// Header lines of a quoted message (Outlook writes them without a
/// separator, sometimes in bold: `*From:*`).
const HEADER_NAMES: [&str; 12] = [
    "from:",
    "sent:",
    "to:",
    "subject:",
    "date:",
    "cc:",
    "de :",
    "de:",
    "von:",
    "envoyé :",
    "gesendet:",
    "objet :",
];

/// Phone and app footers, cut when they close the message.
const FOOTERS: [&str; 6] = [
    "sent from my ",
    "get outlook for ",
    "sent from mail for ",
    "sent from yahoo mail",
    "envoyé de mon ",
    "von meinem ",
];

/// The customer's new words in `body`: what comes before the quoted
/// history, without `>` lines, the signature or a phone footer.
/// Empty when the message is nothing but a quote.
pub fn visible_reply(body: &str) -> String {
    let body = body.replace("\r\n", "\n");
    let lines: Vec<&str> = body.lines().collect();
    let end = (0..lines.len())
        .find(|&i| starts_history(&lines, i))
        .unwrap_or(lines.len());
    let mut kept: Vec<&str> = lines[..end]
        .iter()
        .copied()
        .take_while(|line| !is_signature_delimiter(line))
        .filter(|line| !line.trim_start().starts_with('>'))
        .collect();
    // A footer closing the message (its last non-blank lines).
    while let Some(last) = kept.iter().rposition(|l| !l.trim().is_empty()) {
        if last + 3 >= kept.len() && is_footer(kept[last]) {
            kept.truncate(last);
        } else {
            break;
        }
    }
    collapse_blank_lines(&kept)
}

/// Whether the quoted history starts at line `i`.
fn starts_history(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let lower = line.to_lowercase();
    if is_attribution(&lower, quote_follows(lines, i + 1)) {
        return true;
    }
    // An attribution wrapped onto a second line ("... Shop <\nshop@x> wrote:").
    if let Some(next) = lines.get(i + 1) {
        let joined = format!("{lower} {}", next.trim().to_lowercase());
        if starts_like_attribution(&lower) && is_attribution(&joined, quote_follows(lines, i + 2)) {
            return true;
        }
    }
    let bare = lower.trim_matches(|c: char| c == '-' || c == '_' || c.is_whitespace());
    if lower.starts_with("--") && SEPARATORS.contains(&bare) {
        return true;
    }
    // Outlook's rule line, then the quoted message's headers.
    if line.len() >= 10 && line.chars().all(|c| c == '_') {
        return lines[i + 1..]
            .iter()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| is_header_line(l));
    }
    // A "From:" line followed by more headers within the next few lines.
    is_header_line(line)
        && header_name(line).is_some_and(|name| matches!(name, "from:" | "de:" | "de :" | "von:"))
        && lines[i + 1..]
            .iter()
            .take(4)
            .filter(|l| is_header_line(l))
            .count()
            >= 2
}

/// An attribution line: a known ending with a date or an address in it
/// ("On 7 Dec 2026, Ann <ann@x> wrote:"), a known ending right above a
/// quote ("Ann wrote:"), or any dated line ending in ':' right above a
/// quote ("Am 07.12.2026 schrieb Ann <ann@x>:"). Prose that happens to end
/// "wrote:" has neither.
fn is_attribution(lower: &str, quote_follows: bool) -> bool {
    if lower.chars().count() > 300 || !lower.ends_with(':') {
        return false;
    }
    let known = ATTRIBUTION_ENDINGS.iter().any(|end| lower.ends_with(end));
    let dated = has_digit(lower) || lower.contains('@');
    (known && (dated || quote_follows)) || (dated && quote_follows)
}

/// Whether the first non-blank line from `from` on is a `>` quote.
fn quote_follows(lines: &[&str], from: usize) -> bool {
    lines
        .get(from..)
        .and_then(|rest| rest.iter().find(|l| !l.trim().is_empty()))
        .is_some_and(|l| l.trim_start().starts_with('>'))
}

/// "On 7 Dec...", "Le lun. 7 déc...", "Am 07.12...": an attribution's
/// opening words.
fn starts_like_attribution(lower: &str) -> bool {
    const OPENERS: [&str; 10] = [
        "on ", "le ", "am ", "el ", "il ", "op ", "den ", "em ", "w dniu ", "dnia ",
    ];
    OPENERS.iter().any(|o| lower.starts_with(o))
}

fn has_digit(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_digit())
}

fn header_name(line: &str) -> Option<&'static str> {
    let lower = line.trim().trim_start_matches('*').to_lowercase();
    let lower = lower.replacen(":*", ":", 1);
    HEADER_NAMES
        .into_iter()
        .find(|name| lower.starts_with(name))
}

fn is_header_line(line: &str) -> bool {
    header_name(line).is_some()
}

/// RFC 3676's "-- " (and its trimmed form).
fn is_signature_delimiter(line: &str) -> bool {
    line.trim_end() == "--"
}

fn is_footer(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    lower.chars().count() <= 60 && FOOTERS.iter().any(|f| lower.starts_with(f))
}

/// The lines joined, trimmed, with runs of blank lines kept to one.
fn collapse_blank_lines(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut blank = false;
    for line in lines {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push_str("\n\n");
        } else if !out.is_empty() {
            out.push('\n');
        }
        blank = false;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::visible_reply;

    #[test]
    fn gmail_reply_keeps_the_new_words() {
        let body = "Thanks! And can I return it after 20 days?\r\n\r\nOn Mon, 7 Dec 2026 at 10:02, Acme Support <support@acme.example> wrote:\r\n> You can return items within 30 days.\r\n>\r\n> On Sun, 6 Dec 2026, Ann <ann@example.org> wrote:\r\n>> What is your return policy?\r\n";
        assert_eq!(
            visible_reply(body),
            "Thanks! And can I return it after 20 days?"
        );
    }

    #[test]
    fn an_attribution_wrapped_over_two_lines_is_found() {
        let body = "Yes please.\n\nOn Mon, 7 Dec 2026 at 10:02, Acme Support Team <\nsupport@acme.example> wrote:\n\n> Shall I check?\n";
        assert_eq!(visible_reply(body), "Yes please.");
    }

    #[test]
    fn other_languages_and_outlook_blocks_are_cut() {
        let french = "Merci beaucoup.\n\nLe lun. 7 déc. 2026 à 10:02, Acme <support@acme.example> a écrit :\n> Bonjour\n";
        assert_eq!(visible_reply(french), "Merci beaucoup.");
        let german =
            "Danke.\n\nAm 07.12.2026 um 10:02 schrieb Acme <support@acme.example>:\n> Hallo\n";
        assert_eq!(visible_reply(german), "Danke.");
        let terse = "Fine.\n\nAnn wrote:\n> Is it fine?\n";
        assert_eq!(visible_reply(terse), "Fine.");
        let outlook = "Where is my parcel?\n\n________________________________\nFrom: Acme Support <support@acme.example>\nSent: Monday, December 7, 2026 10:02 AM\nTo: Ann\nSubject: RE: Order 1042\n\nHello Ann, it shipped.\n";
        assert_eq!(visible_reply(outlook), "Where is my parcel?");
        let bare = "Still nothing.\n\nFrom: Acme Support <support@acme.example>\nSent: Monday, December 7, 2026 10:02 AM\nTo: Ann <ann@example.org>\nSubject: Order 1042\n\nIt shipped.";
        assert_eq!(visible_reply(bare), "Still nothing.");
        let original = "See below.\n-----Original Message-----\nFrom: x\nold text";
        assert_eq!(visible_reply(original), "See below.");
    }

    #[test]
    fn signatures_footers_and_inline_quotes_are_dropped() {
        let body = "Hi,\n\nmy order 1042 has not arrived.\n\n-- \nAnn Smith\nCEO, Smith Ltd\n";
        assert_eq!(visible_reply(body), "Hi,\n\nmy order 1042 has not arrived.");
        let phone = "Can I pay by invoice?\n\nSent from my iPhone";
        assert_eq!(visible_reply(phone), "Can I pay by invoice?");
        let inline = "> Which size?\nMedium.\n> Which colour?\nBlue.";
        assert_eq!(visible_reply(inline), "Medium.\nBlue.");
    }

    #[test]
    fn words_that_only_look_like_markers_stay() {
        // Hyphens, a "from:" mid-sentence, "wrote:" ending a long sentence.
        let body =
            "My order ORD-1042 came from: the Leeds depot.\nOn the label someone wrote:\nFRAGILE";
        assert_eq!(visible_reply(body), body);
        let sent = "Sent from my office yesterday, the form did not work. Please help.";
        assert_eq!(visible_reply(sent), sent);
    }

    #[test]
    fn a_message_that_is_only_a_quote_is_empty() {
        assert_eq!(visible_reply("> old\n> text\n"), "");
    }
}
