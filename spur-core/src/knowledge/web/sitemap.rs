//! Sitemaps (sitemaps.org): a `<urlset>` lists pages, a `<sitemapindex>`
//! lists further sitemaps; each entry's address is its `<loc>`.

use quick_xml::Reader;
use quick_xml::events::Event;

/// What a sitemap lists.
#[derive(Debug, PartialEq)]
pub(crate) enum Sitemap {
    Pages(Vec<String>),
    Sitemaps(Vec<String>),
}

/// Reads `xml` as a sitemap; `None` when it is not one (another XML
/// document, or not well-formed).
pub(crate) fn parse(xml: &[u8]) -> Option<Sitemap> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut index: Option<bool> = None; // the root: Some(true) for an index
    let mut depth = 0usize;
    // The `<loc>` being read: its text comes as pieces (text, `&amp;`...).
    let mut loc: Option<String> = None;
    let mut locs = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(tag) => {
                depth += 1;
                let name = tag.local_name();
                if index.is_none() {
                    index = match name.as_ref() {
                        b"urlset" => Some(false),
                        b"sitemapindex" => Some(true),
                        _ => return None,
                    };
                }
                loc = (name.as_ref() == b"loc").then(String::new);
            }
            Event::Text(text) => {
                if let Some(loc) = loc.as_mut() {
                    loc.push_str(&text.decode().ok()?);
                }
            }
            Event::CData(text) => {
                if let Some(loc) = loc.as_mut() {
                    loc.push_str(std::str::from_utf8(&text).ok()?);
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(loc) = loc.as_mut() {
                    if let Some(c) = reference.resolve_char_ref().ok()? {
                        loc.push(c);
                    } else {
                        let name = reference.decode().ok()?;
                        loc.push_str(quick_xml::escape::resolve_predefined_entity(&name)?);
                    }
                }
            }
            Event::End(_) => {
                depth = depth.checked_sub(1)?;
                if let Some(text) = loc.take() {
                    let text = text.trim();
                    if !text.is_empty() {
                        locs.push(text.to_string());
                    }
                }
            }
            // Unclosed elements: not well-formed.
            Event::Eof if depth > 0 => return None,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    match index? {
        false => Some(Sitemap::Pages(locs)),
        true => Some(Sitemap::Sitemaps(locs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urlset_lists_pages_and_an_index_lists_sitemaps() {
        let urlset = br#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://shop.example/faq</loc><lastmod>2026-01-01</lastmod></url>
  <url><loc> https://shop.example/shipping?lang=en&amp;x=1 </loc></url>
</urlset>"#;
        assert_eq!(
            parse(urlset),
            Some(Sitemap::Pages(vec![
                "https://shop.example/faq".into(),
                "https://shop.example/shipping?lang=en&x=1".into(),
            ]))
        );
        let index = br#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://shop.example/sitemap-pages.xml</loc></sitemap>
</sitemapindex>"#;
        assert_eq!(
            parse(index),
            Some(Sitemap::Sitemaps(vec![
                "https://shop.example/sitemap-pages.xml".into()
            ]))
        );
    }

    #[test]
    fn other_documents_are_not_sitemaps() {
        assert_eq!(parse(b"<rss><channel><link>x</link></channel></rss>"), None);
        assert_eq!(parse(b"<urlset><url><loc>unclosed"), None);
        assert_eq!(parse(b"<html><body>hi</body></html>"), None);
    }
}
