//! Loading knowledge from Markdown, text, HTML, PDF and FAQ files.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Article;
use crate::facts::ShopFacts;

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("cannot read knowledge from {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid FAQ file (a list of question/answer pairs): {message}")]
    Faq { path: PathBuf, message: String },
    #[error("{path} could not be read as HTML: {message}")]
    Html { path: PathBuf, message: String },
    #[error("{path} could not be read as a PDF: {message}")]
    Pdf { path: PathBuf, message: String },
    #[error("{0} is not UTF-8 text")]
    NotText(PathBuf),
    #[error("{path} is not a valid shop facts file: {message}")]
    Facts { path: PathBuf, message: String },
    #[error("{0} holds no article: add Markdown files with `##` sections or a faq.yaml")]
    Empty(PathBuf),
    #[error(
        "{0} is not a knowledge file: use .md, .txt, .html, .pdf, faq.yaml/faq.json or shop.yaml/shop.json"
    )]
    Unsupported(PathBuf),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaqEntry {
    question: String,
    answer: String,
}

/// The file name (without extension) that holds store policies, quoted in
/// every system prompt.
pub(crate) const POLICIES_FILE: &str = "policies";

/// Splits Markdown into articles: each `##` section is one, its heading the
/// title. Text before the first `##` (and `#` titles) is not an article.
/// Headings inside fenced code blocks are ignored.
pub(crate) fn markdown_articles(source: &str, text: &str) -> Vec<Article> {
    let mut articles = Vec::new();
    let mut current: Option<(String, String)> = None;
    let mut in_fence = false;
    let flush = |current: &mut Option<(String, String)>, articles: &mut Vec<Article>| {
        if let Some((title, body)) = current.take() {
            let body = body.trim().to_string();
            if !body.is_empty() {
                articles.push(Article::new(source, &title, body));
            }
        }
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        }
        if !in_fence && let Some(title) = trimmed.strip_prefix("## ") {
            flush(&mut current, &mut articles);
            current = Some((title.trim().to_string(), String::new()));
            continue;
        }
        if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    flush(&mut current, &mut articles);
    articles
}

pub(crate) fn faq_articles(
    source: &str,
    path: &Path,
    text: &str,
) -> Result<Vec<Article>, KnowledgeError> {
    let entries: Vec<FaqEntry> = parse(path, text).map_err(|message| KnowledgeError::Faq {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(entries
        .into_iter()
        .filter(|e| !e.question.trim().is_empty() && !e.answer.trim().is_empty())
        .map(|e| Article::new(source, e.question.trim(), e.answer.trim().to_string()))
        .collect())
}

/// A file as one article, titled by its `# ` heading or its name.
fn whole(stem: &str, text: &str) -> Option<Article> {
    let body = text.trim();
    if body.is_empty() {
        return None;
    }
    let title = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("# "))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| stem.replace(['-', '_'], " "));
    Some(Article::new(stem, &title, body.to_string()))
}

/// `##` sections, or the whole text when it has none.
fn sections_or_whole(stem: &str, text: &str) -> Vec<Article> {
    let sections = markdown_articles(stem, text);
    if sections.is_empty() {
        whole(stem, text).into_iter().collect()
    } else {
        sections
    }
}

