//! What tells an operator whether the assistant helps: customers' ratings
//! of answers and conversations (`feedback.rs`), the facts the store keeps
//! per conversation (`facts.rs`) and the metrics computed from them, per day
//! in the shop's time zone (`analytics.rs`).

pub mod analytics;
pub mod budget;
pub mod facts;
pub mod feedback;

pub use analytics::{Analytics, AnalyticsOptions, DayFigures, Totals};
pub use budget::{BudgetConfig, BudgetStatus, SpendingGuard, WhenSpent};
pub use facts::{Breakdown, ConversationFacts, FactsQuery, LATENCY_BOUNDS_MS};
pub use feedback::{Answerer, Csat, Rating, ReplyRating};
