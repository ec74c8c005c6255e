-- The database work of one customer message in spur-server, minus nothing durable:
-- session lookup; store the customer's message (one transaction); read the
-- history for the prompt; store the reply (one transaction).
\set n random(1, 1000)
SELECT id, session_id, status, version FROM conversations WHERE id = ('00000000-0000-0000-0000-' || lpad(:n::text, 12, '0'))::uuid \gset c_
BEGIN;
UPDATE conversations SET updated_at = now(), last_seq = last_seq + 1, version = version + 1 WHERE id = :c_id RETURNING last_seq, version \gset u_
INSERT INTO messages (id, conversation_id, seq, sender, text, idempotency_key, meta, created_at) VALUES (gen_random_uuid(), :c_id, :u_last_seq, 'customer', 'Do you ship to India?', gen_random_uuid()::text, '{"classification":{"category":"general"}}', now());
COMMIT;
SELECT id, seq, sender, text, meta FROM messages WHERE conversation_id = :c_id AND seq < 9223372036854775807 ORDER BY seq DESC LIMIT 21;
BEGIN;
UPDATE conversations SET updated_at = now(), last_seq = last_seq + 1, version = version + 1 WHERE id = :c_id RETURNING last_seq \gset r_
INSERT INTO messages (id, conversation_id, seq, sender, text, meta, created_at) VALUES (gen_random_uuid(), :c_id, :r_last_seq, 'assistant', 'We ship to the USA, India and Europe.', '{"provider":"openai","tokensIn":42}', now());
COMMIT;
