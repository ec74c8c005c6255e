//! A knowledge file name for a web address: readable, a plain name an
//! admin can delete like any upload, and the same for the same address.

use reqwest::Url;

/// Longest readable part of the name.
const MAX_SLUG: usize = 48;

/// `web-<host>-<path>[-<hash>].<extension>`, lowercase letters, digits and
/// `-`. The hash (of the whole address) is added when the readable part
/// was shortened or the address has a query, so different addresses never
/// share a name.
pub fn file_name_for(url: &Url, extension: &str) -> String {
    let host = url.host_str().unwrap_or_default();
    let host = host.strip_prefix("www.").unwrap_or(host);
    let readable = format!("{host} {}", url.path());
    let mut slug = String::new();
    for c in readable.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    // "/faq.html" reads as "faq" (the file gets its own extension).
    let known = ["html", "htm", "php", "aspx", "txt", "md", "pdf"];
    if let Some((head, ext)) = slug.rsplit_once('-')
        && known.contains(&ext)
        && head.contains('-')
    {
        slug.truncate(head.len());
    }
    let mut slug = slug.trim_end_matches('-').to_string();
    let shortened = slug.len() > MAX_SLUG;
    slug.truncate(MAX_SLUG);
    let mut name = format!("web-{}", slug.trim_end_matches('-'));
    if shortened || url.query().is_some() {
        let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, url.as_str().as_bytes());
        let hex = id.simple().to_string();
        name.push('-');
        name.push_str(&hex[..8]);
    }
    format!("{name}.{extension}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(url: &str, ext: &str) -> String {
        file_name_for(&url.parse().unwrap(), ext)
    }

    #[test]
    fn names_are_readable_plain_and_stable() {
        assert_eq!(
            name("https://www.shop.example/help/faq.html", "html"),
            "web-shop-example-help-faq.html"
        );
        assert_eq!(
            name("https://shop.example/", "html"),
            "web-shop-example.html"
        );
        assert_eq!(
            name("http://127.0.0.1:8080/returns", "txt"),
            "web-127-0-0-1-returns.txt"
        );
        // Queries and long paths get a hash: two addresses, two names.
        let a = name("https://shop.example/page?id=1", "html");
        let b = name("https://shop.example/page?id=2", "html");
        assert_ne!(a, b);
        assert!(a.starts_with("web-shop-example-page-"), "{a}");
        let long = format!("https://shop.example/{}", "policies/".repeat(20));
        let long = name(&long, "pdf");
        assert!(long.len() <= 4 + MAX_SLUG + 9 + 4, "{long}");
        assert_eq!(
            long,
            name(
                &format!("https://shop.example/{}", "policies/".repeat(20)),
                "pdf"
            )
        );
        for n in [a, b, long] {
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
                "{n}"
            );
        }
    }
}
