//! Tools that call the shop's own HTTP APIs, from configuration: an order
//! lookup is a URL template, an argument schema and the fields to return.
//!
//! Outbound calls are bounded the way knowledge imports are: https to
//! public addresses only (checked when the name resolves, so a DNS answer
//! cannot point a tool at the server's own network), no redirects, a
//! timeout, a size cap on the answer. A host listed in `allow_hosts` may
//! be called over plain http and on a private address (a shop API on the
//! same network, tests).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::{Tool, ToolContext, ToolError, ToolSpec};
use crate::knowledge::web::guard::{NotPublic, PublicResolver, literal_is_private};
use crate::knowledge::web::{Capped, read_capped};

/// The placeholder bound to the verified customer, never to the model.
const CUSTOMER: &str = "customer";

/// One HTTP tool as an operator writes it (`[[tools.http]]` in the
/// server's TOML).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpToolConfig {
    pub name: String,
    pub description: String,
    /// `GET` (arguments not in the path go in the query) or `POST` (in a
    /// JSON body).
    #[serde(default = "get")]
    pub method: String,
    /// e.g. `https://orders.example/api/orders/{order_number}`: a
    /// placeholder is a whole path segment, filled with a required
    /// argument (percent-encoded) or `{customer}` (the verified customer).
    pub url: String,
    /// Header values; `${NAME}` is the environment variable `NAME`, read
    /// at start (secrets stay out of the file).
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// JSON Schema of the arguments (an object schema).
    pub parameters: Value,
    /// Fields of the answer given to the model (`a.b` for nested ones);
    /// empty gives the whole answer.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Bytes of the answer read at most.
    #[serde(default = "max_response_bytes")]
    pub max_response_bytes: usize,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Argument fields never written to records.
    #[serde(default)]
    pub secret_fields: Vec<String>,
    /// Changes something in the shop (cancels, updates): the customer
    /// confirms each call in the chat first, and the request carries an
    /// `Idempotency-Key` header, the same on every try of that action.
    #[serde(default)]
    pub writes: bool,
}

impl HttpToolConfig {
    /// A GET tool with the defaults a TOML entry gets (no headers, the
    /// whole answer, 256 KB, the tools' timeout).
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        url: impl Into<String>,
        parameters: Value,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            method: get(),
            url: url.into(),
            headers: HashMap::new(),
            parameters,
            fields: Vec::new(),
            max_response_bytes: max_response_bytes(),
            timeout_ms: None,
            secret_fields: Vec::new(),
            writes: false,
        }
    }
}

fn get() -> String {
    "GET".into()
}

fn max_response_bytes() -> usize {
    256 * 1024
}

/// One segment of a URL template's path, parsed once.
#[derive(Debug, PartialEq)]
enum Segment {
    Static(String),
    /// Filled with this (required) argument.
    Argument(String),
    /// Filled with the verified customer.
    Customer,
}

/// An HTTP tool ready to call.
pub struct HttpTool {
    spec: ToolSpec,
    method: reqwest::Method,
    /// The URL as configured; its path is rebuilt from `segments` per call.
    url: Url,
    segments: Vec<Segment>,
    headers: HeaderMap,
    fields: Vec<String>,
    max_response_bytes: usize,
    client: reqwest::Client,
}

impl std::fmt::Debug for HttpTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers hold secrets: never printed.
        f.debug_struct("HttpTool")
            .field("name", &self.spec.name)
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .finish()
    }
}

fn definition(name: &str, why: impl std::fmt::Display) -> ToolError {
    ToolError::Definition(format!("{name}: {why}"))
}

