-- The five target tables (names fixed: dashboards query them), the file ledger, quarantined rows
-- and recorded value issues. Every target row carries its lineage: the source object it came from,
-- that object's modification time and the line, so "the latest object wins" is decided in SQL and
-- the load order does not matter.

CREATE TABLE customers (
  account_number   text PRIMARY KEY,
  customer_name    text,
  site_city        text,
  site_state       text,
  site_postal_code text,
  site_country     text,
  source_object    text        NOT NULL,
  source_modified  timestamptz NOT NULL,
  source_line      integer     NOT NULL,
  loaded_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE service_requests (
  sr_number        text PRIMARY KEY,
  sr_type          text,
  sr_status        text,
  severity         text,
  created_at       timestamp,
  closed_at        timestamp,
  problem_code     text,
  resolution_code  text,
  summary          text,
  account_number   text,
  product          text,
  serial_number    text,
  source_object    text        NOT NULL,
  source_modified  timestamptz NOT NULL,
  source_line      integer     NOT NULL,
  loaded_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
  task_number      text PRIMARY KEY,
  sr_number        text,
  task_type        text,
  task_status      text,
  technician       text,
  scheduled_start  timestamp,
  actual_end       timestamp,
  source_object    text        NOT NULL,
  source_modified  timestamptz NOT NULL,
  source_line      integer     NOT NULL,
  loaded_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE parts_used (
  task_number      text    NOT NULL,
  part_number      text    NOT NULL,
  part_description text,
  quantity         numeric,
  source_object    text        NOT NULL,
  source_modified  timestamptz NOT NULL,
  source_line      integer     NOT NULL,
  loaded_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_number, part_number)
);

-- Note text can exceed what a btree entry holds, so the key uses its hash (md5 is immutable,
-- as a generated column needs; collisions between real notes are not a practical concern).
CREATE TABLE sr_notes (
  sr_number        text,
  note_date        timestamp,
  note_text        text        NOT NULL,
  note_type        text,
  note_hash        text        NOT NULL GENERATED ALWAYS AS (md5(note_text)) STORED,
  source_object    text        NOT NULL,
  source_modified  timestamptz NOT NULL,
  source_line      integer     NOT NULL,
  loaded_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT sr_notes_key UNIQUE NULLS NOT DISTINCT (sr_number, note_date, note_hash)
);

CREATE INDEX service_requests_account_idx ON service_requests (account_number);
CREATE INDEX tasks_sr_idx ON tasks (sr_number);

-- One row per source object: what was loaded at which version, or why it failed.
CREATE TABLE etl_files (
  object_key       text PRIMARY KEY,
  version          text        NOT NULL,
  size             bigint      NOT NULL,
  last_modified    timestamptz NOT NULL,
  status           text        NOT NULL CHECK (status IN ('loaded', 'failed', 'gone')),
  error_class      text,
  error_message    text,
  encoding         text,
  rows_read        bigint      NOT NULL DEFAULT 0,
  rows_loaded      bigint      NOT NULL DEFAULT 0,
  rows_quarantined bigint      NOT NULL DEFAULT 0,
  values_recorded  bigint      NOT NULL DEFAULT 0,
  rows_repaired    bigint      NOT NULL DEFAULT 0,
  extra_columns    text[]      NOT NULL DEFAULT '{}',
  attempts         integer     NOT NULL DEFAULT 0,
  retry_requested  boolean     NOT NULL DEFAULT false,
  next_attempt_at  timestamptz,
  run_id           uuid,
  trace_id         text,
  first_seen_at    timestamptz NOT NULL DEFAULT now(),
  loaded_at        timestamptz,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT etl_files_rows_accounted CHECK (status <> 'loaded' OR rows_read = rows_loaded + rows_quarantined)
);

-- Rows that could not be loaded, kept with their raw text.
CREATE TABLE etl_rejects (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  object_key   text        NOT NULL,
  version      text        NOT NULL,
  line_number  integer     NOT NULL,
  raw          text        NOT NULL,
  reason       text        NOT NULL,
  detail       text,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX etl_rejects_object_idx ON etl_rejects (object_key, line_number);
CREATE INDEX etl_rejects_reason_idx ON etl_rejects (reason);

-- Values that did not fit their kind and were stored as NULL.
CREATE TABLE etl_value_issues (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  object_key   text        NOT NULL,
  version      text        NOT NULL,
  line_number  integer     NOT NULL,
  column_name  text        NOT NULL,
  raw_value    text        NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX etl_value_issues_object_idx ON etl_value_issues (object_key, line_number);

-- One row per run, for `etl status`.
CREATE TABLE etl_runs (
  run_id        uuid PRIMARY KEY,
  started_at    timestamptz NOT NULL,
  finished_at   timestamptz,
  status        text        NOT NULL,
  trace_id      text,
  summary       jsonb
);
