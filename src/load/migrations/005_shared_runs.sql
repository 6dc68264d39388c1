-- Runs that several processes share (config run_id, ETL_RUN_ID: the chart's Indexed Job of
-- workers). The run row carries the id its workers were started with and the traceparent of its
-- etl.run span (the other workers' spans join that trace). Its objects are written once, as
-- planned, in the batches they load in; a worker claims a batch's rows inside the transaction that
-- loads them (FOR UPDATE SKIP LOCKED) and marks them done in the same commit as the data and the
-- ledger row, so each object is loaded by exactly one worker, and a worker that dies holds
-- nothing: its transaction rolls back and its rows can be claimed again.
-- The run_id columns are not foreign keys: etl_runs can still be truncated on its own.
ALTER TABLE etl_runs ADD COLUMN shared_id text UNIQUE;
ALTER TABLE etl_runs ADD COLUMN traceparent text;

CREATE TABLE etl_run_objects (
  run_id           uuid        NOT NULL,
  object_key       text        NOT NULL,
  version          text        NOT NULL,
  size             bigint      NOT NULL,
  last_modified    timestamptz NOT NULL,
  reason           text        NOT NULL,
  batch            integer     NOT NULL,
  -- Set in the commit that loaded the object (or recorded it failed).
  done_by          text,
  done_at          timestamptz,
  status           text CHECK (status IN ('loaded', 'failed')),
  rows_read        bigint      NOT NULL DEFAULT 0,
  rows_loaded      bigint      NOT NULL DEFAULT 0,
  rows_quarantined bigint      NOT NULL DEFAULT 0,
  rows_repaired    bigint      NOT NULL DEFAULT 0,
  values_recorded  bigint      NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, object_key)
);
CREATE INDEX etl_run_objects_to_do ON etl_run_objects (run_id, batch) WHERE done_by IS NULL;

-- The processes of a shared run: when each joined and left, and its own summary.
CREATE TABLE etl_run_workers (
  run_id      uuid        NOT NULL,
  worker      text        NOT NULL,
  planned     boolean     NOT NULL DEFAULT false,
  joined_at   timestamptz NOT NULL DEFAULT now(),
  left_at     timestamptz,
  status      text        NOT NULL DEFAULT 'running',
  summary     jsonb,
  PRIMARY KEY (run_id, worker)
);
