//! With the `tokenizer` feature: writes each OpenAI encoding's tokens, in id
//! order, as a compact list (`u16` little-endian length, then the bytes) to
//! `OUT_DIR`. bpe-openai's prebuilt tables are 47 MB of hash tables; the list
//! is 2.4 MB, and `prompt::token_tables` rebuilds the same tables from it at
//! run time for hosts that ship the list instead (the Python wheel).
// A build script that cannot write its output should stop the build, loudly.
#![allow(clippy::expect_used)]

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "tokenizer")]
    tokenizer::write_lists();
}

#[cfg(feature = "tokenizer")]
mod tokenizer {
    use std::path::PathBuf;

    pub fn write_lists() {
        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
        for (name, tokenizer) in [
            ("cl100k_base", bpe_openai::cl100k_base()),
            ("o200k_base", bpe_openai::o200k_base()),
        ] {
            let bpe = &tokenizer.bpe;
            let mut list = Vec::new();
            for id in 0..bpe.num_tokens() {
                let id = u32::try_from(id).expect("token ids fit in u32");
                let bytes = bpe.token_bytes(id);
                let len = u16::try_from(bytes.len()).expect("tokens are shorter than 64 KiB");
                list.extend_from_slice(&len.to_le_bytes());
                list.extend_from_slice(bytes);
            }
            std::fs::write(out.join(format!("{name}.tokens")), list).expect("OUT_DIR is writable");
        }
    }
}
