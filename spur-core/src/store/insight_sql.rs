//! Ratings and analytics facts on SQLite and PostgreSQL: one SQL text for
//! both, but for how a timestamp becomes Unix milliseconds ([`Dialect`]).
//! Instantiated per backend by [`sql_insight!`], whose methods the store's
//! `ConversationStore` implementation calls.

use std::sync::LazyLock;

use crate::insight::LATENCY_BOUNDS_MS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `column` as Unix milliseconds, rounded to the nearest (SQLite's
    /// `julianday` keeps milliseconds; PostgreSQL microseconds).
    fn millis(self, column: &str) -> String {
        match self {
            Self::Sqlite => {
                format!("CAST(ROUND((julianday({column}) - 2440587.5) * 86400000.0) AS INTEGER)")
            }
            Self::Postgres => format!("CAST(ROUND(EXTRACT(EPOCH FROM {column}) * 1000) AS BIGINT)"),
        }
    }
}

/// A reply that was the polite fallback (JSON `true` reads as `1` in SQLite).
const FALLBACK: &str = "CAST(meta->>'usedFallback' AS TEXT) IN ('true', '1')";

/// The conversations a `FactsQuery` selects ($1 since, $2 until, $3 channel).
const SELECTED: &str = "created_at >= $1 AND created_at < $2 AND ($3 IS NULL OR channel = $3)";

pub(crate) const RATE_REPLY: &str = "INSERT INTO reply_ratings \
       (message_id, conversation_id, answerer, rating, comment, created_at, updated_at) \
     SELECT id, conversation_id, CASE WHEN sender = 'assistant' THEN 'bot' ELSE 'agent' END, \
       $3, $4, $5, $5 \
     FROM messages WHERE id = $1 AND conversation_id = $2 AND sender IN ('assistant', 'agent') \
     ON CONFLICT (message_id) DO UPDATE SET rating = excluded.rating, \
       comment = excluded.comment, updated_at = excluded.updated_at";

pub(crate) const RATE_CONVERSATION: &str = "INSERT INTO csat \
       (conversation_id, answerer, score, comment, created_at, updated_at) \
     SELECT c.id, CASE WHEN EXISTS (SELECT 1 FROM messages a WHERE a.conversation_id = c.id \
       AND a.sender = 'agent') THEN 'agent' ELSE 'bot' END, $2, $3, $4, $4 \
     FROM conversations c WHERE c.id = $1 AND EXISTS (SELECT 1 FROM messages r \
       WHERE r.conversation_id = c.id AND r.sender IN ('assistant', 'agent')) \
     ON CONFLICT (conversation_id) DO UPDATE SET answerer = excluded.answerer, \
       score = excluded.score, comment = excluded.comment, updated_at = excluded.updated_at";

fn sum(condition: &str, value: &str) -> String {
    format!("CAST(SUM(CASE WHEN {condition} THEN {value} ELSE 0 END) AS BIGINT)")
}

