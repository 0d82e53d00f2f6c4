-- 004_apply: reading the change-log, and applying peers' changes.
--
-- A source transaction travels as JSON:
--   {"origin": "site2", "seq": 17, "changes": [
--      {"tbl": "records", "op": "U", "key": {"id": "..."}, "data": {...full row...},
--       "hlc": 118..., "zone": "example.com"},
--      {"tbl": "records", "op": "D", "key": {"id": "..."}, "hlc": 118..., "zone": "example.com"}]}

-- Entries after local position after_pos, oldest first, as source
-- transactions (plus their local pos). Used by the site's DNS server.
CREATE FUNCTION zonemesh.changes_since(after_pos bigint, max_entries integer DEFAULT 1000)
RETURNS TABLE (pos bigint, origin text, origin_seq bigint, committed_at timestamptz, tx jsonb)
LANGUAGE sql STABLE AS $$
  SELECT l.pos, l.origin, l.origin_seq, l.committed_at,
         jsonb_build_object('origin', l.origin, 'seq', l.origin_seq, 'changes',
           (SELECT coalesce(jsonb_agg(jsonb_build_object('tbl', c.tbl, 'op', c.op, 'key', c.key,
                                         'data', c.data, 'old', c.old, 'hlc', c.hlc, 'zone', c.zone,
                                         'applied', c.applied) ORDER BY c.n), '[]'::jsonb)
              FROM zonemesh.changes c WHERE c.entry = l.entry))
    FROM zonemesh.changelog l
   WHERE l.pos > after_pos
   ORDER BY l.pos
   LIMIT max_entries
$$;

-- One origin's transactions after seq after_seq, in origin order. Used by the
-- replicator to send a peer what its version vector lacks.
CREATE FUNCTION zonemesh.origin_changes(from_origin text, after_seq bigint, max_entries integer DEFAULT 1000)
RETURNS TABLE (origin_seq bigint, tx jsonb)
LANGUAGE sql STABLE AS $$
  SELECT l.origin_seq,
         jsonb_build_object('origin', l.origin, 'seq', l.origin_seq, 'changes',
           (SELECT coalesce(jsonb_agg(jsonb_build_object('tbl', c.tbl, 'op', c.op, 'key', c.key,
                                         'data', c.data, 'hlc', c.hlc, 'zone', c.zone) ORDER BY c.n),
                            '[]'::jsonb)
              FROM zonemesh.changes c WHERE c.entry = l.entry))
    FROM zonemesh.changelog l
   WHERE l.origin = from_origin AND l.origin_seq > after_seq
   ORDER BY l.origin_seq
   LIMIT max_entries
$$;

