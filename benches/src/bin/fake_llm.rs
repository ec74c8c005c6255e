//! `spur-fake-llm [port]`: the fake OpenAI-compatible server as a process,
//! for the Python tests and manual runs. Prints its `/v1` base URL.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("http://{}/v1", listener.local_addr()?);
    spur_core::testing::fake_openai::serve(listener, Default::default()).await
}