/// One row per selected conversation: see `ConversationFacts`.
fn facts_sql(dialect: Dialect) -> String {
    let at = dialect.millis("m.created_at");
    let latency = "CAST(meta->>'latencyMs' AS BIGINT)";
    let mut buckets = Vec::new();
    let mut lower: Option<i64> = None;
    for (i, bound) in LATENCY_BOUNDS_MS
        .iter()
        .map(Some)
        .chain(std::iter::once(None))
        .enumerate()
    {
        let mut condition = String::from("sender = 'assistant'");
        if let Some(low) = lower {
            condition.push_str(&format!(" AND {latency} >= {low}"));
        }
        match bound {
            Some(high) => condition.push_str(&format!(" AND {latency} < {high}")),
            None if lower.is_none() => condition.push_str(&format!(" AND {latency} >= 0")),
            None => {}
        }
        buckets.push(format!("{} AS l{i}", sum(&condition, "1")));
        lower = bound.copied();
    }
    let buckets_out: Vec<String> = (0..buckets.len())
        .map(|i| format!("COALESCE(agg.l{i}, 0) AS l{i}"))
        .collect();
    let agent_answer = "sender = 'agent' AND prev_sender = 'customer'";
    format!(
        "WITH c AS (SELECT id, channel, status, assignee, created_at, updated_at \
           FROM conversations WHERE {SELECTED}), \
         m AS (SELECT m.conversation_id, m.sender, m.seq, m.meta, {at} AS at, \
             LAG(m.sender) OVER w AS prev_sender, LAG({at}) OVER w AS prev_at \
           FROM messages m JOIN c ON c.id = m.conversation_id \
           WINDOW w AS (PARTITION BY m.conversation_id ORDER BY m.seq)), \
         agg AS (SELECT conversation_id, \
             {customer} AS customer_messages, \
             MIN(CASE WHEN sender = 'customer' THEN at END) AS first_customer_ms, \
             {replies} AS replies, \
             {fallbacks} AS fallbacks, \
             {answers} AS answers, \
             MIN(CASE WHEN sender = 'assistant' THEN at END) AS first_reply_ms, \
             MIN(CASE WHEN sender = 'system' AND meta->>'escalation' IS NOT NULL THEN seq END) AS handoff_seq, \
             MIN(CASE WHEN sender = 'system' AND meta->>'escalation' IS NOT NULL THEN at END) AS handoff_ms, \
             {agents} AS agent_messages, \
             MIN(CASE WHEN sender = 'agent' THEN at END) AS first_agent_ms, \
             {agent_answers} AS agent_answers, \
             {agent_wait} AS agent_wait_ms, \
             {tokens_in} AS tokens_in, \
             {tokens_out} AS tokens_out, \
             {buckets} \
           FROM m GROUP BY conversation_id), \
         r AS (SELECT conversation_id, \
             {bot_up} AS bot_up, {bot_down} AS bot_down, \
             {agent_up} AS agent_up, {agent_down} AS agent_down \
           FROM reply_ratings WHERE conversation_id IN (SELECT id FROM c) GROUP BY conversation_id) \
         SELECT c.id, c.channel, c.status, c.assignee IS NOT NULL AS assigned, \
           {created} AS created_ms, {updated} AS updated_ms, \
           COALESCE(agg.customer_messages, 0) AS customer_messages, agg.first_customer_ms, \
           COALESCE(agg.replies, 0) AS replies, COALESCE(agg.fallbacks, 0) AS fallbacks, \
           COALESCE(agg.answers, 0) AS answers, agg.first_reply_ms, agg.handoff_ms, \
           (SELECT h.meta->>'escalation' FROM messages h \
             WHERE h.conversation_id = c.id AND h.seq = agg.handoff_seq) AS handoff_reason, \
           COALESCE(agg.agent_messages, 0) AS agent_messages, agg.first_agent_ms, \
           COALESCE(agg.agent_answers, 0) AS agent_answers, \
           COALESCE(agg.agent_wait_ms, 0) AS agent_wait_ms, \
           COALESCE(agg.tokens_in, 0) AS tokens_in, COALESCE(agg.tokens_out, 0) AS tokens_out, \
           {buckets_out}, \
           COALESCE(r.bot_up, 0) AS bot_up, COALESCE(r.bot_down, 0) AS bot_down, \
           COALESCE(r.agent_up, 0) AS agent_up, COALESCE(r.agent_down, 0) AS agent_down, \
           CAST(s.score AS BIGINT) AS csat_score, s.answerer AS csat_answerer \
         FROM c LEFT JOIN agg ON agg.conversation_id = c.id \
           LEFT JOIN r ON r.conversation_id = c.id \
           LEFT JOIN csat s ON s.conversation_id = c.id \
         ORDER BY c.created_at, c.id",
        customer = sum("sender = 'customer'", "1"),
        replies = sum("sender = 'assistant'", "1"),
        fallbacks = sum(&format!("sender = 'assistant' AND {FALLBACK}"), "1"),
        answers = sum(
            &format!("sender = 'assistant' AND NOT ({FALLBACK}) AND meta->'gap' IS NULL"),
            "1"
        ),
        agents = sum("sender = 'agent'", "1"),
        agent_answers = sum(agent_answer, "1"),
        agent_wait = sum(agent_answer, "at - prev_at"),
        tokens_in = sum(
            "sender = 'assistant'",
            "COALESCE(CAST(meta->>'tokensIn' AS BIGINT), 0)"
        ),
        tokens_out = sum(
            "sender = 'assistant'",
            "COALESCE(CAST(meta->>'tokensOut' AS BIGINT), 0)"
        ),
        buckets = buckets.join(", "),
        buckets_out = buckets_out.join(", "),
        bot_up = sum("answerer = 'bot' AND rating = 'up'", "1"),
        bot_down = sum("answerer = 'bot' AND rating = 'down'", "1"),
        agent_up = sum("answerer = 'agent' AND rating = 'up'", "1"),
        agent_down = sum("answerer = 'agent' AND rating = 'down'", "1"),
        created = dialect.millis("c.created_at"),
        updated = dialect.millis("c.updated_at"),
    )
}