CREATE FUNCTION zonemesh.log_conflict(kind text, tbl text, key jsonb, zone text,
                                      kept_hlc bigint, kept_origin text,
                                      lost_hlc bigint, lost_origin text, detail text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO zonemesh.conflicts (kind, tbl, key, zone, kept_hlc, kept_origin, lost_hlc, lost_origin, detail)
  VALUES (kind, tbl, key, zone, kept_hlc, kept_origin, lost_hlc, lost_origin, detail)
$$;

-- Per replicated table, the four row operations apply needs, as functions
-- with static SQL so their plans are made once per session, not per change:
-- zonemesh.row_op(tbl, 'lock' | 'delete' | 'insert' | 'update', key, data).
DO $gen$
DECLARE
  t record;
  key_match text;
  dispatch text := '';
BEGIN
  FOR t IN SELECT * FROM zonemesh.replicated_tables ORDER BY tbl LOOP
    key_match := (SELECT string_agg(format('x.%1$I = k.%1$I', c), ' AND ') FROM unnest(t.key_cols) c);
    EXECUTE format($f$
      CREATE FUNCTION zonemesh.%1$I(action text, key jsonb, data jsonb,
                                    OUT row_hlc bigint, OUT row_origin text, OUT row_image jsonb)
      LANGUAGE plpgsql AS $body$
      BEGIN
        IF action = 'lock' THEN
          SELECT x.hlc, x.origin, to_jsonb(x) INTO row_hlc, row_origin, row_image
            FROM public.%2$I x, jsonb_populate_record(NULL::public.%2$I, key) k
           WHERE %3$s FOR UPDATE OF x;
        ELSIF action = 'delete' THEN
          DELETE FROM public.%2$I x USING jsonb_populate_record(NULL::public.%2$I, key) k WHERE %3$s;
        ELSIF action = 'insert' THEN
          INSERT INTO public.%2$I SELECT * FROM jsonb_populate_record(NULL::public.%2$I, data);
        ELSE
          UPDATE public.%2$I x SET (%4$s) = (SELECT %5$s FROM jsonb_populate_record(NULL::public.%2$I, data) r)
            FROM jsonb_populate_record(NULL::public.%2$I, key) k WHERE %3$s;
        END IF;
      END $body$ $f$,
      'row_op_' || t.tbl, t.tbl, key_match,
      array_to_string(ARRAY(SELECT quote_ident(c) FROM unnest(t.cols) c), ','),
      array_to_string(ARRAY(SELECT 'r.' || quote_ident(c) FROM unnest(t.cols) c), ','));
    dispatch := dispatch || format('WHEN %L THEN SELECT * INTO r FROM zonemesh.%I(action, key, data); ',
                                   t.tbl, 'row_op_' || t.tbl);
  END LOOP;
  EXECUTE format($f$
    CREATE FUNCTION zonemesh.row_op(tbl text, action text, key jsonb, data jsonb,
                                    OUT row_hlc bigint, OUT row_origin text, OUT row_image jsonb)
    LANGUAGE plpgsql AS $body$
    DECLARE r record;
    BEGIN
      CASE tbl %s ELSE RAISE EXCEPTION 'change for unknown table "%%"', tbl; END CASE;
      row_hlc := r.row_hlc; row_origin := r.row_origin; row_image := r.row_image;
    END $body$ $f$, dispatch);
END $gen$;

-- Refuses stamps too far ahead of this site's clock, then moves the clock
-- past the newest of them (HLC receive rule). Called once per source
-- transaction or snapshot chunk with its newest stamp.
CREATE FUNCTION zonemesh.observe_remote_stamp(newest bigint, from_origin text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  bound bigint := (SELECT max_clock_skew_ms FROM zonemesh.node);
BEGIN
  IF newest > zonemesh.physical_hlc() + (bound << 16) THEN
    RAISE EXCEPTION 'change stamped % is more than % ms ahead of this site''s clock (origin %)',
      zonemesh.hlc_time(newest), bound, from_origin
      USING ERRCODE = 'data_exception';
  END IF;
  PERFORM zonemesh.hlc_observe(newest);
END $$;

-- Applies one change under last-writer-wins by (hlc, origin). ok: it changed
-- this site's tables; old: the row it replaced or deleted, as it was here.
-- The caller has checked the stamp with observe_remote_stamp.
CREATE FUNCTION zonemesh.apply_change(ch jsonb, ch_origin text, OUT ok boolean, OUT old jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  zone_col text;
  ctbl text := ch ->> 'tbl';
  op text := ch ->> 'op';
  k jsonb := ch -> 'key';
  d jsonb := ch -> 'data';
  h bigint := (ch ->> 'hlc')::bigint;
  z text := ch ->> 'zone';
  cur record;
  tomb record;
  ztomb record;
BEGIN
  SELECT r.zone_col INTO zone_col FROM zonemesh.replicated_tables r WHERE r.tbl = ctbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'change for unknown table "%"', ctbl;
  END IF;
  IF op NOT IN ('U', 'D') OR h IS NULL OR k IS NULL OR (op = 'U' AND d IS NULL) THEN
    RAISE EXCEPTION 'malformed change %', ch;
  END IF;
  IF op = 'U' AND (d ->> 'hlc')::bigint IS DISTINCT FROM h OR (op = 'U' AND d ->> 'origin' IS DISTINCT FROM ch_origin) THEN
    RAISE EXCEPTION 'change % carries a stamp that differs from its row''s', ch;
  END IF;

  SELECT r.row_hlc AS hlc, r.row_origin AS origin, r.row_image AS j INTO cur
    FROM zonemesh.row_op(ctbl, 'lock', k, NULL) r;
  SELECT hlc, origin INTO tomb FROM zonemesh.tombstones tb WHERE tb.tbl = ctbl AND tb.key = k;

  IF op = 'D' THEN
    INSERT INTO zonemesh.tombstones AS tb (tbl, key, hlc, origin, zone)
    VALUES (ctbl, k, h, ch_origin, z)
    ON CONFLICT (tbl, key) DO UPDATE
      SET hlc = EXCLUDED.hlc, origin = EXCLUDED.origin, zone = EXCLUDED.zone, deleted_at = now()
      WHERE zonemesh.newer(EXCLUDED.hlc, EXCLUDED.origin, tb.hlc, tb.origin);
    IF ctbl = 'zones' THEN
      PERFORM zonemesh.purge_zone(k ->> 'name', h, ch_origin);
    END IF;
    IF cur.hlc IS NULL THEN
      ok := tomb.hlc IS NULL OR zonemesh.newer(h, ch_origin, tomb.hlc, tomb.origin);
      RETURN;
    END IF;
    old := cur.j;
    IF zonemesh.newer(h, ch_origin, cur.hlc, cur.origin) THEN
      PERFORM zonemesh.row_op(ctbl, 'delete', k, NULL);
      ok := true;
      RETURN;
    END IF;
    ok := false;
    PERFORM zonemesh.log_conflict('delete_lost', ctbl, k, z, cur.hlc, cur.origin, h, ch_origin,
                                  'a newer write of the row was kept');
    RETURN;
  END IF;

  -- Upsert.
  ok := false;
  old := cur.j;
  IF cur.hlc IS NOT NULL AND NOT zonemesh.newer(h, ch_origin, cur.hlc, cur.origin) THEN
    IF NOT (cur.hlc = h AND cur.origin = ch_origin) THEN
      PERFORM zonemesh.log_conflict('write_lost', ctbl, k, z, cur.hlc, cur.origin, h, ch_origin,
                                    'a newer write of the row was kept');
    END IF;
    RETURN;
  END IF;
  IF tomb.hlc IS NOT NULL AND NOT zonemesh.newer(h, ch_origin, tomb.hlc, tomb.origin) THEN
    PERFORM zonemesh.log_conflict('write_lost', ctbl, k, z, tomb.hlc, tomb.origin, h, ch_origin,
                                  'the row was deleted later');
    RETURN;
  END IF;
  IF zone_col IS NOT NULL AND ctbl <> 'zones' THEN
    SELECT hlc, origin INTO ztomb FROM zonemesh.tombstones tb
     WHERE tb.tbl = 'zones' AND tb.key = jsonb_build_object('name', z);
    IF ztomb.hlc IS NOT NULL AND NOT zonemesh.newer(h, ch_origin, ztomb.hlc, ztomb.origin) THEN
      PERFORM zonemesh.log_conflict('zone_deleted', ctbl, k, z, ztomb.hlc, ztomb.origin, h, ch_origin,
                                    'the zone was deleted after this write');
      RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM public.zones WHERE name = z) THEN
      PERFORM zonemesh.log_conflict('zone_missing', ctbl, k, z, NULL, NULL, h, ch_origin,
                                    'kept, not served until the zone exists');
    END IF;
  END IF;
  IF ctbl = 'zones' AND cur.hlc IS NOT NULL THEN
    PERFORM 1 FROM public.zones WHERE name = k ->> 'name' AND created IS DISTINCT FROM (d ->> 'created')::timestamptz;
    IF FOUND THEN
      PERFORM zonemesh.log_conflict('zone_created_twice', ctbl, k, z, h, ch_origin, cur.hlc, cur.origin,
                                    'created at two sites; the newer creation''s settings are kept, records of both');
    END IF;
  END IF;
  PERFORM zonemesh.row_op(ctbl, CASE WHEN cur.hlc IS NULL THEN 'insert' ELSE 'update' END, k, d);
  ok := true;
END $$;

-- Sets origin o's contiguous mark to v (the caller holds its vector row
-- lock), absorbing what was received out of order just above it.
CREATE FUNCTION zonemesh.settle_vector(o text, v bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM zonemesh.received r WHERE r.origin = o AND r.seq <= v;
  LOOP
    DELETE FROM zonemesh.received r WHERE r.origin = o AND r.seq = v + 1;
    EXIT WHEN NOT FOUND;
    v := v + 1;
  END LOOP;
  UPDATE zonemesh.vector SET seq = v WHERE origin = o;
END $$;

-- Applies one source transaction (see the format above) atomically. Returns
-- 'applied', 'duplicate' (already here) or 'own' (this site's own change
-- coming back).
CREATE FUNCTION zonemesh.apply_tx(tx jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  o text := tx ->> 'origin';
  s bigint := (tx ->> 'seq')::bigint;
  v bigint;
  e bigint;
  ch jsonb;
  res record;
BEGIN
  IF o IS NULL OR s IS NULL OR s < 1 OR jsonb_typeof(tx -> 'changes') IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'malformed source transaction: %', left(tx::text, 200);
  END IF;
  IF o = zonemesh.node_id() THEN
    RETURN 'own';
  END IF;
  INSERT INTO zonemesh.vector (origin, seq) VALUES (o, 0) ON CONFLICT (origin) DO NOTHING;
  SELECT seq INTO v FROM zonemesh.vector WHERE origin = o FOR UPDATE;
  IF s <= v OR EXISTS (SELECT 1 FROM zonemesh.received r WHERE r.origin = o AND r.seq = s) THEN
    -- Here already (perhaps through another peer after failing once): a
    -- copy kept aside for retry is done with.
    DELETE FROM zonemesh.apply_errors WHERE origin = o AND origin_seq = s;
    RETURN 'duplicate';
  END IF;

  PERFORM zonemesh.observe_remote_stamp(
    (SELECT max((c ->> 'hlc')::bigint) FROM jsonb_array_elements(tx -> 'changes') c), o);
  PERFORM set_config('zonemesh.applying', 'on', true);
  e := nextval('zonemesh.entry_id');
  FOR ch IN SELECT * FROM jsonb_array_elements(tx -> 'changes') LOOP
    res := zonemesh.apply_change(ch, o);
    INSERT INTO zonemesh.changes (entry, tbl, op, key, data, old, hlc, zone, applied)
    VALUES (e, ch ->> 'tbl', (ch ->> 'op')::"char", ch -> 'key', ch -> 'data', res.old,
            (ch ->> 'hlc')::bigint, ch ->> 'zone', res.ok);
  END LOOP;
  PERFORM set_config('zonemesh.applying', 'off', true);
  INSERT INTO zonemesh.pending_entries (entry, origin, origin_seq) VALUES (e, o, s);

  IF s = v + 1 THEN
    PERFORM zonemesh.settle_vector(o, s);
  ELSE
    INSERT INTO zonemesh.received (origin, seq) VALUES (o, s);
  END IF;
  DELETE FROM zonemesh.apply_errors WHERE origin = o AND origin_seq = s;
  RETURN 'applied';
END $$;

-- Applies a JSON array of source transactions in one database transaction,
-- each one atomically on its own: a transaction that fails is rolled back
-- alone, recorded in zonemesh.apply_errors, and the rest go on. Returns
-- {"applied": n, "duplicate": n, "own": n, "failed": n}.
CREATE FUNCTION zonemesh.apply_batch(txs jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  tx jsonb;
  res text;
  counts jsonb := '{"applied": 0, "duplicate": 0, "own": 0, "failed": 0}';
  msg text;
BEGIN
  IF jsonb_typeof(txs) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'apply_batch expects a JSON array of source transactions';
  END IF;
  FOR tx IN SELECT * FROM jsonb_array_elements(txs) LOOP
    BEGIN
      res := zonemesh.apply_tx(tx);
    EXCEPTION WHEN others THEN
      GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
      res := 'failed';
      INSERT INTO zonemesh.apply_errors AS ae (origin, origin_seq, tx, error)
      VALUES (coalesce(tx ->> 'origin', '?'), coalesce((tx ->> 'seq')::bigint, -1), tx, msg)
      ON CONFLICT (origin, origin_seq) DO UPDATE
        SET error = EXCLUDED.error, tx = EXCLUDED.tx, attempts = ae.attempts + 1, last_failed = now();
    END;
    counts := jsonb_set(counts, ARRAY[res], to_jsonb((counts ->> res)::integer + 1));
  END LOOP;
  RETURN counts;
END $$;

-- Retries the transactions kept in zonemesh.apply_errors (after the cause
-- was fixed, e.g. a clock back in bounds).
CREATE FUNCTION zonemesh.retry_apply_errors() RETURNS jsonb
LANGUAGE sql AS $$
  SELECT zonemesh.apply_batch(coalesce(jsonb_agg(tx ORDER BY origin, origin_seq), '[]'))
    FROM zonemesh.apply_errors
$$;

-- This site's version vector as JSON: {"site1": 12, "site2": 40}.
CREATE FUNCTION zonemesh.version_vector() RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_object_agg(origin, seq), '{}'::jsonb) FROM zonemesh.vector
$$;

-- Pruning. A change-log entry goes once every known peer has acknowledged its
-- (origin, seq), or once it is older than the retention cap; a tombstone goes
-- once the entry that made it here would (every peer has a version vector
-- covering the tombstone's stamp's origin seq) or past the cap. A peer behind
-- the cap must be resynced from a snapshot (the replicator does that).
CREATE FUNCTION zonemesh.prune(retention interval DEFAULT '7 days') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  peers integer := (SELECT count(*) FROM zonemesh.peers);
  n_log bigint;
  n_tomb bigint;
BEGIN
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
      OR (peers > 0 AND NOT EXISTS (
            SELECT 1 FROM zonemesh.changes c WHERE c.op = 'D' AND c.tbl = tb.tbl AND c.key = tb.key
                                              AND c.hlc = tb.hlc));
  GET DIAGNOSTICS n_tomb = ROW_COUNT;
  RETURN jsonb_build_object('changes', n_log, 'tombstones', n_tomb);
END $$;
