pub mod admin;
pub mod agent;
pub mod auth;
pub mod chat;
pub mod feed;
pub mod ops;
pub mod tickets;
