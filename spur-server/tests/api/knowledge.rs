//! The admins' knowledge pages: what is loaded (and what was skipped),
//! "try a question", the knowledge-gaps report; and the shop's own facts in
//! what customers are told.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use spur_server::config::Options;

use super::support::{Server, error_code, sqlite_options};

fn shop_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("spur-kb-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("policies.md"),
        "## Shipping countries\nWe ship to Germany and every other EU country. \
         We do not ship to the United Kingdom.\n\n\
         ## Returns\nYou can return unworn items within 30 days of delivery.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("shop.yaml"),
        "name: Nordlicht\ntime_zone: Europe/Berlin\nhours: Mon-Fri 08:00-17:00\n",
    )
    .unwrap();
    std::fs::write(dir.join("faq.json"), "{not json").unwrap();
    dir
}

/// A server on `dir`'s knowledge, reloaded only when asked.
async fn shop_server(dir: &std::path::Path) -> Server {
    Server::start(Options {
        knowledge: Some(dir.to_path_buf()),
        knowledge_watch: Some(false),
        ..sqlite_options()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_see_the_knowledge_try_questions_and_read_the_gaps() {
    let server = Server::start(Options {
        knowledge: Some(shop_dir()),
        ..sqlite_options()
    })
    .await;
    let admin = server.admin_token().await;

    let overview = server.get_as(&admin, "/v1/admin/knowledge").await;
    let sections = overview["sections"].as_array().unwrap();
    let ids: Vec<&str> = sections.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"policies/returns"), "{ids:?}");
    assert!(ids.contains(&"shop/support-hours-and-contact"), "{ids:?}");
    assert!(
        sections
            .iter()
            .all(|s| s["source"] == "policies" || s["source"] == "shop")
    );
    assert!(overview["facts"].as_str().unwrap().contains("Berlin time"));
    let problems = overview["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].as_str().unwrap().contains("faq.json"));

    let (status, tried) = server
        .post_as(
            &admin,
            "/v1/admin/knowledge/try",
            json!({"question": "Do you deliver to Lyon?"}),
        )
        .await;
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["passages"][0]["id"], "policies/shipping-countries");
    assert!(
        tried["reply"]
            .as_str()
            .unwrap()
            .contains("Lyon is in France"),
        "{tried}"
    );
    assert_eq!(tried["handoff"], false);
    assert_eq!(tried["grounding"], "supported");
    assert_eq!(tried["sources"][0], "Shipping countries");
    let (_, unknown) = server
        .post_as(
            &admin,
            "/v1/admin/knowledge/try",
            json!({"question": "do you sell bicycles?"}),
        )
        .await;
    assert_eq!(unknown["handoff"], true, "{unknown}");
    for bad in [
        json!({"question": "   "}),
        json!({"question": "x".repeat(5000)}),
        json!({}),
    ] {
        let bad_text = bad.to_string().chars().take(40).collect::<String>();
        let (status, _) = server.post_as(&admin, "/v1/admin/knowledge/try", bad).await;
        assert!(status == 400 || status == 422, "{status} {bad_text}");
    }
    // Trying stores nothing.
    let empty = server.get_as(&admin, "/v1/admin/knowledge/gaps").await;
    assert_eq!(empty["groups"], json!([]));
    assert_eq!(empty["scanned"], 0);

    // Customers ask what the knowledge does not answer.
    for question in [
        "Do you sell bicycles?",
        "do you sell bicycles",
        "Can I pay with bitcoin?",
    ] {
        let said = server.say(question, None).await;
        let text = said["reply"].as_str().unwrap();
        assert!(text.contains("not sure"), "{text}");
        // Told this shop's hours or no time at all: never the demo's.
        assert!(!text.contains("IST") && !text.contains("9am"), "{text}");
        assert!(!text.contains("Spur Shop"), "{text}");
    }
    server
        .say("How long do I have to return a jacket?", None)
        .await;
    let report = server.get_as(&admin, "/v1/admin/knowledge/gaps").await;
    assert_eq!(report["scanned"], 4);
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{report}");
    assert_eq!(groups[0]["question"], "do you sell bicycles");
    assert_eq!(groups[0]["count"], 2);
    assert_eq!(groups[0]["kinds"], json!(["no_answer"]));
    assert_eq!(groups[0]["conversations"].as_array().unwrap().len(), 2);
    assert_eq!(groups[1]["question"], "Can I pay with bitcoin?");
    for bad in ["days=0", "days=400", "days=x"] {
        let response = server
            .call(
                Method::GET,
                &format!("/v1/admin/knowledge/gaps?{bad}"),
                Some(&admin),
                None,
            )
            .await;
        assert!(!error_code(response, 400).await.is_empty(), "{bad}");
    }
    let _: Value = server
        .get_as(&admin, "/v1/admin/knowledge/gaps?days=1")
        .await;
}

/// A changed file applies without a restart; a reload that finds nothing
/// loadable is refused and the knowledge in use is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedding_model_finds_sections_that_share_no_word_with_the_question() {
    let model = std::env::temp_dir().join(format!("spur-model-{}", uuid::Uuid::new_v4()));
    spur_core::testing::write_tiny_model(&model).unwrap();
    let question = json!({"question": "I regret buying this"});

    let lexical = Server::start(Options {
        knowledge: Some(shop_dir()),
        ..sqlite_options()
    })
    .await;
    let admin = lexical.admin_token().await;
    let (_, tried) = lexical
        .post_as(&admin, "/v1/admin/knowledge/try", question.clone())
        .await;
    assert!(tried["passages"].as_array().unwrap().is_empty(), "{tried}");

    let dense = Server::start(Options {
        knowledge: Some(shop_dir()),
        embedding_model: Some(model.clone()),
        ..sqlite_options()
    })
    .await;
    let admin = dense.admin_token().await;
    let (status, tried) = dense
        .post_as(&admin, "/v1/admin/knowledge/try", question)
        .await;
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["passages"][0]["id"], "policies/returns", "{tried}");
    assert!(
        tried["passages"][0]["similarity"].as_f64().unwrap() > 0.8,
        "{tried}"
    );
    // Closeness alone is no answer: nothing of the question is covered.
    assert_eq!(tried["handoff"], true, "{tried}");

    // A model that cannot be read stops the start, naming the setting.
    std::fs::remove_file(model.join("tokenizer.json")).unwrap();
    let settings = spur_server::config::Settings::load(Options {
        embedding_model: Some(model),
        ..sqlite_options()
    })
    .unwrap();
    let error = spur_server::setup::state(&settings, Default::default())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("EMBEDDING_MODEL"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_upload_replace_and_delete_knowledge_files() {
    let dir = shop_dir();
    let server = shop_server(&dir).await;
    let admin = server.admin_token().await;
    let put = |name: &str, content: &str| {
        let (server, admin) = (&server, &admin);
        let path = format!("/v1/admin/knowledge/files/{name}");
        let body = json!({ "content": content });
        async move {
            server
                .call(Method::PUT, &path, Some(admin), Some(body))
                .await
        }
    };
    let delete = |name: &str| {
        let (server, admin) = (&server, &admin);
        let path = format!("/v1/admin/knowledge/files/{name}");
        async move { server.call(Method::DELETE, &path, Some(admin), None).await }
    };
    let answer = |question: &str| {
        let (server, admin) = (&server, &admin);
        let body = json!({ "question": question });
        async move {
            server
                .post_as(admin, "/v1/admin/knowledge/try", body)
                .await
                .1
        }
    };
    assert_eq!(answer("do you gift wrap?").await["handoff"], true);

    let saved = put(
        "gifts.md",
        "## Gift wrapping\nWe gift wrap any order for 3 euros.\n",
    )
    .await;
    assert_eq!(saved.status(), 200);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["sections"], 1, "{saved}");
    let tried = answer("do you gift wrap?").await;
    assert!(
        tried["reply"].as_str().unwrap().contains("3 euros"),
        "{tried}"
    );
    let files = server.get_as(&admin, "/v1/admin/knowledge/files").await;
    let names: Vec<&str> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["faq.json", "gifts.md", "policies.md", "shop.yaml"]);

    // Replaced whole; the answer follows at once.
    assert_eq!(
        put("gifts.md", "## Gift wrapping\nGift wrapping is free.\n")
            .await
            .status(),
        200
    );
    assert!(
        answer("do you gift wrap?").await["reply"]
            .as_str()
            .unwrap()
            .contains("free")
    );

    // A file the knowledge cannot read is refused and nothing changes.
    let refused = put("shop.yaml", "time_zone: Mars/Olympus\n").await;
    assert_eq!(error_code(refused, 422).await, "knowledge_invalid");
    let facts = std::fs::read_to_string(dir.join("shop.yaml")).unwrap();
    assert!(facts.contains("Europe/Berlin"), "{facts}");
    for name in [
        "..%2Fescape.md",
        "logo.png",
        ".hidden.md",
        "notes.md%00.txt",
    ] {
        let response = put(name, "## X\ny\n").await;
        assert!(
            matches!(response.status().as_u16(), 400 | 404),
            "{name}: {}",
            response.status()
        );
    }
    assert!(!dir.parent().unwrap().join("escape.md").exists());
    // Real documents are larger than chat messages: a 300 KiB file goes
    // up; past the upload limit (8 MiB) nothing is read or written.
    let long = format!(
        "## Long guide\n{}\n",
        "Wool needs a gentle wash. ".repeat(12_000)
    );
    assert_eq!(put("guide.md", &long).await.status(), 200);
    assert_eq!(std::fs::read_to_string(dir.join("guide.md")).unwrap(), long);
    assert_eq!(delete("guide.md").await.status(), 204);
    // Refused before it is read, so sent on a connection of its own: the
    // server closes it mid-upload, and a pooled one could take the next
    // request down with it (seen once in CI as an IncompleteMessage).
    let too_big = reqwest::Client::new()
        .put(server.url("/v1/admin/knowledge/files/big.md"))
        .bearer_auth(&admin)
        .json(&json!({ "content": format!("## Big\n{}\n", "x".repeat(9 * 1024 * 1024)) }))
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    assert!(!dir.join("big.md").exists());
    // The route checks for NULs itself (the guard in front leaves it be).
    assert_eq!(
        error_code(put("nul.md", "## X\ny\u{0}z\n").await, 400).await,
        "invalid_text"
    );
    assert!(!dir.join("nul.md").exists());

    // Deleted: the answer goes with it.
    assert_eq!(delete("gifts.md").await.status(), 204);
    assert_eq!(answer("do you gift wrap?").await["handoff"], true);
    assert_eq!(error_code(delete("gifts.md").await, 404).await, "not_found");
    // The last file with sections stays: the assistant would know nothing.
    let last = delete("policies.md").await;
    assert_eq!(error_code(last, 422).await, "knowledge_invalid");
    assert!(dir.join("policies.md").exists());
    assert!(
        answer("do you ship to Lyon?").await["reply"]
            .as_str()
            .unwrap()
            .contains("France")
    );

    // With the built-in demo there is no directory to write to.
    let demo = Server::start(sqlite_options()).await;
    let admin = demo.admin_token().await;
    let response = demo
        .call(
            Method::PUT,
            "/v1/admin/knowledge/files/x.md",
            Some(&admin),
            Some(json!({"content": "## X\ny\n"})),
        )
        .await;
    assert_eq!(error_code(response, 409).await, "no_knowledge_directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_upload_pdfs_as_base64() {
    use base64::Engine as _;
    let dir = shop_dir();
    let server = shop_server(&dir).await;
    let admin = server.admin_token().await;
    let put = |body: Value| {
        let (server, admin) = (&server, &admin);
        async move {
            server
                .call(
                    Method::PUT,
                    "/v1/admin/knowledge/files/care-guide.pdf",
                    Some(admin),
                    Some(body),
                )
                .await
        }
    };
    let pdf = spur_core::testing::pdf_with_pages(&[
        &[
            "Kettle warranty",
            "Every kettle carries a two year warranty.",
        ],
        &[
            "Descaling",
            "Descale the kettle once a month with citric acid.",
        ],
    ])
    .unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&pdf);

    let saved = put(json!({ "contentBase64": encoded })).await;
    assert_eq!(saved.status(), 200);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["sections"], 2, "{saved}");
    assert_eq!(std::fs::read(dir.join("care-guide.pdf")).unwrap(), pdf);
    let tried = server
        .post_as(
            &admin,
            "/v1/admin/knowledge/try",
            json!({ "question": "how long is the kettle warranty?" }),
        )
        .await
        .1;
    assert!(
        tried["reply"].as_str().unwrap().contains("two year"),
        "{tried}"
    );

    // Exactly one of the two fields, valid base64, a readable PDF.
    assert_eq!(
        error_code(put(json!({ "contentBase64": "not base64!" })).await, 400).await,
        "invalid_body"
    );
    // Exactly one of the two fields.
    for body in [
        json!({}),
        json!({ "content": "x", "contentBase64": encoded }),
    ] {
        let status = put(body).await.status().as_u16();
        assert!(matches!(status, 400 | 422), "{status}");
    }
    let truncated = base64::engine::general_purpose::STANDARD.encode(&pdf[..pdf.len() / 3]);
    let refused = put(json!({ "contentBase64": truncated })).await;
    assert_eq!(error_code(refused, 422).await, "knowledge_invalid");
    assert_eq!(std::fs::read(dir.join("care-guide.pdf")).unwrap(), pdf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_changes_apply_without_a_restart() {
    let dir = shop_dir();
    let server = Server::start(Options {
        knowledge: Some(dir.clone()),
        ..sqlite_options()
    })
    .await;
    let admin = server.admin_token().await;
    let asked = "Do you repair tent poles?";
    let first = server.say(asked, None).await;
    assert!(first["reply"].as_str().unwrap().contains("not sure"));

    std::fs::write(
        dir.join("repairs.md"),
        "## Repairs\nOur workshop repairs zips, seams and tent poles.\n",
    )
    .unwrap();
    let mut answered = String::new();
    for _ in 0..50 {
        let said = server.say(asked, None).await;
        answered = said["reply"].as_str().unwrap().to_string();
        if answered.contains("workshop") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        answered.contains("workshop"),
        "the watcher applied the file: {answered}"
    );

    // Nothing loadable: refused, the knowledge in use stays.
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let response = server
        .call(
            Method::POST,
            "/v1/admin/knowledge/reload",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(error_code(response, 422).await, "knowledge_invalid");
    let said = server.say(asked, None).await;
    assert!(said["reply"].as_str().unwrap().contains("workshop"));
    // A good directory again: the reload answers with what is loaded now.
    std::fs::write(
        dir.join("faq.json"),
        r#"[{"question":"Gift wrap?","answer":"Yes."}]"#,
    )
    .unwrap();
    let (status, view) = server
        .post_as(&admin, "/v1/admin/knowledge/reload", json!({}))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["sections"].as_array().unwrap().len(), 1);
}

/// Customers see which section an answer came from only when the operator
/// chooses to show sources.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_are_shown_to_customers_only_when_the_operator_chooses() {
    for show in [false, true] {
        let server = Server::start(Options {
            show_sources: Some(show),
            ..sqlite_options()
        })
        .await;
        let said = server.say("What is your return policy?", None).await;
        let session = said["sessionId"].as_str().unwrap();
        let history = server
            .get_json(&format!("/v1/chat/history/{session}"))
            .await;
        let reply = &history["messages"][1];
        assert_eq!(reply["sender"], "assistant");
        if show {
            let sources = reply["sources"].as_array().expect("sources shown");
            assert!(
                sources
                    .iter()
                    .any(|s| s == "Returns" || s == "What is your return policy?"),
                "{sources:?}"
            );
        } else {
            assert!(reply.get("sources").is_none(), "{reply}");
        }
    }
}