pub(crate) static SQLITE_FACTS: LazyLock<String> = LazyLock::new(|| facts_sql(Dialect::Sqlite));
pub(crate) static POSTGRES_FACTS: LazyLock<String> = LazyLock::new(|| facts_sql(Dialect::Postgres));

pub(crate) fn facts(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => &SQLITE_FACTS,
        Dialect::Postgres => &POSTGRES_FACTS,
    }
}

/// The selected conversations' replies by fallback code and by verdict.
pub(crate) static BREAKDOWN: LazyLock<String> = LazyLock::new(|| {
    let joined = "FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                  WHERE c.created_at >= $1 AND c.created_at < $2 AND ($3 IS NULL OR c.channel = $3) \
                  AND m.sender = 'assistant'";
    let code = "COALESCE(m.meta->>'errorCode', 'unknown')";
    let verdict = "m.meta->'grounding'->>'verdict'";
    let fallback = FALLBACK.replace("meta->>", "m.meta->>");
    format!(
        "SELECT 'fallback' AS kind, {code} AS name, CAST(COUNT(*) AS BIGINT) AS n {joined} \
           AND {fallback} GROUP BY {code} \
         UNION ALL \
         SELECT 'grounding' AS kind, {verdict} AS name, CAST(COUNT(*) AS BIGINT) AS n {joined} \
           AND {verdict} IS NOT NULL GROUP BY {verdict}"
    )
});

#[derive(sqlx::FromRow)]
pub(crate) struct FactsRow {
    id: uuid::Uuid,
    channel: String,
    status: String,
    assigned: bool,
    created_ms: i64,
    updated_ms: i64,
    customer_messages: i64,
    first_customer_ms: Option<i64>,
    replies: i64,
    fallbacks: i64,
    answers: i64,
    first_reply_ms: Option<i64>,
    handoff_ms: Option<i64>,
    handoff_reason: Option<String>,
    agent_messages: i64,
    first_agent_ms: Option<i64>,
    agent_answers: i64,
    agent_wait_ms: i64,
    tokens_in: i64,
    tokens_out: i64,
    l0: i64,
    l1: i64,
    l2: i64,
    l3: i64,
    l4: i64,
    l5: i64,
    l6: i64,
    l7: i64,
    l8: i64,
    bot_up: i64,
    bot_down: i64,
    agent_up: i64,
    agent_down: i64,
    csat_score: Option<i64>,
    csat_answerer: Option<String>,
}

impl TryFrom<FactsRow> for crate::insight::ConversationFacts {
    type Error = super::StoreError;

