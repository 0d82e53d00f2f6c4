-- 006_bulk_apply: zonemesh.apply_batch applies a batch of peers' source
-- transactions set-based, a few statements per batch instead of a dozen per
-- change, under exactly the rules of 004 (last writer wins by (hlc, origin),
-- tombstones, a zone's deletion, conflicts logged, duplicates skipped, the
-- version vector gap-free, each source transaction its own change-log entry).
--
-- How: the batch is cut into runs of consecutive "plain" transactions (every
-- change well formed, to a replicated table other than zones, its stamp equal
-- to its row's); a transaction that is not plain (a zone created or deleted,
-- anything malformed) goes through the one-at-a-time path of 004
-- (zonemesh.apply_batch_each), in its place in the batch. A run is staged in
-- temporary tables and applied in one subtransaction:
--   1. the version-vector rows of its origins are locked (in origin order)
--      and duplicates (here already, or twice in the batch) and the site's
--      own transactions are set aside;
--   2. the rows the run touches are locked and read, with their tombstones;
--   3. per change, what applying the changes one by one in batch order would
--      do is computed with window functions (see below): whether it applies,
--      the row it replaces ("old"), and the conflict it loses, if any;
--   4. per row only the final version is written (one UPDATE, INSERT and
--      DELETE per table), the tombstones once, the changes, the conflicts,
--      the pending entries (one per source transaction: commit_entry numbers
--      them at COMMIT as before) and the vector once per origin.
-- If anything in a run fails (a clock too far ahead, a row a concurrent
-- session inserted, ...), the subtransaction is rolled back and the run goes
-- through the one-at-a-time path, which keeps a failing transaction aside in
-- zonemesh.apply_errors and applies the rest. So the bulk path only ever
-- makes applying faster; what is applied, kept or refused is the same.
--
-- Why step 3 is exact. For one row, let "best" be the greatest stamp among
-- the row here, its tombstone, and the changes to it seen so far in the
-- batch, leaving out updates that a zone deletion stops (they change
-- nothing). Applying one by one: an update applies iff it is newer than the
-- row and the tombstone, i.e. than best (a row present is always newer than
-- its tombstone: every write path ensures it), and then becomes best; a
-- delete wins iff it is newer than best, and the tombstone takes its stamp
-- whenever newer. So best only grows, a change applies iff it is newer than
-- best before it (and no zone deletion stops it), the row present before a
-- change is the best version before it if that is a row version (the row
-- here, or an update of the batch), and the final row is the last change
-- that applied (or the row here when none did).

