//! Knowledge imported from a real HTTP server on loopback: pages, sitemaps,
//! robots.txt, limits and the public-address guard.

use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use spur_core::KnowledgeBase;
use spur_core::knowledge::web::{WebError, WebFetcher, WebLimits};

const FAQ: &str = "<html><head><title>Help</title><script>var tracking = 1;</script></head>
<body><nav>Home | Shop</nav><h1>Help centre</h1>
<h2>Delivery to Norway</h2><p>Parcels to Norway arrive in 4 to 6 working days and cost 12 euros.</p>
<h2>Gift cards</h2><p>Gift cards never expire and can be used online only.</p>
</body></html>";

fn xml(body: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/xml")], body)
}

/// A shop's site: robots.txt keeps bots out of /private; a sitemap index
/// lists a sitemap naming good pages, a disallowed one, another site's, a
/// missing one and an image.
async fn site(robots: StatusCode) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let index = format!(
        "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
         <sitemap><loc>{base}/sitemap-pages.xml</loc></sitemap></sitemapindex>"
    );
    let pages = format!(
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
         <url><loc>{base}/help/faq.html</loc></url>\
         <url><loc>{base}/returns.txt</loc></url>\
         <url><loc>{base}/private/margins</loc></url>\
         <url><loc>https://elsewhere.example/page</loc></url>\
         <url><loc>{base}/gone</loc></url>\
         <url><loc>{base}/logo.png</loc></url>\
         <url><loc>{base}/help/faq.html</loc></url>\
         </urlset>"
    );
    let app = Router::new()
        .route(
            "/robots.txt",
            get(move || async move {
                (robots, "User-agent: *\nDisallow: /private\n\nUser-agent: SpurBot\nDisallow: /private\nDisallow: /slow\n")
            }),
        )
        .route("/sitemap.xml", get(move || async move { xml(index) }))
        .route("/sitemap-pages.xml", get(move || async move { xml(pages) }))
        .route(
            "/help/faq.html",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], FAQ) }),
        )
        .route(
            "/returns.txt",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain")],
                    "# Returns\nReturns are free within 45 days of delivery.",
                )
            }),
        )
        .route("/private/margins", get(|| async { "our margins" }))
        .route(
            "/logo.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], vec![0u8; 16]) }),
        )
        .route(
            "/big.html",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<p>word</p>".repeat(2000)) }),
        )
        .route(
            "/sleepy.html",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                ([(header::CONTENT_TYPE, "text/html")], "<h1>Late</h1><p>Too late.</p>")
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn loopback() -> WebLimits {
    WebLimits {
        allow_private: true,
        ..WebLimits::default()
    }
}

#[tokio::test]
async fn a_sitemap_imports_its_site_pages_that_robots_allow_and_says_why_it_skipped_others() {
    let base = site(StatusCode::OK).await;
    let web = WebFetcher::new(loopback()).unwrap();
    let import = web.import(&format!("{base}/sitemap.xml")).await.unwrap();

    let names: Vec<&str> = import.pages.iter().map(|p| p.file_name.as_str()).collect();
    assert_eq!(
        names,
        ["web-127-0-0-1-help-faq.html", "web-127-0-0-1-returns.txt"]
    );
    assert_eq!(import.pages[0].sections, 2, "the page's two h2 sections");
    let reason = |path: &str| {
        import
            .skipped
            .iter()
            .find(|s| s.url.ends_with(path))
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{path} not skipped: {:?}", import.skipped))
    };
    assert!(reason("/private/margins").contains("robots.txt"));
    assert!(reason("elsewhere.example/page").contains("another site"));
    assert!(reason("/gone").contains("404"));
    assert!(reason("/logo.png").contains("image/png"));
    assert_eq!(
        import.skipped.len(),
        4,
        "the repeated entry is fetched once"
    );

    // Written as files, the pages are knowledge like any other.
    let dir = std::env::temp_dir().join(format!("spur-web-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    for page in &import.pages {
        std::fs::write(dir.join(&page.file_name), &page.bytes).unwrap();
    }
    let knowledge = KnowledgeBase::from_dir(&dir).unwrap();
    let best = &knowledge.search("how long does delivery to norway take", 1)[0];
    assert_eq!(best.title, "Delivery to Norway");
    assert!(!best.text.contains("tracking"), "scripts are not knowledge");
    let best = &knowledge.search("how many days do I have for returns?", 1)[0];
    assert!(best.text.contains("45 days"), "{best:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn robots_txt_is_read_as_rfc_9309_says() {
    // Missing (4xx): everything is allowed.
    let base = site(StatusCode::NOT_FOUND).await;
    let web = WebFetcher::new(loopback()).unwrap();
    let import = web
        .import(&format!("{base}/private/margins"))
        .await
        .unwrap();
    assert_eq!(
        import.pages[0].file_name,
        "web-127-0-0-1-private-margins.txt"
    );

    // The site cannot say (5xx): nothing is fetched.
    let base = site(StatusCode::SERVICE_UNAVAILABLE).await;
    let error = web
        .import(&format!("{base}/returns.txt"))
        .await
        .unwrap_err();
    assert!(matches!(error, WebError::Disallowed(_)), "{error}");

    // Rules for our agent apply to it.
    let base = site(StatusCode::OK).await;
    let error = web.import(&format!("{base}/slow/page")).await.unwrap_err();
    assert!(matches!(error, WebError::Disallowed(_)), "{error}");
}

#[tokio::test]
async fn imports_are_bounded_in_pages_bytes_and_time() {
    let base = site(StatusCode::OK).await;
    let web = WebFetcher::new(WebLimits {
        max_pages: 1,
        max_bytes: 10_000,
        timeout: Duration::from_millis(500),
        ..loopback()
    })
    .unwrap();
    let import = web.import(&format!("{base}/sitemap.xml")).await.unwrap();
    assert_eq!(import.pages.len(), 1);
    assert!(
        import
            .skipped
            .iter()
            .any(|s| s.url.ends_with("/returns.txt") && s.reason.contains("limit of 1 pages")),
        "{:?}",
        import.skipped
    );
    let error = web.import(&format!("{base}/big.html")).await.unwrap_err();
    assert!(
        matches!(error, WebError::TooLarge { max: 10_000, .. }),
        "{error}"
    );
    let error = web
        .import(&format!("{base}/sleepy.html"))
        .await
        .unwrap_err();
    assert!(matches!(error, WebError::Fetch { .. }), "{error}");
}

#[tokio::test]
async fn only_public_http_addresses_are_fetched_by_default() {
    let base = site(StatusCode::OK).await;
    let web = WebFetcher::new(WebLimits::default()).unwrap();
    // An address literal on loopback, and a name that resolves to it.
    let error = web
        .import(&format!("{base}/returns.txt"))
        .await
        .unwrap_err();
    assert!(matches!(error, WebError::NotPublic(_)), "{error}");
    let port = base.rsplit(':').next().unwrap();
    let error = web
        .import(&format!("http://localhost:{port}/returns.txt"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no public address"), "{error}");
    for bad in [
        "ftp://shop.example/faq",
        "not a url",
        "https://admin:secret@shop.example/faq",
        "file:///etc/passwd",
    ] {
        let error = web.import(bad).await.unwrap_err();
        assert!(matches!(error, WebError::InvalidUrl(_)), "{bad}: {error}");
    }
}
