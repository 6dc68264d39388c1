-- How each object was written, beside its encoding (read/dialect.ts): the field delimiter (`,`,
-- `;`, `tab`, `|`) and the line break (`LF` for LF or CRLF, `CR` for a bare CR), decided from its
-- header line. NULL for objects loaded before this was recorded, and for objects that failed
-- before their header was read.
ALTER TABLE etl_files ADD COLUMN delimiter text;
ALTER TABLE etl_files ADD COLUMN line_break text;