/// A shop's site on loopback: a sitemap of two pages, one of them kept
/// from bots by robots.txt.
async fn shop_site() -> String {
    use axum::http::header;
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sitemap = format!(
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
         <url><loc>{base}/care</loc></url><url><loc>{base}/staff/notes</loc></url></urlset>"
    );
    let app = axum::Router::new()
        .route(
            "/robots.txt",
            get(|| async { "User-agent: *\nDisallow: /staff\n" }),
        )
        .route(
            "/sitemap.xml",
            get(move || async move { ([(header::CONTENT_TYPE, "application/xml")], sitemap) }),
        )
        .route(
            "/care",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html")],
                    "<h2>Wool care</h2><p>Wash wool jumpers by hand at 30 degrees \
                     and dry them flat.</p>",
                )
            }),
        )
        .route("/staff/notes", get(|| async { "internal" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_import_web_pages_and_sitemaps_that_robots_allow() {
    let site = shop_site().await;
    let dir = shop_dir();
    let server = Server::start(Options {
        knowledge: Some(dir.clone()),
        knowledge_watch: Some(false),
        knowledge_fetch_private: Some(true),
        ..sqlite_options()
    })
    .await;
    let admin = server.admin_token().await;
    let import = |url: String| {
        let (server, admin) = (&server, &admin);
        async move {
            server
                .call(
                    Method::POST,
                    "/v1/admin/knowledge/urls",
                    Some(admin),
                    Some(json!({ "url": url })),
                )
                .await
        }
    };

    let imported = import(format!("{site}/sitemap.xml")).await;
    assert_eq!(imported.status(), 200);
    let imported: Value = imported.json().await.unwrap();
    assert_eq!(
        imported["files"][0]["name"], "web-127-0-0-1-care.html",
        "{imported}"
    );
    assert_eq!(imported["files"][0]["sections"], 1);
    assert_eq!(imported["files"].as_array().unwrap().len(), 1);
    assert!(
        imported["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("robots.txt"),
        "{imported}"
    );
    assert!(!dir.join("web-127-0-0-1-staff-notes.txt").exists());
    let tried = server
        .post_as(
            &admin,
            "/v1/admin/knowledge/try",
            json!({ "question": "how do I wash my wool jumper?" }),
        )
        .await
        .1;
    assert!(
        tried["reply"].as_str().unwrap().contains("30 degrees"),
        "{tried}"
    );
    // Importing again replaces the page, and it is listed like an upload.
    let total = imported["totalSections"].as_u64().unwrap();
    let again: Value = import(format!("{site}/care")).await.json().await.unwrap();
    assert_eq!(again["totalSections"].as_u64().unwrap(), total, "{again}");
    let files = server.get_as(&admin, "/v1/admin/knowledge/files").await;
    assert!(
        files.to_string().contains("web-127-0-0-1-care.html"),
        "{files}"
    );

    // What cannot be imported says why.
    assert_eq!(
        error_code(import(format!("{site}/staff/notes")).await, 422).await,
        "robots_disallowed"
    );
    assert_eq!(
        error_code(import("http://127.0.0.1:9/faq".into()).await, 502).await,
        "fetch_failed"
    );
    for bad in [
        "ftp://shop.example/faq",
        "",
        "https://user:pw@shop.example/",
    ] {
        assert_eq!(
            error_code(import(bad.into()).await, 400).await,
            "invalid_url",
            "{bad}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_imports_reach_only_public_addresses_unless_the_operator_allows_more() {
    let site = shop_site().await;
    let dir = shop_dir();
    let server = shop_server(&dir).await;
    let admin = server.admin_token().await;
    let response = server
        .call(
            Method::POST,
            "/v1/admin/knowledge/urls",
            Some(&admin),
            Some(json!({ "url": format!("{site}/care") })),
        )
        .await;
    assert_eq!(error_code(response, 400).await, "invalid_url");
    // A name for a private address is no way around it.
    let port = site.rsplit(':').next().unwrap();
    let response = server
        .call(
            Method::POST,
            "/v1/admin/knowledge/urls",
            Some(&admin),
            Some(json!({ "url": format!("http://localhost:{port}/care") })),
        )
        .await;
    assert_eq!(error_code(response, 502).await, "fetch_failed");
    assert!(!dir.join("web-localhost-care.html").exists());

    // Without a knowledge directory there is nowhere to put pages.
    let demo = Server::start(sqlite_options()).await;
    let admin = demo.admin_token().await;
    let response = demo
        .call(
            Method::POST,
            "/v1/admin/knowledge/urls",
            Some(&admin),
            Some(json!({ "url": "https://shop.example/faq" })),
        )
        .await;
    assert_eq!(error_code(response, 409).await, "no_knowledge_directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedding_model_on_the_llm_server_ranks_by_meaning() {
    let (base, fake) = spur_core::testing::fake_openai::start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("spur-kb-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("policies.md"),
        "## Change of mind\nReturns of unworn items are accepted within 30 days.\n\n\
         ## Parcels abroad\nParcels leave within two days.\n",
    )
    .unwrap();
    let database = sqlite_options().database_url;
    let options = || Options {
        knowledge: Some(dir.clone()),
        knowledge_watch: Some(false),
        openai_base_url: Some(base.clone()),
        openai_embedding_model: Some("text-embedding-3-small".into()),
        embedding_dims: Some(16),
        database_url: database.clone(),
        ..sqlite_options()
    };
    let server = Server::start(options()).await;
    let admin = server.admin_token().await;
    let tried = server
        .post_as(
            &admin,
            "/v1/admin/knowledge/try",
            json!({ "question": "I regret it, can I get a refund?" }),
        )
        .await
        .1;
    let best = &tried["passages"][0];
    assert_eq!(best["title"], "Change of mind", "{tried}");
    assert!(best["similarity"].as_f64().unwrap() > 0.5, "{tried}");
    // The sections went over in one batch at start; the question after.
    let batches = fake.embedded.lock().unwrap().clone();
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert_eq!(batches[1], 1);

    // A reload sends nothing already embedded.
    let (status, _) = server
        .post_as(&admin, "/v1/admin/knowledge/reload", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(fake.embedded.lock().unwrap().len(), 2);

    // Another instance on the same database (or this one restarted) reads
    // the vectors from it: nothing is embedded again.
    let other = Server::start(options()).await;
    let admin = other.admin_token().await;
    let (status, _) = other
        .post_as(&admin, "/v1/admin/knowledge/reload", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(fake.embedded.lock().unwrap().len(), 2);
}

/// Reloads run one at a time, each reading the directory after the one
/// before was applied: a load that read a file since deleted (the
/// watcher's, after an upload) is never applied after the reload that
/// followed the deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_reloads_run_one_at_a_time() {
    let dir = shop_dir();
    let server = shop_server(&dir).await;
    let sections = |server: &Server| server.state.engine.knowledge().len();
    let before = sections(&server);
    let in_progress = server.state.knowledge.reloading.lock().await;
    std::fs::write(
        dir.join("gifts.md"),
        "## Gift wrapping\nWe gift wrap for 3 euros.\n",
    )
    .unwrap();
    let state = server.state.clone();
    let reload = tokio::spawn(async move { state.knowledge.reload(&state.engine).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!reload.is_finished(), "it waits for the reload in progress");
    assert_eq!(sections(&server), before);
    drop(in_progress);
    reload.await.unwrap().unwrap();
    assert_eq!(sections(&server), before + 1);
}
