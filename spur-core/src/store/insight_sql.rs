//! Ratings and analytics facts on SQLite and PostgreSQL: one SQL text for
//! both, but for how a timestamp becomes Unix milliseconds ([`Dialect`]).
//! Instantiated per backend by [`sql_insight!`], whose methods the store's
//! `ConversationStore` implementation calls.

use std::sync::LazyLock;

use crate::insight::LATENCY_BOUNDS_MS;
use crate::insight::facts::LATENCY_BUCKETS;

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
    // Each message's JSON is read once, into columns (a materialized CTE:
    // inlined, every aggregate below would parse it again), and times are
    // turned into milliseconds once per conversation, not per message.
    let latency = "CAST(m.meta->>'latencyMs' AS BIGINT)";
    let mut bucket =
        String::from("CASE WHEN m.sender <> 'assistant' OR m.meta->>'latencyMs' IS NULL THEN -1");
    for (i, bound) in LATENCY_BOUNDS_MS.iter().enumerate() {
        bucket.push_str(&format!(" WHEN {latency} < {bound} THEN {i}"));
    }
    bucket.push_str(&format!(" ELSE {} END", LATENCY_BOUNDS_MS.len()));
    let buckets: Vec<String> = (0..LATENCY_BUCKETS)
        .map(|i| format!("{} AS l{i}", sum(&format!("bucket = {i}"), "1")))
        .collect();
    let buckets_out: Vec<String> = (0..LATENCY_BUCKETS)
        .map(|i| format!("COALESCE(agg.l{i}, 0) AS l{i}"))
        .collect();
    let ms = |column: &str| dialect.millis(column);
    format!(
        "WITH c AS (SELECT id, channel, status, assignee, created_at, updated_at \
           FROM conversations WHERE {SELECTED}), \
         m AS MATERIALIZED (SELECT m.conversation_id, m.sender, m.seq, m.created_at, \
             CASE WHEN m.sender = 'assistant' AND {fallback} THEN 1 ELSE 0 END AS fallback, \
             CASE WHEN m.sender = 'assistant' AND NOT ({fallback}) AND m.meta->'gap' IS NULL \
               THEN 1 ELSE 0 END AS answer, \
             CASE WHEN m.sender = 'system' AND m.meta->>'escalation' IS NOT NULL THEN 1 ELSE 0 END AS handoff, \
             CASE WHEN m.sender = 'assistant' THEN COALESCE(CAST(m.meta->>'tokensIn' AS BIGINT), 0) ELSE 0 END AS tokens_in, \
             CASE WHEN m.sender = 'assistant' THEN COALESCE(CAST(m.meta->>'tokensOut' AS BIGINT), 0) ELSE 0 END AS tokens_out, \
             {bucket} AS bucket \
           FROM messages m JOIN c ON c.id = m.conversation_id), \
         w AS (SELECT a.conversation_id, CAST(COUNT(*) AS BIGINT) AS agent_answers, \
             CAST(SUM({agent_at} - {asked_at}) AS BIGINT) AS agent_wait_ms \
           FROM messages a JOIN c ON c.id = a.conversation_id \
           JOIN messages q ON q.conversation_id = a.conversation_id AND q.seq = a.seq - 1 \
             AND q.sender = 'customer' \
           WHERE a.sender = 'agent' GROUP BY a.conversation_id), \
         agg AS (SELECT conversation_id, \
             {customer} AS customer_messages, \
             MIN(CASE WHEN sender = 'customer' THEN created_at END) AS first_customer_at, \
             {replies} AS replies, \
             CAST(SUM(fallback) AS BIGINT) AS fallbacks, \
             CAST(SUM(answer) AS BIGINT) AS answers, \
             MIN(CASE WHEN sender = 'assistant' THEN created_at END) AS first_reply_at, \
             MIN(CASE WHEN handoff = 1 THEN seq END) AS handoff_seq, \
             MIN(CASE WHEN handoff = 1 THEN created_at END) AS handoff_at, \
             {agents} AS agent_messages, \
             MIN(CASE WHEN sender = 'agent' THEN created_at END) AS first_agent_at, \
             CAST(SUM(tokens_in) AS BIGINT) AS tokens_in, \
             CAST(SUM(tokens_out) AS BIGINT) AS tokens_out, \
             {buckets} \
           FROM m GROUP BY conversation_id), \
         r AS (SELECT conversation_id, \
             {bot_up} AS bot_up, {bot_down} AS bot_down, \
             {agent_up} AS agent_up, {agent_down} AS agent_down \
           FROM reply_ratings WHERE conversation_id IN (SELECT id FROM c) GROUP BY conversation_id) \
         SELECT c.id, c.channel, c.status, c.assignee IS NOT NULL AS assigned, \
           {created} AS created_ms, {updated} AS updated_ms, \
           COALESCE(agg.customer_messages, 0) AS customer_messages, \
           {first_customer} AS first_customer_ms, \
           COALESCE(agg.replies, 0) AS replies, COALESCE(agg.fallbacks, 0) AS fallbacks, \
           COALESCE(agg.answers, 0) AS answers, {first_reply} AS first_reply_ms, \
           {handoff} AS handoff_ms, \
           (SELECT h.meta->>'escalation' FROM messages h \
             WHERE h.conversation_id = c.id AND h.seq = agg.handoff_seq) AS handoff_reason, \
           COALESCE(agg.agent_messages, 0) AS agent_messages, {first_agent} AS first_agent_ms, \
           COALESCE(w.agent_answers, 0) AS agent_answers, \
           COALESCE(w.agent_wait_ms, 0) AS agent_wait_ms, \
           COALESCE(agg.tokens_in, 0) AS tokens_in, COALESCE(agg.tokens_out, 0) AS tokens_out, \
           {buckets_out}, \
           COALESCE(r.bot_up, 0) AS bot_up, COALESCE(r.bot_down, 0) AS bot_down, \
           COALESCE(r.agent_up, 0) AS agent_up, COALESCE(r.agent_down, 0) AS agent_down, \
           CAST(s.score AS BIGINT) AS csat_score, s.answerer AS csat_answerer \
         FROM c LEFT JOIN agg ON agg.conversation_id = c.id \
           LEFT JOIN r ON r.conversation_id = c.id \
           LEFT JOIN w ON w.conversation_id = c.id \
           LEFT JOIN csat s ON s.conversation_id = c.id \
         ORDER BY c.created_at, c.id",
        fallback = FALLBACK.replace("meta->>", "m.meta->>"),
        customer = sum("sender = 'customer'", "1"),
        replies = sum("sender = 'assistant'", "1"),
        agents = sum("sender = 'agent'", "1"),
        buckets = buckets.join(", "),
        buckets_out = buckets_out.join(", "),
        bot_up = sum("answerer = 'bot' AND rating = 'up'", "1"),
        bot_down = sum("answerer = 'bot' AND rating = 'down'", "1"),
        agent_up = sum("answerer = 'agent' AND rating = 'up'", "1"),
        agent_down = sum("answerer = 'agent' AND rating = 'down'", "1"),
        agent_at = ms("a.created_at"),
        asked_at = ms("q.created_at"),
        created = ms("c.created_at"),
        updated = ms("c.updated_at"),
        first_customer = ms("agg.first_customer_at"),
        first_reply = ms("agg.first_reply_at"),
        handoff = ms("agg.handoff_at"),
        first_agent = ms("agg.first_agent_at"),
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

/// For the facts query's transaction: PostgreSQL's JIT compiles this
/// one-off aggregate for longer than it runs (~0.9 s of 5 s at a million
/// messages), and its sorts should stay in memory.
pub(crate) fn session_settings(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        Dialect::Sqlite => &[],
        Dialect::Postgres => &["SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'"],
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
                use $crate::store::sql::backend;
                let mut tx = self.pool.begin().await.map_err(backend)?;
                for setting in $crate::store::insight_sql::session_settings(Self::DIALECT) {
                    sqlx::query(*setting)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                let rows = sqlx::query_as::<_, $crate::store::insight_sql::FactsRow>(
                    sqlx::AssertSqlSafe($crate::store::insight_sql::facts(Self::DIALECT)),
                )
                .bind($crate::store::sql::SqlTime(query.since))
                .bind($crate::store::sql::SqlTime(query.until))
                .bind(query.channel.as_deref())
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
                tx.commit().await.map_err(backend)?;
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
