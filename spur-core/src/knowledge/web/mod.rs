//! Knowledge from the web: one page, or every page a sitemap lists, turned
//! into knowledge files (`web-<address>.html`, `.txt`, `.md` or `.pdf`)
//! that load like any other. Polite (robots.txt read as RFC 9309 says,
//! an honest user agent), bounded (pages, bytes, time, redirects) and, by
//! default, public addresses only.

pub(crate) mod guard;
mod name;
mod sitemap;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use texting_robots::Robot;

use super::load::check_file;
pub use name::file_name_for;

/// The user agent sent, and the one robots.txt rules are matched against.
pub const USER_AGENT: &str = "SpurBot";

/// Bounds on one import.
#[derive(Clone, Debug)]
pub struct WebLimits {
    /// Pages fetched from one sitemap (further entries are skipped).
    pub max_pages: usize,
    /// Bytes of one page or sitemap.
    pub max_bytes: usize,
    /// Each request, connection to last byte.
    pub timeout: Duration,
    /// The whole import: pages not started by then are skipped (a host
    /// keeps this under its request timeout).
    pub budget: Duration,
    /// Whether private, loopback and link-local addresses may be fetched
    /// (an intranet wiki; tests). Off by default: an admin's URL must not
    /// reach the server's own network.
    pub allow_private: bool,
}

impl Default for WebLimits {
    fn default() -> Self {
        Self {
            max_pages: 50,
            max_bytes: 2 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            budget: Duration::from_secs(60),
            allow_private: false,
        }
    }
}

/// Redirects followed per request.
const MAX_REDIRECTS: usize = 5;
/// Sitemaps read for one import (an index and the sitemaps it lists).
const MAX_SITEMAPS: usize = 10;
/// RFC 9309 asks crawlers to read at least 500 KiB of a robots.txt.
const MAX_ROBOTS_BYTES: usize = 512 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0} is not an http or https address")]
    InvalidUrl(String),
    #[error("{0} is a private or local address")]
    NotPublic(String),
    #[error("the site's robots.txt does not allow fetching {0}")]
    Disallowed(String),
    #[error("fetching {url} failed: {message}")]
    Fetch { url: String, message: String },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is larger than {max} bytes")]
    TooLarge { url: String, max: usize },
    #[error("{url} is {content_type}: not a page, a PDF or a sitemap")]
    Unsupported { url: String, content_type: String },
    #[error("{url} cannot be read as knowledge: {message}")]
    Unreadable { url: String, message: String },
    #[error("{0} lists no page that could be imported")]
    NothingImported(String),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

/// A fetched page, ready to be written as a knowledge file.
#[derive(Clone, Debug)]
pub struct WebPage {
    pub url: String,
    /// `web-<address>.<ext>`: the same address always gets the same name,
    /// so importing again replaces the page.
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// Sections the page holds.
    pub sections: usize,
}

/// A sitemap entry that was not imported, and why.
#[derive(Clone, Debug)]
pub struct SkippedPage {
    pub url: String,
    pub reason: String,
}

/// What one import fetched.
#[derive(Clone, Debug, Default)]
pub struct WebImport {
    pub pages: Vec<WebPage>,
    pub skipped: Vec<SkippedPage>,
}

impl WebImport {
    /// Writes the pages into a knowledge directory (see
    /// [`super::save_file`]); a page imported before is replaced.
    pub fn save(&self, dir: &std::path::Path) -> std::io::Result<()> {
        for page in &self.pages {
            super::save_file(dir, &page.file_name, &page.bytes)?;
        }
        Ok(())
    }
}

/// What a site's robots.txt allows.
enum Robots {
    All,
    Nothing,
    Rules(Robot),
}

impl Robots {
    fn allows(&self, url: &Url) -> bool {
        match self {
            Self::All => true,
            Self::Nothing => false,
            Self::Rules(robot) => robot.allowed(url.as_str()),
        }
    }
}

/// Fetches pages and sitemaps for the knowledge.
pub struct WebFetcher {
    client: reqwest::Client,
    limits: WebLimits,
}

