-- Quarantined rows keep their exact bytes: a NUL or a byte that is not UTF-8 cannot be held by
-- text, so `raw` is the readable text (U+FFFD where text cannot hold a byte) and `raw_bytes` the
-- record exactly as it was in the object (after gzip, without its line break).
ALTER TABLE etl_rejects ADD COLUMN raw_bytes bytea;
UPDATE etl_rejects SET raw_bytes = convert_to(raw, 'UTF8');
ALTER TABLE etl_rejects ALTER COLUMN raw_bytes SET NOT NULL;

-- The version of the object whose rows are in the tables. A failed attempt at a newer version
-- keeps it, and with it that version's quarantined rows and value issues.
ALTER TABLE etl_files ADD COLUMN loaded_version text;
UPDATE etl_files SET loaded_version = version WHERE loaded_at IS NOT NULL AND status <> 'failed';
CREATE INDEX etl_rejects_version_idx ON etl_rejects (object_key, version);