    fn try_from(row: FactsRow) -> Result<Self, Self::Error> {
        use crate::insight::Answerer;
        let corrupt = |what: String| super::StoreError::Corrupt(what);
        let csat = match (row.csat_score, row.csat_answerer) {
            (Some(score), Some(answerer)) => Some((
                u8::try_from(score).map_err(|_| corrupt(format!("csat score {score}")))?,
                Answerer::parse(&answerer)
                    .ok_or_else(|| corrupt(format!("answerer {answerer:?}")))?,
            )),
            _ => None,
        };
        Ok(Self {
            id: row.id.into(),
            channel: row.channel,
            status: crate::conversation::Status::parse(&row.status)
                .ok_or_else(|| corrupt(format!("status {:?}", row.status)))?,
            assigned: row.assigned,
            created_ms: row.created_ms,
            updated_ms: row.updated_ms,
            customer_messages: row.customer_messages,
            first_customer_ms: row.first_customer_ms,
            replies: row.replies,
            fallbacks: row.fallbacks,
            answers: row.answers,
            first_reply_ms: row.first_reply_ms,
            handoff_ms: row.handoff_ms,
            handoff_reason: row.handoff_reason,
            agent_messages: row.agent_messages,
            first_agent_ms: row.first_agent_ms,
            agent_answers: row.agent_answers,
            agent_wait_ms: row.agent_wait_ms,
            tokens_in: row.tokens_in,
            tokens_out: row.tokens_out,
            latency: [
                row.l0, row.l1, row.l2, row.l3, row.l4, row.l5, row.l6, row.l7, row.l8,
            ],
            bot_up: row.bot_up,
            bot_down: row.bot_down,
            agent_up: row.agent_up,
            agent_down: row.agent_down,
            csat,
        })
    }
}

/// Implements the ratings and analytics reads as inherent methods of a sqlx
/// store (`DIALECT` names its SQL dialect).
macro_rules! sql_insight {
    ($store:ident) => {
        impl $store {
            async fn insight_rate_reply(
                &self,
                rating: &$crate::insight::ReplyRating,
            ) -> Result<bool, $crate::store::StoreError> {
                let done = sqlx::query($crate::store::insight_sql::RATE_REPLY)
                    .bind(rating.message_id.as_uuid())
                    .bind(rating.conversation_id.as_uuid())
                    .bind(rating.rating.as_str())
                    .bind(rating.comment.as_deref())
                    .bind($crate::store::sql::SqlTime(rating.at))
                    .execute(&self.writer)
                    .await
                    .map_err($crate::store::sql::backend)?;
                Ok(done.rows_affected() > 0)
            }

            async fn insight_rate_conversation(
                &self,
                csat: &$crate::insight::Csat,
            ) -> Result<bool, $crate::store::StoreError> {
                let done = sqlx::query($crate::store::insight_sql::RATE_CONVERSATION)
                    .bind(csat.conversation_id.as_uuid())
                    .bind(i32::from(csat.score))
                    .bind(csat.comment.as_deref())
                    .bind($crate::store::sql::SqlTime(csat.at))
                    .execute(&self.writer)
                    .await
                    .map_err($crate::store::sql::backend)?;
                Ok(done.rows_affected() > 0)
            }

            async fn insight_facts(
                &self,
                query: &$crate::insight::FactsQuery,
            ) -> Result<Vec<$crate::insight::ConversationFacts>, $crate::store::StoreError> {
                let rows = sqlx::query_as::<_, $crate::store::insight_sql::FactsRow>(
                    sqlx::AssertSqlSafe($crate::store::insight_sql::facts(Self::DIALECT)),
                )
                .bind($crate::store::sql::SqlTime(query.since))
                .bind($crate::store::sql::SqlTime(query.until))
                .bind(query.channel.as_deref())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::sql::backend)?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn insight_breakdown(
                &self,
                query: &$crate::insight::FactsQuery,
            ) -> Result<$crate::insight::Breakdown, $crate::store::StoreError> {
                let rows = sqlx::query_as::<_, (String, Option<String>, i64)>(sqlx::AssertSqlSafe(
                    $crate::store::insight_sql::BREAKDOWN.as_str(),
                ))
                .bind($crate::store::sql::SqlTime(query.since))
                .bind($crate::store::sql::SqlTime(query.until))
                .bind(query.channel.as_deref())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::sql::backend)?;
                let mut breakdown = $crate::insight::Breakdown::default();
                for (kind, name, n) in rows {
                    let map = if kind == "fallback" {
                        &mut breakdown.fallback_codes
                    } else {
                        &mut breakdown.verdicts
                    };
                    *map.entry(name.unwrap_or_default()).or_default() += n;
                }
                Ok(breakdown)
            }
        }
    };
}

pub(crate) use sql_insight;
