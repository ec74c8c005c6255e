pub mod chat;
pub mod feed;
pub mod ops;