impl WebFetcher {
    pub fn new(limits: WebLimits) -> Result<Self, WebError> {
        let allow_private = limits.allow_private;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            let url = attempt.url();
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if !matches!(url.scheme(), "http" | "https") {
                attempt.error("redirected away from http")
            } else if !allow_private && guard::literal_is_private(url) {
                attempt.error("redirected to a private address")
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .user_agent(format!("{USER_AGENT}/{}", env!("CARGO_PKG_VERSION")))
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout)
            .redirect(redirects);
        if !limits.allow_private {
            builder = builder.dns_resolver(Arc::new(guard::PublicResolver));
        }
        let client = builder
            .build()
            .map_err(|e| WebError::Client(e.to_string()))?;
        Ok(Self { client, limits })
    }

    /// Imports `url`: a page (HTML, text, Markdown, PDF) or a sitemap, whose
    /// pages on the same site are imported (up to `max_pages`; the others
    /// are skipped with the reason). An error when `url` itself cannot be
    /// imported, or a sitemap yields no page.
    pub async fn import(&self, url: &str) -> Result<WebImport, WebError> {
        let url = self.checked_url(url)?;
        let deadline = tokio::time::Instant::now() + self.limits.budget;
        let mut robots = HashMap::new();
        let fetched = self.get(&url, &mut robots).await?;
        let Some(listed) = fetched.sitemap() else {
            let page = fetched.into_page()?;
            return Ok(WebImport {
                pages: vec![page],
                skipped: Vec::new(),
            });
        };
        let mut import = WebImport::default();
        let pages = self
            .sitemap_pages(&url, listed, &mut robots, &mut import)
            .await;
        for page in pages {
            let over = if import.pages.len() >= self.limits.max_pages {
                Some(format!("over the limit of {} pages", self.limits.max_pages))
            } else if tokio::time::Instant::now() >= deadline {
                Some("out of time for this import".to_string())
            } else {
                None
            };
            if let Some(reason) = over {
                import.skipped.push(SkippedPage {
                    url: page.to_string(),
                    reason,
                });
                continue;
            }
            match self
                .get(&page, &mut robots)
                .await
                .and_then(Fetched::into_page)
            {
                Ok(page) => import.pages.push(page),
                Err(error) => import.skipped.push(SkippedPage {
                    url: page.to_string(),
                    reason: error.to_string(),
                }),
            }
        }
        if import.pages.is_empty() {
            return Err(WebError::NothingImported(url.to_string()));
        }
        Ok(import)
    }

    /// The pages a sitemap (and the sitemaps an index lists) name, on the
    /// sitemap's own site (the protocol's rule), each once, in order.
    async fn sitemap_pages(
        &self,
        root: &Url,
        first: sitemap::Sitemap,
        robots: &mut HashMap<String, Robots>,
        import: &mut WebImport,
    ) -> Vec<Url> {
        let mut queue = VecDeque::from([first]);
        let mut read = 1;
        let mut seen = HashSet::new();
        let mut pages = Vec::new();
        while let Some(listed) = queue.pop_front() {
            let (entries, nested) = match listed {
                sitemap::Sitemap::Pages(entries) => (entries, false),
                sitemap::Sitemap::Sitemaps(entries) => (entries, true),
            };
            for entry in entries {
                let skip = |reason: &str| SkippedPage {
                    url: entry.clone(),
                    reason: reason.to_string(),
                };
                let Ok(url) = Url::parse(&entry) else {
                    import.skipped.push(skip("not an address"));
                    continue;
                };
                if url.origin() != root.origin() {
                    import
                        .skipped
                        .push(skip("on another site than the sitemap"));
                    continue;
                }
                if !seen.insert(url.clone()) {
                    continue;
                }
                if !nested {
                    pages.push(url);
                    continue;
                }
                if read >= MAX_SITEMAPS {
                    import.skipped.push(skip("over the limit of sitemaps"));
                    continue;
                }
                read += 1;
                match self.get(&url, robots).await.map(|f| f.sitemap()) {
                    Ok(Some(listed)) => queue.push_back(listed),
                    Ok(None) => import.skipped.push(skip("not a sitemap")),
                    Err(error) => import.skipped.push(skip(&error.to_string())),
                }
            }
        }
        pages
    }

    fn checked_url(&self, url: &str) -> Result<Url, WebError> {
        let parsed = Url::parse(url.trim()).map_err(|_| WebError::InvalidUrl(url.to_string()))?;
        // Credentials in an address would end up in logs and file lists.
        let credentials = !parsed.username().is_empty() || parsed.password().is_some();
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() || credentials {
            return Err(WebError::InvalidUrl(url.to_string()));
        }
        if !self.limits.allow_private && guard::literal_is_private(&parsed) {
            return Err(WebError::NotPublic(url.to_string()));
        }
        Ok(parsed)
    }

