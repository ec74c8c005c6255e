//! `spur-export-vocab <encoding> <out>`: writes bpe-openai's vocabulary in
//! tiktoken's file format (`base64(token) rank` per line), so the Python
//! bench can run tiktoken offline on exactly the same encoding.

use std::io::Write;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let encoding = args.next().unwrap_or_else(|| "o200k_base".into());
    let out = args
        .next()
        .ok_or("usage: spur-export-vocab <o200k_base|cl100k_base> <out>")?;
    let tokenizer = match encoding.as_str() {
        "o200k_base" => bpe_openai::o200k_base(),
        "cl100k_base" => bpe_openai::cl100k_base(),
        other => return Err(format!("unknown encoding {other}").into()),
    };
    let bpe = &tokenizer.bpe;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
    for id in 0..bpe.num_tokens() {
        let bytes = bpe.token_bytes(id as u32);
        writeln!(file, "{} {id}", STANDARD.encode(bytes))?;
    }
    file.flush()?;
    Ok(())
}