impl HttpTool {
    /// Checks `config` and reads its secrets from the environment through
    /// `env` (injected, so tests need not set process variables).
    pub fn new(
        config: HttpToolConfig,
        allow_hosts: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ToolError> {
        let name = config.name.as_str();
        let method = match config.method.to_ascii_uppercase().as_str() {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            other => return Err(definition(name, format!("method {other} (GET or POST)"))),
        };
        let url = Url::parse(&config.url).map_err(|e| definition(name, format!("url: {e}")))?;
        let allowed = outbound(&url, allow_hosts).map_err(|e| definition(name, e))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(definition(
                name,
                "no query or fragment in the url (arguments fill them)",
            ));
        }
        let required: Vec<&str> = config.parameters["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut segments = Vec::new();
        for segment in url.path_segments().into_iter().flatten() {
            let decoded = segment.replace("%7B", "{").replace("%7D", "}");
            if let Some(placeholder) = decoded.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if placeholder == CUSTOMER {
                    segments.push(Segment::Customer);
                } else if required.contains(&placeholder) {
                    segments.push(Segment::Argument(placeholder.to_string()));
                } else {
                    return Err(definition(
                        name,
                        format!("{{{placeholder}}} is not a required argument"),
                    ));
                }
            } else if decoded.contains('{') || decoded.contains('}') {
                return Err(definition(
                    name,
                    "a placeholder must be a whole path segment",
                ));
            } else {
                // Kept as written (already encoded): it goes back unchanged.
                segments.push(Segment::Static(segment.to_string()));
            }
        }
        let mut headers = HeaderMap::new();
        for (key, template) in &config.headers {
            let value = with_env(template, &env).map_err(|e| definition(name, e))?;
            let key = HeaderName::try_from(key.as_str())
                .map_err(|e| definition(name, format!("header {key}: {e}")))?;
            let mut value = HeaderValue::try_from(value)
                .map_err(|e| definition(name, format!("header {key}: {e}")))?;
            value.set_sensitive(true);
            headers.insert(key, value);
        }
        let timeout = Duration::from_millis(config.timeout_ms.unwrap_or(5_000));
        let client = outbound_client(allowed, timeout, Some(timeout))
            .map_err(|e| definition(name, format!("http client: {e}")))?;
        let mut spec = ToolSpec::new(name, config.description, config.parameters);
        spec.timeout = Some(timeout);
        spec.secret_fields = config.secret_fields;
        spec.requires_customer = segments.contains(&Segment::Customer);
        spec.writes = config.writes;
        Ok(Self {
            spec,
            method,
            url,
            segments,
            headers,
            fields: config.fields,
            max_response_bytes: config.max_response_bytes,
            client,
        })
    }

    /// The URL for `arguments`, and the arguments left for the query or body.
    fn url_for(
        &self,
        mut arguments: Map<String, Value>,
        context: &ToolContext,
    ) -> Result<(Url, Map<String, Value>), ToolError> {
        let mut path = String::new();
        for segment in &self.segments {
            path.push('/');
            let (placeholder, value) = match segment {
                Segment::Static(text) => {
                    path.push_str(text);
                    continue;
                }
                Segment::Customer => (
                    CUSTOMER,
                    context.customer.clone().ok_or(ToolError::NotAllowed)?,
                ),
                Segment::Argument(name) => match arguments.remove(name) {
                    Some(Value::String(s)) => (name.as_str(), s),
                    Some(Value::Number(n)) => (name.as_str(), n.to_string()),
                    _ => {
                        return Err(ToolError::InvalidArguments(format!(
                            "{name} must be a string or a number"
                        )));
                    }
                },
            };
            // "." and ".." would climb the path once the URL is normalised.
            if value.trim_matches('.').is_empty() {
                return Err(ToolError::InvalidArguments(format!(
                    "{placeholder} may not be empty or dots"
                )));
            }
            path.extend(utf8_percent_encode(&value, SEGMENT));
        }
        let mut url = self.url.clone();
        url.set_path(&path);
        Ok((url, arguments))
    }
}