    /// Fetches `url` if its site's robots.txt allows it.
    async fn get(
        &self,
        url: &Url,
        robots: &mut HashMap<String, Robots>,
    ) -> Result<Fetched, WebError> {
        let site = url.origin().ascii_serialization();
        if !robots.contains_key(&site) {
            let rules = self.robots(url).await?;
            robots.insert(site.clone(), rules);
        }
        if robots.get(&site).is_some_and(|r| !r.allows(url)) {
            return Err(WebError::Disallowed(url.to_string()));
        }
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| fetch_error(url, &e))?;
        if !response.status().is_success() {
            return Err(WebError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = self.body(url, response).await?;
        Ok(Fetched {
            url: url.clone(),
            content_type,
            bytes,
        })
    }

    /// The site's robots.txt as RFC 9309 reads it: rules when it is there,
    /// everything allowed when it is missing (4xx), nothing allowed when
    /// the site cannot say (5xx). A site that cannot be reached at all is
    /// an error: that, not robots.txt, is why nothing was fetched.
    async fn robots(&self, url: &Url) -> Result<Robots, WebError> {
        let Ok(address) = url.join("/robots.txt") else {
            return Ok(Robots::Nothing);
        };
        let response = self
            .client
            .get(address.clone())
            .send()
            .await
            .map_err(|e| fetch_error(&address, &e))?;
        let status = response.status();
        if status.is_client_error() {
            return Ok(Robots::All);
        }
        if status != StatusCode::OK {
            return Ok(Robots::Nothing);
        }
        let Ok(text) = read_capped(response, MAX_ROBOTS_BYTES).await else {
            return Ok(Robots::Nothing);
        };
        // The parser is forgiving; what it cannot read restricts nothing.
        Ok(Robot::new(USER_AGENT, &text).map_or(Robots::All, Robots::Rules))
    }

    async fn body(&self, url: &Url, response: reqwest::Response) -> Result<Vec<u8>, WebError> {
        let max = self.limits.max_bytes;
        read_capped(response, max).await.map_err(|e| match e {
            Capped::TooLarge => WebError::TooLarge {
                url: url.to_string(),
                max,
            },
            Capped::Failed(e) => fetch_error(url, &e),
        })
    }
}

pub(crate) enum Capped {
    TooLarge,
    Failed(reqwest::Error),
}

/// The body, or `TooLarge` as soon as it passes `max` bytes (never read
/// whole first).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, Capped> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(Capped::TooLarge);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Capped::Failed)? {
        if bytes.len() + chunk.len() > max {
            return Err(Capped::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn fetch_error(url: &Url, error: &reqwest::Error) -> WebError {
    // The chain says why (a timeout, a refused connection, no public address).
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    WebError::Fetch {
        url: url.to_string(),
        message,
    }
}

/// A response body and what it says it is.
struct Fetched {
    url: Url,
    content_type: String,
    bytes: Vec<u8>,
}

impl Fetched {
    /// The sitemap this is, if it is one.
    fn sitemap(&self) -> Option<sitemap::Sitemap> {
        let xml = self.content_type.contains("xml") && !self.content_type.contains("html");
        let named = self.url.path().ends_with(".xml");
        if xml || named {
            sitemap::parse(&self.bytes)
        } else {
            None
        }
    }

    /// The page as a knowledge file, checked as an upload is.
    fn into_page(self) -> Result<WebPage, WebError> {
        let media = self
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        let extension = match media {
            "text/html" | "application/xhtml+xml" => "html",
            "text/plain" => "txt",
            "text/markdown" | "text/x-markdown" => "md",
            "application/pdf" if cfg!(feature = "pdf") => "pdf",
            // No type said: a page is what a site serves most.
            "" => "html",
            other => {
                return Err(WebError::Unsupported {
                    url: self.url.to_string(),
                    content_type: other.to_string(),
                });
            }
        };
        let file_name = file_name_for(&self.url, extension);
        let sections = check_file(&file_name, &self.bytes).map_err(|e| WebError::Unreadable {
            url: self.url.to_string(),
            message: e.to_string(),
        })?;
        Ok(WebPage {
            url: self.url.to_string(),
            file_name,
            bytes: self.bytes,
            sections,
        })
    }
}