/// A page's readable text with its headings as Markdown (`## `), without
/// scripts, styles or link addresses.
#[cfg(feature = "html")]
fn html_text(path: &Path, html: &str) -> Result<String, KnowledgeError> {
    let text = html2text::config::plain_no_decorate()
        .link_footnotes(false)
        .string_from_read(html.as_bytes(), 10_000)
        .map_err(|e| KnowledgeError::Html {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    // Link texts come bracketed ("[the EU]"); customers read them plain.
    Ok(text.replace(['[', ']'], ""))
}

/// A title for a PDF page: its first line when that is short enough to be
/// a heading, else the file's name and the page number.
#[cfg(feature = "pdf")]
const PDF_TITLE_MAX: usize = 80;

/// One article per PDF page that holds text. A malformed PDF is an error
/// naming the file, never a panic (the extractor may panic on some files).
#[cfg(feature = "pdf")]
fn pdf_articles(stem: &str, path: &Path, bytes: &[u8]) -> Result<Vec<Article>, KnowledgeError> {
    let failed = |message: String| KnowledgeError::Pdf {
        path: path.to_path_buf(),
        message,
    };
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| failed("the file is malformed".into()))?
        .map_err(|e| failed(e.to_string()))?;
    let name = stem.replace(['-', '_'], " ");
    Ok(pages
        .iter()
        .enumerate()
        .filter_map(|(i, page)| {
            let mut lines = page.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next()?;
            let rest: Vec<&str> = lines.collect();
            let article = if first.chars().count() <= PDF_TITLE_MAX && !rest.is_empty() {
                Article::new(stem, first, rest.join("\n"))
            } else {
                let body = std::iter::once(first).chain(rest).collect::<Vec<_>>();
                Article::new(stem, &format!("{name} (page {})", i + 1), body.join("\n"))
            };
            Some(article)
        })
        .collect())
}

fn read(path: &Path) -> Result<Vec<u8>, KnowledgeError> {
    std::fs::read(path).map_err(|source| KnowledgeError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// What a directory held.
pub(crate) struct Loaded {
    pub articles: Vec<Article>,
    pub policies: Vec<Article>,
    pub facts: Option<ShopFacts>,
    /// Files skipped, each error naming its file.
    pub problems: Vec<KnowledgeError>,
}

/// `*.json` as JSON, anything else as YAML.
fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, String> {
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        serde_norway::from_str(text).map_err(|e| e.to_string())
    }
}

fn facts_file(path: &Path, text: &str) -> Result<ShopFacts, KnowledgeError> {
    let facts: ShopFacts = parse(path, text).map_err(|message| KnowledgeError::Facts {
        path: path.to_path_buf(),
        message,
    })?;
    facts.validate().map_err(|e| KnowledgeError::Facts {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(facts)
}

/// What one knowledge file holds.
pub(crate) enum FileKnowledge {
    /// Articles; `policies` when they are also the store policies.
    Articles {
        articles: Vec<Article>,
        policies: bool,
    },
    Facts(ShopFacts),
}

fn stem_and_ext(path: &Path) -> (&str, &str) {
    fn part(s: Option<&std::ffi::OsStr>) -> &str {
        s.and_then(|s| s.to_str()).unwrap_or_default()
    }
    (part(path.file_stem()), part(path.extension()))
}

/// Whether `path` names a file the knowledge reads (by its name alone).
pub fn is_knowledge_file(path: &Path) -> bool {
    let (stem, ext) = stem_and_ext(path);
    match ext {
        "md" | "markdown" | "txt" => true,
        "html" | "htm" => cfg!(feature = "html"),
        "pdf" => cfg!(feature = "pdf"),
        "yaml" | "yml" | "json" => {
            stem.eq_ignore_ascii_case("faq") || stem.eq_ignore_ascii_case("shop")
        }
        _ => false,
    }
}

/// Parses one file's bytes by its name (see [`read_dir`]).
pub(crate) fn parse_file(path: &Path, bytes: &[u8]) -> Result<FileKnowledge, KnowledgeError> {
    let (stem, ext) = stem_and_ext(path);
    let articles = |articles: Vec<Article>| FileKnowledge::Articles {
        policies: stem.eq_ignore_ascii_case(POLICIES_FILE) && matches!(ext, "md" | "markdown"),
        articles,
    };
    #[cfg(feature = "pdf")]
    if ext == "pdf" {
        return pdf_articles(stem, path, bytes).map(articles);
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| KnowledgeError::NotText(path.to_path_buf()))?;
    match ext {
        "md" | "markdown" => Ok(articles(sections_or_whole(stem, text))),
        // Plain text: one article named after the file.
        "txt" => Ok(articles(whole(stem, text).into_iter().collect())),
        #[cfg(feature = "html")]
        "html" | "htm" => {
            html_text(path, text).map(|text| articles(sections_or_whole(stem, &text)))
        }
        "yaml" | "yml" | "json" if stem.eq_ignore_ascii_case("faq") => {
            faq_articles(stem, path, text).map(articles)
        }
        "yaml" | "yml" | "json" if stem.eq_ignore_ascii_case("shop") => {
            facts_file(path, text).map(FileKnowledge::Facts)
        }
        _ => Err(KnowledgeError::Unsupported(path.to_path_buf())),
    }
}

/// Checks a file before it joins the knowledge: the number of sections it
/// holds (0 for the shop's facts), or why it cannot be read. `name` is the
/// file's name, which says how it is read (`policies.md`, `faq.yaml`...).
pub fn check_file(name: &str, bytes: &[u8]) -> Result<usize, KnowledgeError> {
    let path = Path::new(name);
    if !is_knowledge_file(path) {
        return Err(KnowledgeError::Unsupported(path.to_path_buf()));
    }
    match parse_file(path, bytes)? {
        FileKnowledge::Articles { articles, .. } if articles.is_empty() => {
            Err(KnowledgeError::Empty(path.to_path_buf()))
        }
        FileKnowledge::Articles { articles, .. } => Ok(articles.len()),
        FileKnowledge::Facts(_) => Ok(0),
    }
}

/// Writes a knowledge file into `dir` whole: beside the target under a
/// name the knowledge never reads, then renamed, so a reader (a watcher, a
/// reload) sees the old file or the new one, never half of one.
pub fn save_file(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let target = dir.join(name);
    let temporary = dir.join(format!(".{name}.{}.upload", uuid::Uuid::new_v4()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, &target).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// Reads every `*.md` / `*.txt` / `*.html` / `*.pdf` file (a file without `##`
/// sections is one article), any `faq.yaml` / `faq.yml` /
/// `faq.json` and the optional `shop.yaml` / `shop.json` (the operator's
/// facts) in `dir` (not recursive; files in name order, so ids are stable).
/// A bad file is skipped and reported; the others still load.
pub(crate) fn read_dir(dir: &Path) -> Result<Loaded, KnowledgeError> {
    let io = |source| KnowledgeError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    paths.sort();
    let mut loaded = Loaded {
        articles: Vec::new(),
        policies: Vec::new(),
        facts: None,
        problems: Vec::new(),
    };
    for path in paths.iter().filter(|p| p.is_file() && is_knowledge_file(p)) {
        match read(path).and_then(|bytes| parse_file(path, &bytes)) {
            Ok(FileKnowledge::Articles { articles, policies }) => {
                if policies {
                    loaded.policies.extend(articles.iter().cloned());
                }
                loaded.articles.extend(articles);
            }
            Ok(FileKnowledge::Facts(facts)) => loaded.facts = Some(facts),
            Err(problem) => {
                tracing::warn!(%problem, "skipping a knowledge file");
                loaded.problems.push(problem);
            }
        }
    }
    if loaded.articles.is_empty() {
        return Err(match loaded.problems.pop() {
            Some(problem) => problem,
            None => KnowledgeError::Empty(dir.to_path_buf()),
        });
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_checked_by_its_name_before_it_joins_the_knowledge() {
        assert_eq!(
            check_file("returns.md", b"## A\none\n## B\ntwo\n").unwrap(),
            2
        );
        assert_eq!(check_file("notes.txt", b"Gift wrap is free.").unwrap(), 1);
        assert_eq!(
            check_file("faq.yaml", b"- question: Q?\n  answer: A.\n").unwrap(),
            1
        );
        assert_eq!(
            check_file("shop.yaml", b"name: Marsmart\ntime_zone: Europe/Berlin\n").unwrap(),
            0
        );
        for (name, text, says) in [
            ("faq.yaml", "{not yaml", "faq.yaml"),
            ("shop.json", r#"{"time_zone": "Mars/Olympus"}"#, "shop.json"),
            ("logo.png", "binary", "not a knowledge file"),
            ("other.yaml", "a: b", "not a knowledge file"),
            ("empty.md", "   \n", "holds no article"),
            ("latin1.md", "caf\u{e9}", "not UTF-8"),
        ] {
            let bytes = if name == "latin1.md" {
                b"## Caf\xe9\nopen".to_vec()
            } else {
                text.as_bytes().to_vec()
            };
            let error = check_file(name, &bytes).unwrap_err().to_string();
            assert!(error.contains(says), "{name}: {error}");
        }
    }

    #[cfg(feature = "pdf")]
    #[test]
    fn a_pdf_is_one_article_per_page_titled_by_its_heading() {
        let pdf = crate::testing::pdf_with_pages(&[
            &["Warranty", "Every kettle carries a two year warranty."],
            &["Repairs are free within the warranty period and take ten days."],
            &[],
        ])
        .unwrap();
        assert_eq!(check_file("care-guide.pdf", &pdf).unwrap(), 2);
        let Ok(FileKnowledge::Articles { articles, .. }) =
            parse_file(Path::new("care-guide.pdf"), &pdf)
        else {
            panic!("a PDF holds articles");
        };
        assert_eq!(articles[0].title, "Warranty");
        assert!(articles[0].body.contains("two year warranty"));
        // A page whose first line is the text itself: named by file and page.
        assert_eq!(articles[1].title, "care guide (page 2)");
        assert!(articles[1].body.contains("take ten days"));

        // A broken PDF is an error naming the file, not a panic.
        let mut broken = pdf.clone();
        broken.truncate(pdf.len() / 3);
        let error = check_file("care-guide.pdf", &broken).unwrap_err();
        assert!(matches!(error, KnowledgeError::Pdf { .. }), "{error}");
        assert!(error.to_string().contains("care-guide.pdf"));
    }
}
