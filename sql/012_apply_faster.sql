-- 012_apply_faster: zonemesh.apply_bulk (006) with less work per change;
-- what it applies, keeps and refuses is unchanged (see 006 for the method
-- and why it is exact). Measured on a batch of 10,000 changes to 1,000 rows
-- (bench/RESULTS.md, "catch-up"):
--   - the batch's sorts and the tuplestore of its transactions spilled to
--     disk at the default work_mem (4 MB; a frame is up to 4 MiB of JSON):
--     the apply functions get 64 MB;
--   - each change is taken apart once with jsonb_to_recordset instead of
--     copying it out of the frame once per field it is checked on;
--   - the zones of the run are looked up once each, not once per change;
--   - what is here for a key (the row, its tombstone) is looked up for the
--     key's first change in the batch only, without sorting the batch a
--     second time to find the distinct keys;
--   - a change's n (its place in its entry) is its place in the batch, not a
--     value drawn from zonemesh.change_n in a sorted insert.

CREATE OR REPLACE FUNCTION zonemesh.apply_bulk(txs jsonb, first_i integer, last_i integer) RETURNS jsonb
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
  -- Each change is taken apart once (jsonb_to_recordset), not field by field
  -- (jsonb_array_elements and -> made a copy of the change per use).
  INSERT INTO pg_temp.zm_ch (seqno, i, origin, tbl, op, key, kt, data, hlc, zone, zone_table, sk, bad)
  SELECT row_number() OVER (ORDER BY t.i, c.j), t.i, t.origin, c.tbl, c.op,
         c.key, c.key::text, c.data, (c.hlc #>> '{}')::bigint, c.zone,
         rt.zone_col IS NOT NULL, zonemesh.stamp_key((c.hlc #>> '{}')::bigint, t.origin),
         NOT coalesce(rt.tbl IS NOT NULL
                      AND (c.hlc #>> '{}')::bigint >= 0
                      AND jsonb_typeof(c.key) = 'object'
                      AND c.key ?& rt.key_cols AND c.key - rt.key_cols = '{}'
                      AND CASE c.op
                            WHEN 'D' THEN true
                            WHEN 'U' THEN jsonb_typeof(c.data) = 'object'
                                          AND c.data -> 'hlc' = c.hlc
                                          AND c.data ->> 'origin' = t.origin
                                          AND c.key <@ c.data
                            ELSE false END, false)
    FROM jsonb_array_elements(txs) WITH ORDINALITY x(tx, i)
    JOIN pg_temp.zm_tx t ON t.i = x.i AND t.status = 'apply'
    CROSS JOIN LATERAL ROWS FROM (jsonb_to_recordset(x.tx -> 'changes')
                                  AS (tbl text, op text, key jsonb, data jsonb, hlc jsonb, zone text))
         WITH ORDINALITY AS c(tbl, op, key, data, hlc, zone, j)
    LEFT JOIN zonemesh.replicated_tables rt ON rt.tbl = c.tbl AND rt.tbl <> 'zones'
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
  -- The zones the run's updates fall in are looked up once each (their
  -- tombstone, whether they exist), not once per change; what is here for a
  -- key (row, tombstone) matters only to its first change in the batch and
  -- is looked up for that one alone.
  INSERT INTO pg_temp.zm_res (seqno, tbl, kt, fast, ok, old_seqno, old_cur, conflict, kept_hlc, kept_origin, detail)
  WITH z AS (
    SELECT d.zone, zt.hlc AS zt_hlc, zt.origin AS zt_origin, zz.name IS NOT NULL AS here
      FROM (SELECT DISTINCT zone FROM pg_temp.zm_ch WHERE op = 'U' AND zone_table AND zone IS NOT NULL) d
      LEFT JOIN zonemesh.tombstones zt ON zt.tbl = 'zones' AND zt.key = jsonb_build_object('name', d.zone)
      LEFT JOIN public.zones zz ON zz.name = d.zone
  ), c AS (
    SELECT ch.seqno, ch.tbl, ch.kt, ch.key, ch.op, ch.sk,
           (ch.op = 'D' OR z.zt_hlc IS NULL OR zonemesh.newer(ch.hlc, ch.origin, z.zt_hlc, z.zt_origin)) AS live,
           (ch.op = 'U' AND ch.zone_table AND z.here IS NOT TRUE) AS zone_gone,
           lag(ch.seqno) OVER w AS prev_seqno, lag(ch.sk) OVER w AS prev_sk, lag(ch.op) OVER w AS prev_op
      FROM pg_temp.zm_ch ch
      LEFT JOIN z ON ch.op = 'U' AND ch.zone_table AND z.zone = ch.zone
    WINDOW w AS (PARTITION BY ch.tbl, ch.kt ORDER BY ch.seqno)
  )
  SELECT c.seqno, c.tbl, c.kt,
         c.live AND c.sk > coalesce(c.prev_sk, k.init_sk, ''),
         true,
         CASE WHEN c.prev_op = 'U' THEN c.prev_seqno END,
         c.prev_seqno IS NULL AND coalesce(k.init_is_row, false),
         CASE WHEN c.zone_gone THEN 'zone_missing' END, NULL, NULL,
         CASE WHEN c.zone_gone THEN 'kept, not served until the zone exists' END
    FROM c
    LEFT JOIN LATERAL (
      SELECT CASE WHEN tb.hlc IS NULL THEN cur.row_sk
                  WHEN cur.row_sk IS NULL THEN zonemesh.stamp_key(tb.hlc, tb.origin)
                  ELSE greatest(cur.row_sk, zonemesh.stamp_key(tb.hlc, tb.origin) COLLATE "C") END AS init_sk,
             cur.row_sk IS NOT NULL AND (tb.hlc IS NULL OR cur.row_sk > zonemesh.stamp_key(tb.hlc, tb.origin) COLLATE "C")
               AS init_is_row
        FROM (SELECT 1) one
        LEFT JOIN pg_temp.zm_cur cur ON cur.tbl = c.tbl AND cur.kt = c.kt
        LEFT JOIN zonemesh.tombstones tb ON tb.tbl = c.tbl AND tb.key = c.key
       WHERE c.prev_seqno IS NULL) k ON true;

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
  -- n orders an entry's changes (readers sort by entry, n); the batch order
  -- does that, without drawing on the sequence and sorting the batch's rows.
  INSERT INTO zonemesh.changes (entry, n, tbl, op, key, data, old, hlc, zone, applied)
  SELECT x.entry, c.seqno, c.tbl, c.op::"char", c.key, c.data, coalesce(po.data, cu.row_image), c.hlc, c.zone, r.ok
    FROM pg_temp.zm_ch c JOIN pg_temp.zm_res r ON r.seqno = c.seqno JOIN pg_temp.zm_tx x ON x.i = c.i
    LEFT JOIN pg_temp.zm_ch po ON po.seqno = r.old_seqno
    LEFT JOIN pg_temp.zm_cur cu ON r.old_cur AND cu.tbl = c.tbl AND cu.kt = c.kt;
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

ALTER FUNCTION zonemesh.apply_batch(jsonb) SET work_mem = '64MB';
