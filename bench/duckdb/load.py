#!/usr/bin/env python3
"""The DuckDB rival of `etl run`: a full reload of the five tables from a folder of exports.

    python load.py --exports DIR [--database-url postgres://user:pass@host:port/db]

(DATABASE_URL in the environment works too.) Reads every *.csv / *.csv.gz under DIR (any case),
one read_csv per header layout, normalises and applies "latest wins" in DuckDB SQL, then replaces
the contents of customers, service_requests, tasks, parts_used and sr_notes through the postgres
extension in one transaction. Prints one JSON line on stdout; on error one line on stderr, exit 1.
No ledger, no quarantine, no repair: see README.md.
"""
import argparse
import codecs
import csv
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import time

import duckdb
import duckdb_ext

# The 29 export columns (src/model/export.ts): field -> headers it is known by.
COLUMNS = {
    'sr_number': ['SR Number', 'SR #', 'Incident Number'],
    'sr_type': ['SR Type'],
    'sr_status': ['SR Status'],
    'severity': ['Severity'],
    'created_at': ['Created Date', 'Incident Date'],
    'closed_at': ['Closed Date'],
    'problem_code': ['Problem Code'],
    'resolution_code': ['Resolution Code'],
    'summary': ['SR Summary'],
    'account_number': ['Account Number', 'Customer Account', 'Account #'],
    'customer_name': ['Customer Name'],
    'site_city': ['Site City'],
    'site_state': ['Site State'],
    'site_postal_code': ['Site Postal Code'],
    'site_country': ['Site Country'],
    'product': ['Product'],
    'serial_number': ['Serial Number'],
    'task_number': ['Task Number', 'Task #'],
    'task_type': ['Task Type'],
    'task_status': ['Task Status'],
    'technician': ['Assigned Technician', 'Technician'],
    'scheduled_start': ['Scheduled Start'],
    'actual_end': ['Actual End'],
    'part_number': ['Part Number', 'Part #', 'Item Number'],
    'part_description': ['Part Description'],
    'quantity': ['Quantity Used', 'Qty'],
    'note_type': ['Note Type'],
    'note_date': ['Note Date'],
    'note_text': ['Note Text', 'Notes', 'Note'],
}
IDS = {'sr_number', 'account_number', 'serial_number', 'task_number', 'part_number'}
TIMESTAMPS = {'created_at', 'closed_at', 'scheduled_start', 'actual_end', 'note_date'}
NUMBERS = {'quantity'}


def normalize_header(name):
    return ' '.join(name.split()).lower()


BY_HEADER = {normalize_header(h): field for field, headers in COLUMNS.items() for h in headers}

# Target tables (src/load/merge.ts TARGET_TABLES): key, columns, row filter.
TABLES = [
    ('customers', ['account_number'], ['customer_name', 'site_city', 'site_state', 'site_postal_code', 'site_country'],
     'account_number IS NOT NULL'),
    ('service_requests', ['sr_number'], ['sr_type', 'sr_status', 'severity', 'created_at', 'closed_at', 'problem_code',
                                         'resolution_code', 'summary', 'account_number', 'product', 'serial_number'],
     'sr_number IS NOT NULL'),
    ('tasks', ['task_number'], ['sr_number', 'task_type', 'task_status', 'technician', 'scheduled_start', 'actual_end'],
     'task_number IS NOT NULL'),
    ('parts_used', ['task_number', 'part_number'], ['part_description', 'quantity'],
     'task_number IS NOT NULL AND part_number IS NOT NULL'),
    ('sr_notes', ['sr_number', 'note_date', 'note_text'], ['note_type'], 'note_text IS NOT NULL'),
]

