-- The source the ledger's keys are relative to (s3://bucket/prefix/ or file:///dir/): one row. A
-- run whose source is inside it (a narrower prefix or sub-folder) loads and marks gone only the
-- objects under its own part; any other source is refused, so that the ledger is never re-keyed
-- and objects outside the source are never marked gone. Another source on the same database
-- uses a schema of its own (config database_schema).
CREATE TABLE etl_source (
  singleton    boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  root         text        NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