-- A stamp (hlc, origin) as text whose order under COLLATE "C" is the stamp
-- order of zonemesh.newer: hlc as 20 digits, then the origin, then \x01 (so
-- that a shorter origin sorts before a longer one it is a prefix of).
CREATE FUNCTION zonemesh.stamp_key(h bigint, o text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT lpad(h::text, 20, '0') || o || chr(1) $$;

-- Whether a source transaction can take the bulk path: well formed, and no
-- change to zones (a zone's creation or deletion goes one at a time). The
-- changes themselves are checked when staged (apply_bulk raises on anything
-- odd, and the run is then applied one at a time). Never raises.
CREATE FUNCTION zonemesh.bulk_eligible(tx jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(jsonb_typeof(tx) = 'object'
                  AND jsonb_typeof(tx -> 'origin') = 'string'
                  AND tx ->> 'origin' ~ '^[a-z0-9][a-z0-9_-]{0,62}$'
                  AND tx ->> 'seq' ~ '^[1-9][0-9]{0,17}$'
                  AND jsonb_typeof(tx -> 'changes') = 'array'
                  AND NOT (tx -> 'changes') @> '[{"tbl": "zones"}]', false)
$$;

-- Step 2 and step 4 per replicated table (zones excepted: their changes take
-- the one-at-a-time path), as static SQL generated from
-- zonemesh.replicated_tables: zonemesh.bulk_lock_rows() fills pg_temp.zm_cur
-- with the current rows the staged changes touch, locked;
-- zonemesh.bulk_write_rows() writes pg_temp.zm_final.
DO $gen$
DECLARE
  t record;
  key_match text;
  lock_sql text := '';
  write_sql text := '';
BEGIN
  FOR t IN SELECT * FROM zonemesh.replicated_tables WHERE tbl <> 'zones' ORDER BY tbl LOOP
    key_match := (SELECT string_agg(format('x.%1$I = p.%1$I', c), ' AND ') FROM unnest(t.key_cols) c);
    lock_sql := lock_sql || format($s$
      IF EXISTS (SELECT 1 FROM pg_temp.zm_ch WHERE tbl = %1$L) THEN
        INSERT INTO pg_temp.zm_cur (tbl, kt, row_sk, row_hlc, row_origin, row_image)
        SELECT %1$L, k.kt, zonemesh.stamp_key(x.hlc, x.origin), x.hlc, x.origin, to_jsonb(x)
          FROM (SELECT DISTINCT ON (kt) kt, key FROM pg_temp.zm_ch WHERE tbl = %1$L) k
          CROSS JOIN LATERAL jsonb_populate_record(NULL::public.%2$I, k.key) p
          JOIN public.%2$I x ON %3$s
         ORDER BY %4$s
           FOR UPDATE OF x;
      END IF;$s$,
      t.tbl, t.tbl, key_match,
      (SELECT string_agg(format('x.%I', c), ', ') FROM unnest(t.key_cols) c));
    write_sql := write_sql || format($s$
      IF EXISTS (SELECT 1 FROM pg_temp.zm_final WHERE tbl = %1$L) THEN
        DELETE FROM public.%2$I x
         USING pg_temp.zm_final f CROSS JOIN LATERAL jsonb_populate_record(NULL::public.%2$I, f.key) p
         WHERE f.tbl = %1$L AND f.op = 'D' AND f.existed AND %3$s;
        UPDATE public.%2$I x SET (%4$s) = (%5$s)
          FROM pg_temp.zm_final f CROSS JOIN LATERAL jsonb_populate_record(NULL::public.%2$I, f.data) p
         WHERE f.tbl = %1$L AND f.op = 'U' AND f.existed AND %3$s;
        INSERT INTO public.%2$I
        SELECT p.* FROM pg_temp.zm_final f CROSS JOIN LATERAL jsonb_populate_record(NULL::public.%2$I, f.data) p
         WHERE f.tbl = %1$L AND f.op = 'U' AND NOT f.existed;
      END IF;$s$,
      t.tbl, t.tbl, key_match,
      array_to_string(ARRAY(SELECT quote_ident(c) FROM unnest(t.cols) c), ', '),
      array_to_string(ARRAY(SELECT 'p.' || quote_ident(c) FROM unnest(t.cols) c), ', '));
  END LOOP;
  EXECUTE format('CREATE FUNCTION zonemesh.bulk_lock_rows() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN %s END $f$',
                 lock_sql);
  EXECUTE format('CREATE FUNCTION zonemesh.bulk_write_rows() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN %s END $f$',
                 write_sql);
END $gen$;

-- The session's staging tables, temporary and emptied before each use
-- (DELETE: a TRUNCATE, or ON COMMIT DELETE ROWS, costs tens of ms a time;
-- the space is given back by a TRUNCATE once they have grown past 16 MB:
-- space freed by DELETE is not reused until a VACUUM, which temporary
-- tables never get).
CREATE FUNCTION zonemesh.bulk_staging() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF to_regclass('pg_temp.zm_ch') IS NOT NULL THEN
    IF pg_relation_size('pg_temp.zm_ch') > 16 * 1024 * 1024 THEN
      TRUNCATE pg_temp.zm_tx, pg_temp.zm_ch, pg_temp.zm_cur, pg_temp.zm_res, pg_temp.zm_final;
    ELSE
      DELETE FROM pg_temp.zm_tx;
      DELETE FROM pg_temp.zm_ch;
      DELETE FROM pg_temp.zm_cur;
      DELETE FROM pg_temp.zm_res;
      DELETE FROM pg_temp.zm_final;
    END IF;
    RETURN;
  END IF;
  -- Room for them in memory (settable only before the session's first use
  -- of a temporary table; the default 8 MB makes them spill to disk).
  BEGIN
    PERFORM set_config('temp_buffers', '64MB', false);
  EXCEPTION WHEN others THEN
    NULL;
  END;
  CREATE TEMP TABLE zm_tx (
    i integer PRIMARY KEY, origin text NOT NULL, seq bigint NOT NULL, status text NOT NULL,
    entry bigint);
  -- kt: the key as text (jsonb's text form is canonical), cheaper to sort
  -- and hash than jsonb.
  CREATE TEMP TABLE zm_ch (
    seqno integer PRIMARY KEY, i integer NOT NULL, origin text NOT NULL, tbl text,
    op text, key jsonb, kt text COLLATE "C", data jsonb, hlc bigint, zone text,
    zone_table boolean, sk text COLLATE "C", bad boolean);
  CREATE TEMP TABLE zm_cur (
    tbl text NOT NULL, kt text COLLATE "C" NOT NULL, row_sk text COLLATE "C" NOT NULL, row_hlc bigint NOT NULL,
    row_origin text NOT NULL, row_image jsonb NOT NULL, PRIMARY KEY (tbl, kt));
  CREATE TEMP TABLE zm_res (
    seqno integer PRIMARY KEY, tbl text NOT NULL, kt text COLLATE "C" NOT NULL, fast boolean NOT NULL,
    ok boolean NOT NULL, old_seqno integer, old_cur boolean NOT NULL, conflict text, kept_hlc bigint,
    kept_origin text, detail text);
  CREATE TEMP TABLE zm_final (
    tbl text NOT NULL, key jsonb NOT NULL, op text NOT NULL, data jsonb, existed boolean NOT NULL);
END $$;

-- Applies the plain source transactions first_i..last_i (ordinals in txs) in
-- one go; raises on any trouble (the caller then takes the one-at-a-time
-- path). Returns counts like apply_batch.
CREATE FUNCTION zonemesh.apply_bulk(txs jsonb, first_i integer, last_i integer) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  me text := zonemesh.node_id();
  newest record;
  o text;
  v bigint;
  rec record;
  n_applied integer;
  n_duplicate integer;
  n_own integer;
BEGIN
  PERFORM zonemesh.bulk_staging();
  INSERT INTO pg_temp.zm_tx (i, origin, seq, status)
  SELECT x.i, x.tx ->> 'origin', (x.tx ->> 'seq')::bigint,
         CASE WHEN x.tx ->> 'origin' = me THEN 'own' ELSE 'apply' END
    FROM jsonb_array_elements(txs) WITH ORDINALITY x(tx, i)
   WHERE x.i BETWEEN first_i AND last_i;

  -- 1. Vector rows of the run's origins, locked in origin order; then what
  -- is here already, or earlier in the batch, is a duplicate.
  INSERT INTO zonemesh.vector (origin, seq)
  SELECT DISTINCT origin, 0 FROM pg_temp.zm_tx WHERE status = 'apply' ORDER BY 1
  ON CONFLICT (origin) DO NOTHING;
  PERFORM 1 FROM zonemesh.vector ve
   WHERE ve.origin IN (SELECT origin FROM pg_temp.zm_tx WHERE status = 'apply')
   ORDER BY ve.origin FOR UPDATE;
  UPDATE pg_temp.zm_tx t SET status = 'duplicate'
    FROM (SELECT x.i, row_number() OVER (PARTITION BY x.origin, x.seq ORDER BY x.i) AS nth
            FROM pg_temp.zm_tx x WHERE x.status = 'apply') d
   WHERE d.i = t.i
     AND (d.nth > 1
          OR t.seq <= (SELECT ve.seq FROM zonemesh.vector ve WHERE ve.origin = t.origin)
          OR EXISTS (SELECT 1 FROM zonemesh.received r WHERE r.origin = t.origin AND r.seq = t.seq));

  -- The changes to apply, in batch order, checked as apply_change would.
  INSERT INTO pg_temp.zm_ch (seqno, i, origin, tbl, op, key, kt, data, hlc, zone, zone_table, sk, bad)
  SELECT row_number() OVER (ORDER BY t.i, c.j), t.i, t.origin, c.ch ->> 'tbl', c.ch ->> 'op',
         c.ch -> 'key', (c.ch -> 'key')::text, c.ch -> 'data', (c.ch ->> 'hlc')::bigint, c.ch ->> 'zone',
         rt.zone_col IS NOT NULL, zonemesh.stamp_key((c.ch ->> 'hlc')::bigint, t.origin),
         NOT coalesce(rt.tbl IS NOT NULL
                      AND (c.ch ->> 'hlc')::bigint >= 0
                      AND jsonb_typeof(c.ch -> 'key') = 'object'
                      AND (c.ch -> 'key') ?& rt.key_cols AND (c.ch -> 'key') - rt.key_cols = '{}'
                      AND CASE c.ch ->> 'op'
                            WHEN 'D' THEN true
                            WHEN 'U' THEN jsonb_typeof(c.ch -> 'data') = 'object'
                                          AND c.ch -> 'data' -> 'hlc' = c.ch -> 'hlc'
                                          AND c.ch -> 'data' ->> 'origin' = t.origin
                                          AND (c.ch -> 'key') <@ (c.ch -> 'data')
                            ELSE false END, false)
    FROM jsonb_array_elements(txs) WITH ORDINALITY x(tx, i)
    JOIN pg_temp.zm_tx t ON t.i = x.i AND t.status = 'apply'
    CROSS JOIN LATERAL jsonb_array_elements(x.tx -> 'changes') WITH ORDINALITY c(ch, j)
    LEFT JOIN zonemesh.replicated_tables rt ON rt.tbl = c.ch ->> 'tbl' AND rt.tbl <> 'zones'
   WHERE x.i BETWEEN first_i AND last_i;
  IF EXISTS (SELECT 1 FROM pg_temp.zm_ch c WHERE c.bad) THEN
    RAISE EXCEPTION 'a change in this run is not plain';
  END IF;

  -- The clock: refuse stamps too far ahead, then move past the newest.
  SELECT c.hlc, c.origin INTO newest FROM pg_temp.zm_ch c ORDER BY c.hlc DESC LIMIT 1;
  IF FOUND THEN
    PERFORM zonemesh.observe_remote_stamp(newest.hlc, newest.origin);
  END IF;
  PERFORM set_config('zonemesh.applying', 'on', true);

  -- 2. The rows here, locked.
  PERFORM zonemesh.bulk_lock_rows();

  -- 3. Per change, what applying one by one would do (see the top). "old"
  -- is kept as a pointer: old_seqno (an earlier change's data) or old_cur
  -- (the row here). First the common case, every change newer than all
  -- before it (a catch-up): then each applies and replaces the one before.
  INSERT INTO pg_temp.zm_res (seqno, tbl, kt, fast, ok, old_seqno, old_cur, conflict, kept_hlc, kept_origin, detail)
  WITH k AS (
    SELECT kk.tbl, kk.kt,
           CASE WHEN tb.hlc IS NULL THEN cur.row_sk
                WHEN cur.row_sk IS NULL THEN zonemesh.stamp_key(tb.hlc, tb.origin)
                ELSE greatest(cur.row_sk, zonemesh.stamp_key(tb.hlc, tb.origin) COLLATE "C") END AS init_sk,
           cur.row_sk IS NOT NULL AND (tb.hlc IS NULL OR cur.row_sk > zonemesh.stamp_key(tb.hlc, tb.origin) COLLATE "C")
             AS init_is_row
      FROM (SELECT DISTINCT ON (tbl, kt) tbl, kt, key FROM pg_temp.zm_ch) kk
      LEFT JOIN pg_temp.zm_cur cur ON cur.tbl = kk.tbl AND cur.kt = kk.kt
      LEFT JOIN zonemesh.tombstones tb ON tb.tbl = kk.tbl AND tb.key = kk.key
  ), c AS (
    SELECT ch.seqno, ch.tbl, ch.kt, ch.op, ch.sk,
           (ch.op = 'D' OR zt.hlc IS NULL OR zonemesh.newer(ch.hlc, ch.origin, zt.hlc, zt.origin)) AS live,
           (ch.op = 'U' AND ch.zone_table AND zz.name IS NULL) AS zone_gone,
           lag(ch.seqno) OVER w AS prev_seqno, lag(ch.sk) OVER w AS prev_sk, lag(ch.op) OVER w AS prev_op
      FROM pg_temp.zm_ch ch
      LEFT JOIN zonemesh.tombstones zt
        ON ch.op = 'U' AND ch.zone_table AND zt.tbl = 'zones' AND zt.key = jsonb_build_object('name', ch.zone)
      LEFT JOIN public.zones zz ON ch.op = 'U' AND ch.zone_table AND zz.name = ch.zone
    WINDOW w AS (PARTITION BY ch.tbl, ch.kt ORDER BY ch.seqno)
  )
  SELECT c.seqno, c.tbl, c.kt,
         c.live AND c.sk > coalesce(c.prev_sk, k.init_sk, ''),
         true,
         CASE WHEN c.prev_op = 'U' THEN c.prev_seqno END,
         c.prev_seqno IS NULL AND k.init_is_row,
         CASE WHEN c.zone_gone THEN 'zone_missing' END, NULL, NULL,
         CASE WHEN c.zone_gone THEN 'kept, not served until the zone exists' END
    FROM c JOIN k ON k.tbl = c.tbl AND k.kt = c.kt;

  IF EXISTS (SELECT 1 FROM pg_temp.zm_res WHERE NOT fast) THEN
    -- The general case. For each change, the best version before it: the
    -- row here or its tombstone, or the best earlier change of the batch
    -- (its stamp key with its seqno appended; ties: the earlier change).
    DELETE FROM pg_temp.zm_res;
    INSERT INTO pg_temp.zm_res (seqno, tbl, kt, fast, ok, old_seqno, old_cur, conflict, kept_hlc, kept_origin, detail)
    WITH k AS (
      SELECT kk.tbl, kk.kt, cur.row_sk, cur.row_hlc, cur.row_origin,
             zonemesh.stamp_key(tb.hlc, tb.origin) COLLATE "C" AS tomb_sk, tb.hlc AS tomb_hlc, tb.origin AS tomb_origin
        FROM (SELECT DISTINCT ON (tbl, kt) tbl, kt, key FROM pg_temp.zm_ch) kk
        LEFT JOIN pg_temp.zm_cur cur ON cur.tbl = kk.tbl AND cur.kt = kk.kt
        LEFT JOIN zonemesh.tombstones tb ON tb.tbl = kk.tbl AND tb.key = kk.key
    ), c AS (
      SELECT ch.seqno, ch.tbl, ch.kt, ch.op, ch.sk, ch.zone_table, zt.hlc AS zt_hlc, zt.origin AS zt_origin,
             (ch.op = 'D' OR zt.hlc IS NULL OR zonemesh.newer(ch.hlc, ch.origin, zt.hlc, zt.origin)) AS live,
             (ch.op = 'U' AND ch.zone_table AND zz.name IS NULL) AS zone_gone
        FROM pg_temp.zm_ch ch
        LEFT JOIN zonemesh.tombstones zt
          ON ch.op = 'U' AND ch.zone_table AND zt.tbl = 'zones' AND zt.key = jsonb_build_object('name', ch.zone)
        LEFT JOIN public.zones zz ON ch.op = 'U' AND ch.zone_table AND zz.name = ch.zone
    ), w AS (
      SELECT c.*,
             max((c.sk || lpad((999999999 - c.seqno)::text, 9, '0')) COLLATE "C") FILTER (WHERE c.live)
               OVER (PARTITION BY c.tbl, c.kt ORDER BY c.seqno ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
               AS prev_tag
        FROM c
    ), b AS (
      SELECT w.*, k.row_sk, k.row_hlc, k.row_origin, k.tomb_sk, k.tomb_hlc, k.tomb_origin,
             CASE WHEN k.tomb_sk IS NULL OR k.row_sk > k.tomb_sk THEN k.row_sk ELSE k.tomb_sk END AS init_sk,
             p.seqno AS p_seqno, p.op AS prev_op, p.hlc AS prev_hlc, p.origin AS prev_origin, p.sk AS prev_sk
        FROM w
        JOIN k ON k.tbl = w.tbl AND k.kt = w.kt
        LEFT JOIN pg_temp.zm_ch p ON p.seqno = 999999999 - right(w.prev_tag, 9)::integer
    ), best AS (
      SELECT b.*,
             (b.prev_sk IS NOT NULL AND (b.init_sk IS NULL OR b.prev_sk > b.init_sk)) AS prev_wins
        FROM b
    ), s AS (
      SELECT best.*,
             CASE WHEN prev_wins THEN prev_op = 'U' ELSE row_sk IS NOT NULL AND row_sk = init_sk END AS is_row,
             CASE WHEN prev_wins THEN prev_sk ELSE init_sk END AS best_sk,
             CASE WHEN prev_wins THEN prev_hlc WHEN row_sk = init_sk THEN row_hlc ELSE tomb_hlc END AS best_hlc,
             CASE WHEN prev_wins THEN prev_origin WHEN row_sk = init_sk THEN row_origin ELSE tomb_origin END AS best_origin
        FROM best
    ), e AS (
      SELECT s.*, (s.best_sk IS NULL OR s.sk > s.best_sk) AS is_newer FROM s
    ), f AS (
      SELECT e.*,
             CASE WHEN e.op = 'D' THEN CASE WHEN e.is_row AND NOT e.is_newer THEN 'delete_lost' END
                  WHEN NOT e.is_newer AND e.is_row THEN CASE WHEN e.best_sk <> e.sk THEN 'write_lost_row' END
                  WHEN NOT e.is_newer THEN 'write_lost_tomb'
                  WHEN NOT e.live THEN 'zone_deleted'
                  WHEN e.zone_gone THEN 'zone_missing' END AS kind
        FROM e
    )
    SELECT f.seqno, f.tbl, f.kt, false,
           CASE WHEN f.op = 'D' THEN f.is_newer ELSE f.is_newer AND f.live END,
           CASE WHEN f.prev_wins AND f.prev_op = 'U' THEN f.p_seqno END,
           NOT f.prev_wins AND f.is_row,
           CASE WHEN f.kind LIKE 'write_lost%' THEN 'write_lost' ELSE f.kind END,
           CASE f.kind WHEN 'zone_deleted' THEN f.zt_hlc WHEN 'zone_missing' THEN NULL ELSE f.best_hlc END,
           CASE f.kind WHEN 'zone_deleted' THEN f.zt_origin WHEN 'zone_missing' THEN NULL ELSE f.best_origin END,
           CASE f.kind WHEN 'write_lost_tomb' THEN 'the row was deleted later'
                       WHEN 'zone_deleted' THEN 'the zone was deleted after this write'
                       WHEN 'zone_missing' THEN 'kept, not served until the zone exists'
                       ELSE 'a newer write of the row was kept' END
      FROM f;
  END IF;

  -- 4. Tombstones: the newest delete of each key, where newer than the one here.
  INSERT INTO zonemesh.tombstones AS tb (tbl, key, hlc, origin, zone)
  SELECT DISTINCT ON (c.tbl, c.kt) c.tbl, c.key, c.hlc, c.origin, c.zone
    FROM pg_temp.zm_ch c WHERE c.op = 'D'
   ORDER BY c.tbl, c.kt, c.sk DESC
  ON CONFLICT (tbl, key) DO UPDATE
    SET hlc = EXCLUDED.hlc, origin = EXCLUDED.origin, zone = EXCLUDED.zone, deleted_at = now()
    WHERE zonemesh.newer(EXCLUDED.hlc, EXCLUDED.origin, tb.hlc, tb.origin);

  -- Rows: the last change of each key that applied is its final version.
  INSERT INTO pg_temp.zm_final (tbl, key, op, data, existed)
  SELECT c.tbl, c.key, c.op, c.data,
         EXISTS (SELECT 1 FROM pg_temp.zm_cur cur WHERE cur.tbl = c.tbl AND cur.kt = c.kt)
    FROM (SELECT DISTINCT ON (r.tbl, r.kt) r.seqno FROM pg_temp.zm_res r WHERE r.ok
           ORDER BY r.tbl, r.kt, r.seqno DESC) l
    JOIN pg_temp.zm_ch c ON c.seqno = l.seqno;
  PERFORM zonemesh.bulk_write_rows();

  -- The change-log: one entry per source transaction, in batch order.
  FOR rec IN SELECT x.i FROM pg_temp.zm_tx x WHERE x.status = 'apply' ORDER BY x.i LOOP
    UPDATE pg_temp.zm_tx SET entry = nextval('zonemesh.entry_id') WHERE i = rec.i;
  END LOOP;
  INSERT INTO zonemesh.changes (entry, tbl, op, key, data, old, hlc, zone, applied)
  SELECT x.entry, c.tbl, c.op::"char", c.key, c.data, coalesce(po.data, cu.row_image), c.hlc, c.zone, r.ok
    FROM pg_temp.zm_ch c JOIN pg_temp.zm_res r ON r.seqno = c.seqno JOIN pg_temp.zm_tx x ON x.i = c.i
    LEFT JOIN pg_temp.zm_ch po ON po.seqno = r.old_seqno
    LEFT JOIN pg_temp.zm_cur cu ON r.old_cur AND cu.tbl = c.tbl AND cu.kt = c.kt
   ORDER BY c.seqno;
  INSERT INTO zonemesh.conflicts (kind, tbl, key, zone, kept_hlc, kept_origin, lost_hlc, lost_origin, detail)
  SELECT r.conflict, c.tbl, c.key, c.zone, r.kept_hlc, r.kept_origin, c.hlc, c.origin, r.detail
    FROM pg_temp.zm_res r JOIN pg_temp.zm_ch c ON c.seqno = r.seqno
   WHERE r.conflict IS NOT NULL
   ORDER BY r.seqno;
  PERFORM set_config('zonemesh.applying', 'off', true);
  INSERT INTO zonemesh.pending_entries (entry, origin, origin_seq)
  SELECT x.entry, x.origin, x.seq FROM pg_temp.zm_tx x WHERE x.status = 'apply' ORDER BY x.i;

  -- The vector, once per origin; kept copies of what is here are done with.
  INSERT INTO zonemesh.received (origin, seq)
  SELECT x.origin, x.seq FROM pg_temp.zm_tx x WHERE x.status = 'apply';
  FOR o, v IN SELECT ve.origin, ve.seq FROM zonemesh.vector ve
               WHERE ve.origin IN (SELECT x.origin FROM pg_temp.zm_tx x WHERE x.status = 'apply')
               ORDER BY ve.origin LOOP
    PERFORM zonemesh.settle_vector(o, v);
  END LOOP;
  DELETE FROM zonemesh.apply_errors ae USING pg_temp.zm_tx x
   WHERE x.status IN ('apply', 'duplicate') AND ae.origin = x.origin AND ae.origin_seq = x.seq;

  SELECT count(*) FILTER (WHERE status = 'apply'), count(*) FILTER (WHERE status = 'duplicate'),
         count(*) FILTER (WHERE status = 'own')
    INTO n_applied, n_duplicate, n_own FROM pg_temp.zm_tx;
  RETURN jsonb_build_object('applied', n_applied, 'duplicate', n_duplicate, 'own', n_own, 'failed', 0);
END $$;

-- One transaction applying peers' changes at a time, per site. Applying a
-- change reads the row and its tombstone and then writes; a row that is not
-- here yet has nothing to lock, so two links applying at once (one a delete
-- of a row this site has not seen, the other the row's older insert) each
-- read "no row, no tombstone", and both committed: the row stayed here next
-- to a tombstone newer than it, while every other site had deleted it, for
-- good. The same held for a zone's deletion against an insert into it. Held
-- to the end of the transaction; taken again at no cost. Local writes do not
-- take it: they stamp newer than what they replace, under row locks.
CREATE FUNCTION zonemesh.lock_apply() RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(hashtext('zonemesh.apply'), 0) $$;

-- Snapshot merges apply changes too (005, with the lock).
CREATE OR REPLACE FUNCTION zonemesh.merge_snapshot_rows(tbl text, rows jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r jsonb;
  n integer := 0;
  res record;
BEGIN
  PERFORM zonemesh.lock_apply();
  PERFORM zonemesh.observe_remote_stamp(
    (SELECT max((x ->> 'hlc')::bigint) FROM jsonb_array_elements(rows) x), 'snapshot');
  PERFORM set_config('zonemesh.applying', 'on', true);
  FOR r IN SELECT * FROM jsonb_array_elements(rows) LOOP
    res := zonemesh.apply_change(
      jsonb_build_object('tbl', tbl, 'op', 'U', 'key', zonemesh.row_key(tbl, r), 'data', r,
                         'hlc', r -> 'hlc', 'zone', zonemesh.row_zone(tbl, r)),
      r ->> 'origin');
    IF res.ok THEN n := n + 1; END IF;
  END LOOP;
  PERFORM set_config('zonemesh.applying', 'off', true);
  RETURN n;
END $$;

CREATE OR REPLACE FUNCTION zonemesh.merge_snapshot_tombstones(tombs jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  t jsonb;
  n integer := 0;
  res record;
BEGIN
  PERFORM zonemesh.lock_apply();
  PERFORM zonemesh.observe_remote_stamp(
    (SELECT max((x ->> 'hlc')::bigint) FROM jsonb_array_elements(tombs) x), 'snapshot');
  PERFORM set_config('zonemesh.applying', 'on', true);
  FOR t IN SELECT * FROM jsonb_array_elements(tombs) LOOP
    res := zonemesh.apply_change(
      jsonb_build_object('tbl', t ->> 'tbl', 'op', 'D', 'key', t -> 'key', 'hlc', t -> 'hlc',
                         'zone', t -> 'zone'),
      t ->> 'origin');
    IF res.ok THEN n := n + 1; END IF;
  END LOOP;
  PERFORM set_config('zonemesh.applying', 'off', true);
  RETURN n;
END $$;

-- The one-at-a-time path of 004 keeps its code under a new name.
ALTER FUNCTION zonemesh.apply_batch(jsonb) RENAME TO apply_batch_each;

-- Applies a JSON array of source transactions in one database transaction,
-- each one atomically: runs of plain transactions in bulk, the others (and a
-- run whose bulk apply fails) one at a time; a transaction that fails is
-- rolled back alone, kept in zonemesh.apply_errors, and the rest go on.
-- Returns {"applied": n, "duplicate": n, "own": n, "failed": n}.
CREATE FUNCTION zonemesh.apply_batch(txs jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  plain boolean[];
  sizes integer[];
  n integer;
  i integer := 1;
  j integer;
  part jsonb;
  counts jsonb := '{"applied": 0, "duplicate": 0, "own": 0, "failed": 0}';
  msg text;
BEGIN
  IF jsonb_typeof(txs) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'apply_batch expects a JSON array of source transactions';
  END IF;
  PERFORM zonemesh.lock_apply();
  n := jsonb_array_length(txs);
  BEGIN
    SELECT array_agg(coalesce(zonemesh.bulk_eligible(x.tx), false) ORDER BY x.k),
           array_agg(CASE WHEN jsonb_typeof(x.tx -> 'changes') = 'array'
                          THEN jsonb_array_length(x.tx -> 'changes') ELSE 0 END ORDER BY x.k)
      INTO plain, sizes
      FROM jsonb_array_elements(txs) WITH ORDINALITY x(tx, k);
  EXCEPTION WHEN others THEN
    plain := array_fill(false, ARRAY[n]);
    sizes := array_fill(0, ARRAY[n]);
  END;
  WHILE i <= n LOOP
    j := i;
    WHILE j < n AND plain[j + 1] = plain[i] LOOP
      j := j + 1;
    END LOOP;
    part := NULL;
    -- A few changes (a single edit, as most are) go faster one at a time
    -- than through the staging tables: fewer than zonemesh.bulk_min_changes
    -- (a session setting, default 32; tests set 1 to take the set-based
    -- path with small frames).
    IF plain[i] AND (SELECT sum(z) FROM unnest(sizes[i:j]) z)
                    >= coalesce(nullif(current_setting('zonemesh.bulk_min_changes', true), '')::integer, 32) THEN
      BEGIN
        part := zonemesh.apply_bulk(txs, i, j);
      EXCEPTION WHEN others THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
        RAISE DEBUG 'zonemesh: bulk apply of transactions % to % failed (%); applying them one by one', i, j, msg;
      END;
    END IF;
    IF part IS NULL THEN
      part := zonemesh.apply_batch_each(
        (SELECT jsonb_agg(x.tx ORDER BY x.k) FROM jsonb_array_elements(txs) WITH ORDINALITY x(tx, k)
          WHERE x.k BETWEEN i AND j));
    END IF;
    SELECT jsonb_object_agg(key, (counts ->> key)::integer + coalesce((part ->> key)::integer, 0))
      INTO counts FROM jsonb_object_keys(counts) key;
    i := j + 1;
  END LOOP;
  RETURN counts;
END $$;

-- The sender's read: like origin_changes(origin, after, up_to, n), but the
-- source transactions come as JSON text built with json, not jsonb (the
-- replicator only forwards the text; building jsonb and printing it costs
-- over twice as much). min_age: only transactions that have been here at
-- least this long (the replicator holds back forwarding an origin's changes
-- to a peer that has a live link to that origin itself; see
-- replicator/README.md).
CREATE FUNCTION zonemesh.origin_changes_text(from_origin text, after_seq bigint, up_to_seq bigint,
                                             max_entries integer, min_age interval DEFAULT '0 s')
RETURNS TABLE (origin_seq bigint, tx text)
LANGUAGE sql STABLE AS $$
  SELECT l.origin_seq,
         json_build_object('origin', l.origin, 'seq', l.origin_seq, 'changes',
           (SELECT coalesce(json_agg(json_build_object('tbl', c.tbl, 'op', c.op, 'key', c.key,
                                                       'data', c.data, 'hlc', c.hlc, 'zone', c.zone)
                                     ORDER BY c.n), '[]'::json)
              FROM zonemesh.changes c WHERE c.entry = l.entry))::text
    FROM zonemesh.changelog l
   WHERE l.origin = from_origin AND l.origin_seq > after_seq AND l.origin_seq <= up_to_seq
     AND l.origin_seq < coalesce((SELECT min(y.origin_seq) FROM zonemesh.changelog y
                                   WHERE min_age > interval '0 s'
                                     AND y.origin = from_origin AND y.origin_seq > after_seq
                                     AND y.origin_seq <= up_to_seq
                                     AND y.committed_at > clock_timestamp() - min_age), up_to_seq + 1)
   ORDER BY l.origin_seq
   LIMIT max_entries
$$;

-- What zonemesh.peer_status says per peer (changes and seconds behind), from
-- the version vectors and one index probe per origin instead of counting the
-- change-log: the replicator's metrics read it every second, and counting
-- hundreds of thousands of entries each time took a core's worth of CPU
-- during a catch-up. An origin's entries held here are contiguous up to this
-- site's vector, so those the peer lacks number vector - max(peer's seq,
-- oldest kept - 1).
CREATE FUNCTION zonemesh.peer_lag()
RETURNS TABLE (peer text, changes_behind bigint, seconds_behind double precision)
LANGUAGE sql STABLE AS $$
  SELECT p.node,
         coalesce(sum(b.behind), 0)::bigint,
         coalesce(extract(epoch FROM now() - min(b.oldest)), 0)::double precision
    FROM zonemesh.peers p
    LEFT JOIN LATERAL (
      SELECT greatest(0, v.seq - greatest(coalesce(pv.seq, 0), coalesce(k.oldest_seq, v.seq + 1) - 1)) AS behind,
             (SELECT l.committed_at FROM zonemesh.changelog l
               WHERE l.origin = v.origin
                 AND l.origin_seq = greatest(coalesce(pv.seq, 0), coalesce(k.oldest_seq, v.seq + 1) - 1) + 1
                 AND l.origin_seq <= v.seq) AS oldest
        FROM zonemesh.vector v
        LEFT JOIN zonemesh.peer_vector pv ON pv.peer = p.node AND pv.origin = v.origin
        CROSS JOIN LATERAL (SELECT min(l.origin_seq) AS oldest_seq FROM zonemesh.changelog l
                             WHERE l.origin = v.origin) k
       WHERE v.origin <> p.node) b ON true
   GROUP BY p.node
$$;

-- The planner's view of zonemesh.changes: readers look up one entry's
-- changes (the DNS server after every commit, commit_entry, the sender). A
-- new site's first ANALYZE sees one or two entries (the first zones), and
-- until autovacuum analyzes again (up to a minute, and the catch-up that
-- follows a partition comes in that minute) those lookups were planned as
-- scans of the whole table: ~0.5 s per read at 100k changes. Many distinct
-- entries, whatever the sample says.
ALTER TABLE zonemesh.changes ALTER COLUMN entry SET (n_distinct = -0.05);

-- Pruning (replaces 004's): a tombstone goes by acknowledgement only once no
-- older write of its row can still arrive here. 004 dropped it as soon as
-- every peer had the delete. But a write older than the delete, made at
-- another site before that site acknowledged the delete, may still be on its
-- way here (a peer holds forwarding back, a link was down): with the
-- tombstone gone it came back to life here alone, while every other site
-- kept it deleted, and the sites never converged. Now a tombstone goes by
-- acknowledgement (as before: the entry that made it here is pruned) only
-- when this site is settled: it has, from every origin, at least what each
-- peer last said it has (a peer's own writes made before it acknowledged the
-- delete are then here, and were stopped by the tombstone), and every origin
-- it knows of is one of its peers (in a chain, a far site's writes come
-- through others, whose acknowledgements do not say what the far site has
-- made). Otherwise tombstones wait for the next prune, or the retention cap.
-- Change-log entries go as before.
CREATE OR REPLACE FUNCTION zonemesh.prune(retention interval DEFAULT '7 days') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  me text := zonemesh.node_id();
  peers integer := (SELECT count(*) FROM zonemesh.peers);
  settled boolean;
  n_log bigint;
  n_tomb bigint;
BEGIN
  settled := NOT EXISTS (SELECT 1 FROM zonemesh.peer_vector pv
                           LEFT JOIN zonemesh.vector v ON v.origin = pv.origin
                          WHERE pv.origin <> me AND pv.seq > coalesce(v.seq, 0))
         AND NOT EXISTS (SELECT 1 FROM (SELECT origin FROM zonemesh.vector
                                        UNION SELECT origin FROM zonemesh.peer_vector) o
                          WHERE o.origin <> me
                            AND NOT EXISTS (SELECT 1 FROM zonemesh.peers p WHERE p.node = o.origin));
  WITH gone AS (
    DELETE FROM zonemesh.changelog l
     WHERE l.committed_at < now() - retention
        OR (peers > 0 AND NOT EXISTS (
              SELECT 1 FROM zonemesh.peers p
               WHERE p.node <> l.origin  -- a peer has its own changes
                 AND coalesce((SELECT pv.seq FROM zonemesh.peer_vector pv
                                WHERE pv.peer = p.node AND pv.origin = l.origin), 0) < l.origin_seq))
    RETURNING l.entry)
  DELETE FROM zonemesh.changes c USING gone WHERE c.entry = gone.entry;
  GET DIAGNOSTICS n_log = ROW_COUNT;

  DELETE FROM zonemesh.tombstones tb
   WHERE tb.deleted_at < now() - retention
      OR (peers > 0 AND settled AND NOT EXISTS (
            SELECT 1 FROM zonemesh.changes c WHERE c.op = 'D' AND c.tbl = tb.tbl AND c.key = tb.key
                                              AND c.hlc = tb.hlc));
  GET DIAGNOSTICS n_tomb = ROW_COUNT;
  RETURN jsonb_build_object('changes', n_log, 'tombstones', n_tomb, 'settled', settled);
END $$;