SNIFF_BYTES = 1 << 20  # the encoding is decided on the first MB


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def find_exports(root):
    """(path, object key, mtime in epoch microseconds, whole ms) of every data object under root."""
    found = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            lower = name.lower()
            if lower.endswith('.csv') or lower.endswith('.csv.gz'):
                path = os.path.join(dirpath, name)
                key = os.path.relpath(path, root).replace(os.sep, '/')
                found.append((path, key, os.stat(path).st_mtime_ns // 1_000_000 * 1000))  # ms, as S3 has
    return found


def sniff(path):
    """(layout, encoding, compression, lines before the first data row) or None when not loadable."""
    gz = path.lower().endswith('.gz')
    with (gzip.open(path, 'rb') if gz else open(path, 'rb')) as f:
        head = f.read(SNIFF_BYTES)
    try:
        codecs.getincrementaldecoder('utf-8')().decode(head, final=False)
        encoding = 'utf-8'
    except UnicodeDecodeError:
        # The spec's rule: Windows-1252 when the invalid bytes are at least as many as the valid
        # multi-byte characters, else a damaged UTF-8 export (ignore_errors drops its bad rows).
        text = head.decode('utf-8', errors='surrogateescape')  # one lone surrogate per bad byte
        valid = text.encode('utf-8', errors='ignore').decode('utf-8')
        invalid_bytes = len(text) - len(valid)
        multibyte = len(valid) - len(valid.encode('ascii', errors='ignore'))
        encoding = 'cp1252' if invalid_bytes >= multibyte else 'utf-8'
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    lines = head.split(b'\n')
    for index, raw in enumerate(lines[:-1] if len(lines) > 1 and len(head) == SNIFF_BYTES else lines):
        line = raw.decode(encoding, errors='replace').rstrip('\r')
        if not line.strip():
            continue
        cells = next(csv.reader([line]))
        layout, seen = [], set()
        for cell in cells:
            field = BY_HEADER.get(normalize_header(cell))
            if field in seen:
                field = None
            seen.add(field)
            layout.append(field)
        if 'sr_number' not in seen:
            return None
        return tuple(layout), encoding, 'gzip' if gz else 'none', index + 1
    return None  # 0 bytes or only blank lines


def normalised(field):
    """SQL of one canonical column from the VARCHAR read by read_csv."""
    if field in IDS:
        return f'ex_id({field})'
    if field in TIMESTAMPS:
        return f"try_strptime({field}, ['%Y-%m-%d %H:%M:%S', '%m/%d/%Y %I:%M:%S %p', '%d-%b-%Y %H:%M:%S'])"
    if field in NUMBERS:
        return f'TRY_CAST({field} AS DOUBLE)'
    return f"nullif({field}, '')"


def main():
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--exports', required=True)
    parser.add_argument('--database-url', default=os.environ.get('DATABASE_URL'))
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit('error: --database-url or DATABASE_URL is required')
    if not os.path.isdir(args.exports):
        raise RuntimeError(f'not a directory: {args.exports}')

    exports = find_exports(args.exports)
    # Latest wins: (modification time, key compared bytewise); rank 0 is the oldest object.
    exports.sort(key=lambda e: (e[2], e[1].encode('utf-8')))
    groups = {}
    skipped = 0
    for rank, (path, _key, _mtime) in enumerate(exports):
        found = sniff(path)
        if found is None:
            skipped += 1
            continue
        groups.setdefault(found, []).append((path, rank))

    # Windows-1252 objects are transcoded to UTF-8 files first: DuckDB's encodings extension costs
    # about a second to load (a 364 MB file) and decodes several times slower than this.
    transcoded = tempfile.mkdtemp(prefix='duckdb-rival-')
    utf8_groups = {}
    for (layout, encoding, compression, skip), files in groups.items():
        if encoding == 'utf-8':
            utf8_groups.setdefault((layout, encoding, compression, skip), []).extend(files)
            continue
        for path, rank in files:
            with (gzip.open(path, 'rb') if compression == 'gzip' else open(path, 'rb')) as f:
                text = f.read().decode('cp1252', errors='replace')
            out = os.path.join(transcoded, f'{rank}.csv')
            with open(out, 'wb') as f:
                f.write(text.encode('utf-8'))
            utf8_groups.setdefault((layout, 'utf-8', 'none', skip), []).append((out, rank))
    groups = utf8_groups

    con = duckdb.connect()
    duckdb_ext.init(con)  # extension_directory = the wheel's bundled extensions, no autoinstall
    con.execute("SET TimeZone = 'UTC'")  # mtimes are UTC epochs
    con.execute('LOAD postgres')
    con.execute("""CREATE MACRO ex_id(v) AS nullif(CASE WHEN starts_with(trim(v), '="') AND ends_with(trim(v), '"')
                   THEN trim(trim(v)[3:-2]) ELSE trim(v) END, '')""")
    con.execute('CREATE TABLE objects (rank INTEGER, object_key VARCHAR, modified TIMESTAMPTZ)')
    if exports:
        con.executemany('INSERT INTO objects VALUES (?, ?, make_timestamp(?)::TIMESTAMPTZ)',
                        [(rank, key, mtime) for rank, (_p, key, mtime) in enumerate(exports)])

    # One read_csv per (layout, encoding, compression, header line); all VARCHAR, bad rows skipped.
    selects = []
    for (layout, encoding, compression, skip), files in groups.items():
        names = [field or f'_extra{i}' for i, field in enumerate(layout)]
        columns = '{' + ', '.join(f"'{n}': 'VARCHAR'" for n in names) + '}'
        ranks = '[' + ', '.join(str(rank) for _p, rank in files) + ']'
        paths = '[' + ', '.join(sql_str(p) for p, _r in files) + ']'
        present = set(layout)
        cols = ', '.join(f'{normalised(f) if f in present else "NULL"} AS {f}' for f in COLUMNS)
        selects.append(f"""SELECT {ranks}[file_index::BIGINT + 1] AS rank, {cols}
FROM read_csv({paths}, columns = {columns}, header = false, skip = {skip}, auto_detect = false,
  delim = ',', quote = '"', escape = '"', encoding = '{encoding}', compression = '{compression}',
  strict_mode = false, ignore_errors = true)""")
    if selects:
        con.execute('CREATE TABLE staged AS ' + '\nUNION ALL\n'.join(selects))
    else:
        con.execute('CREATE TABLE staged AS SELECT NULL::INTEGER AS rank, '
                    + ', '.join(f'NULL::VARCHAR AS {f}' for f in COLUMNS) + ' WHERE false')
    # rowid follows the file order within each object (insertion order is preserved), so
    # (rank, rowid) orders all rows by "latest wins"; the row ordinal within its object is the line.
    rows_read = con.execute('SELECT count(*) FROM staged').fetchone()[0]
    con.execute('CREATE TABLE firsts AS SELECT rank, min(rowid) AS first_rowid FROM staged GROUP BY rank')

    con.execute(f'ATTACH {sql_str(args.database_url)} AS pg (TYPE postgres)')
    counts = {}
    con.execute('BEGIN')
    con.execute("CALL postgres_execute('pg', 'TRUNCATE customers, service_requests, tasks, parts_used, sr_notes')")
    for table, key, columns, when in TABLES:
        key_list = ', '.join(f's.{c}' for c in key)
        winner = ', '.join(f'w.{c}' for c in key + columns)
        row = ', '.join(key + columns)
        result = con.execute(f"""
INSERT INTO pg.public.{table} ({row}, source_object, source_modified, source_line)
WITH winners AS (
  SELECT arg_max(s, (s.rank::BIGINT << 40) + s.rowid) AS w
  FROM (SELECT rowid, rank, {row} FROM staged WHERE {when}) s
  GROUP BY {key_list})
SELECT {winner}, o.object_key, o.modified, (w.rowid - f.first_rowid + 1)::INTEGER
FROM winners JOIN objects o ON o.rank = w.rank JOIN firsts f ON f.rank = w.rank""")
        counts[table] = result.fetchone()[0]
    con.execute('COMMIT')
    shutil.rmtree(transcoded, ignore_errors=True)
    print(json.dumps({'files': len(exports), 'files_skipped': skipped, 'rows_read': rows_read,
                      'tables': counts, 'seconds': round(time.monotonic() - started, 3)}))


if __name__ == '__main__':
    try:
        main()
    except Exception as error:  # noqa: BLE001 - one line on stderr, exit 1
        message = ' '.join(str(error).split())
        url = os.environ.get('DATABASE_URL', '') + ' ' + ' '.join(sys.argv)
        for password in re.findall(r'://[^:/@\s]*:([^@\s]+)@', url):
            message = message.replace(password, '***')
        print(f'error: {type(error).__name__}: {message}', file=sys.stderr)
        sys.exit(1)
