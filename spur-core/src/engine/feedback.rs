//! Customers rating what they were told: a thumbs up or down on one answer,
//! a 1-5 score for the conversation, and the analytics an operator reads.
//! The session is the customer's credential: only their own conversation's
//! answers can be rated.

use super::SupportEngine;
use crate::conversation::{MessageId, SessionId};
use crate::engine::EngineError;
use crate::insight::feedback::{check_comment, check_score};
use crate::insight::{Analytics, AnalyticsOptions, Csat, Rating, ReplyRating};

impl SupportEngine {
    /// Records the customer's rating of an answer (the assistant's or an
    /// agent's message) in their conversation; a second rating replaces the
    /// first. [`EngineError::UnknownMessage`] when the conversation holds
    /// no such answer.
    pub async fn rate_reply(
        &self,
        session: SessionId,
        message: MessageId,
        rating: Rating,
        comment: Option<&str>,
    ) -> Result<(), EngineError> {
        let comment = check_comment(comment)?;
        let conversation = self.conversation(session).await?;
        let rating = ReplyRating {
            conversation_id: conversation.id,
            message_id: message,
            rating,
            comment,
            at: self.now(),
        };
        if self.inner.store.rate_reply(&rating).await? {
            Ok(())
        } else {
            Err(EngineError::UnknownMessage)
        }
    }

    /// Records the customer's satisfaction score (1-5) for their
    /// conversation, replacing an earlier one. [`EngineError::NothingToRate`]
    /// while nobody has answered in it.
    pub async fn rate_conversation(
        &self,
        session: SessionId,
        score: i64,
        comment: Option<&str>,
    ) -> Result<(), EngineError> {
        let score = check_score(score)?;
        let comment = check_comment(comment)?;
        let conversation = self.conversation(session).await?;
        let csat = Csat {
            conversation_id: conversation.id,
            score,
            comment,
            at: self.now(),
        };
        if self.inner.store.rate_conversation(&csat).await? {
            Ok(())
        } else {
            Err(EngineError::NothingToRate)
        }
    }

    /// The metrics over the conversations started in the options' days (on
    /// one channel, or all).
    pub async fn analytics(
        &self,
        options: &AnalyticsOptions,
        channel: Option<String>,
    ) -> Result<Analytics, EngineError> {
        let query = options.query(channel)?;
        let store = &self.inner.store;
        let (facts, breakdown) = futures::future::try_join(
            store.conversation_facts(&query),
            store.reply_breakdown(&query),
        )
        .await?;
        let mut report = Analytics::compute(&facts, breakdown, options);
        report.budget = self.budget_status().await;
        Ok(report)
    }

    /// Where the LLM budgets stand (none configured: `None`).
    pub async fn budget_status(&self) -> Option<crate::insight::BudgetStatus> {
        self.spend_synced().await;
        let budget = self.inner.budget.as_ref()?;
        Some(
            budget
                .guard
                .status(crate::insight::facts::millis(self.now())),
        )
    }

    /// Reads the spend from the store when the guard asks (a new period, a
    /// minute since); a store that cannot answer leaves the count as it is.
    pub(super) async fn spend_synced(&self) {
        let Some(budget) = &self.inner.budget else {
            return;
        };
        let now = crate::insight::facts::millis(self.now());
        let Some(request) = budget.guard.sync_request(now) else {
            return;
        };
        let spent = |since| async move {
            let filter = crate::store::ReplyFilter {
                since: Some(since),
                ..crate::store::ReplyFilter::default()
            };
            let totals = self.inner.store.reply_totals(&filter).await?;
            let tokens = |n: i64| u64::try_from(n).unwrap_or(0);
            Ok::<f64, crate::store::StoreError>(
                budget
                    .guard
                    .cost(tokens(totals.tokens_in), tokens(totals.tokens_out)),
            )
        };
        match futures::future::try_join(spent(request.day_start), spent(request.month_start)).await
        {
            Ok((day, month)) => budget.guard.synced(now, day, month),
            Err(error) => tracing::warn!(%error, "could not read the LLM spend; counting on"),
        }
    }
}