/// Everything but unreserved characters is encoded in a filled segment:
/// an argument cannot add a segment, a query or a fragment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Whether `url`'s host is one of `allow_hosts` (plain http and private
/// addresses allowed), or why it may not be called: anything else must be
/// https to an address that is not private or loopback (names are checked
/// again when they resolve, by [`PublicResolver`]).
pub(super) fn outbound(url: &Url, allow_hosts: &[String]) -> Result<bool, &'static str> {
    let host = url.host_str().ok_or("the url has no host")?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let allowed = allow_hosts.iter().any(|h| h == host || *h == authority);
    if !allowed && url.scheme() != "https" {
        return Err("only https urls, unless the host is in allow_hosts");
    }
    if !allowed && literal_is_private(url) {
        return Err("a private or loopback address, not in allow_hosts");
    }
    Ok(allowed)
}

/// A client under the outbound rules: no redirects (a redirect could
/// leave the checked host), and names resolved to public addresses only
/// unless the host is `allowed`. `total` bounds a whole call (none for a
/// stream that stays open).
pub(super) fn outbound_client(
    allowed: bool,
    connect: Duration,
    total: Option<Duration>,
) -> reqwest::Result<reqwest::Client> {
    let mut client = reqwest::Client::builder()
        .connect_timeout(connect)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(total) = total {
        client = client.timeout(total);
    }
    if !allowed {
        client = client.dns_resolver(Arc::new(PublicResolver));
    }
    client.build()
}

/// `template` with each `${NAME}` replaced by the variable's value.
pub(super) fn with_env(
    template: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("an unclosed ${{ in {template:?}"))?;
        let name = &after[..end];
        let value =
            env(name).ok_or_else(|| format!("the environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Why a call got no answer, in words for the model (never the address).
fn send_failure(error: &reqwest::Error) -> &'static str {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<NotPublic>() {
            return "the service's address is not public";
        }
        source = cause.source();
    }
    if error.is_timeout() {
        "the service call timed out"
    } else if error.is_connect() {
        "the service call could not connect"
    } else {
        "the service call failed"
    }
}

/// The listed fields of `answer` (`a.b` reaches into objects), under their
/// own names; missing ones are left out.
fn picked(answer: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return answer;
    }
    let mut out = Map::new();
    for field in fields {
        let found = field
            .split('.')
            .try_fold(&answer, |value, key| value.get(key));
        if let Some(value) = found {
            out.insert(field.clone(), value.clone());
        }
    }
    Value::Object(out)
}

#[async_trait::async_trait]
impl Tool for HttpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<Value, ToolError> {
        let Value::Object(arguments) = arguments else {
            return Err(ToolError::InvalidArguments("an object is expected".into()));
        };
        let (mut url, rest) = self.url_for(arguments, context)?;
        let request = if self.method == reqwest::Method::GET {
            if !rest.is_empty() {
                let mut query = url.query_pairs_mut();
                for (key, value) in &rest {
                    match value {
                        Value::String(s) => query.append_pair(key, s),
                        other => query.append_pair(key, &other.to_string()),
                    };
                }
            }
            self.client.get(url)
        } else {
            self.client.post(url).json(&rest)
        };
        let mut request = request.headers(self.headers.clone());
        if let Some(key) = &context.idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.map_err(|e| {
            tracing::warn!(tool = %self.spec.name, error = %e, "an HTTP tool call failed");
            ToolError::Failed(send_failure(&e).into())
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(ToolError::Failed(format!(
                "the service answered HTTP {}",
                status.as_u16()
            )));
        }
        let body = read_capped(response, self.max_response_bytes)
            .await
            .map_err(|e| match e {
                Capped::TooLarge => ToolError::Failed(format!(
                    "the service's answer was over {} bytes",
                    self.max_response_bytes
                )),
                Capped::Failed(_) => ToolError::Failed("the service's answer broke off".into()),
            })?;
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|_| ToolError::Failed("the service did not answer JSON".into()))?;
        Ok(picked(answer, &self.fields))
    }
}
