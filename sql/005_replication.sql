-- 005_replication: what zonemesh-replicator needs beyond apply: sending only
-- contiguous history, snapshots for new or far-behind sites, peer status.

-- One origin's transactions with after_seq < seq <= up_to_seq, in order. The
-- replicator sends a peer only the contiguous part of what this site holds
-- (up to its version vector), so every site receives each origin in order.
CREATE FUNCTION zonemesh.origin_changes(from_origin text, after_seq bigint, up_to_seq bigint,
                                        max_entries integer)
RETURNS TABLE (origin_seq bigint, tx jsonb)
LANGUAGE sql STABLE AS $$
  SELECT o.origin_seq, o.tx FROM zonemesh.origin_changes(from_origin, after_seq, max_entries) o
   WHERE o.origin_seq <= up_to_seq
$$;

-- The oldest seq of an origin this site can still send (NULL: none kept).
-- A peer that needs anything older must be sent a snapshot.
CREATE FUNCTION zonemesh.oldest_kept_seq(from_origin text) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT min(origin_seq) FROM zonemesh.changelog WHERE origin = from_origin
$$;

-- A snapshot entry in the change-log (origin '~snapshot', see
-- zonemesh.commit_entry): no row changes, it tells this site's readers (the
-- DNS server) to reload everything. Never forwarded: its origin is no node.
CREATE SEQUENCE zonemesh.snapshot_seq;

-- Snapshot, part 1: what the rows and tombstones are read with (in one
-- REPEATABLE READ transaction by the sender).
CREATE FUNCTION zonemesh.snapshot_header() RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'node', zonemesh.node_id(),
    'vector', zonemesh.version_vector(),
    'zone_state', (SELECT coalesce(jsonb_agg(jsonb_build_array(zone, changes, max_hlc)), '[]'::jsonb)
                     FROM zonemesh.zone_state))
$$;

-- Snapshot, part 2 (receiver): merges rows of one replicated table under the
-- usual last-writer-wins rules, so a site's own writes the snapshot does not
-- know survive. Returns how many rows changed here.
CREATE FUNCTION zonemesh.merge_snapshot_rows(tbl text, rows jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r jsonb;
  n integer := 0;
  res record;
BEGIN
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

-- Snapshot, part 3 (receiver): tombstones, as deletes.
CREATE FUNCTION zonemesh.merge_snapshot_tombstones(tombs jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  t jsonb;
  n integer := 0;
  res record;
BEGIN
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

-- Snapshot, part 4 (receiver): adopts the snapshot's version vector and
-- per-zone change counts (adding this site's own changes the snapshot does
-- not cover, so the SOA serial comes out as it will at every other site), and
-- tells this site's readers to reload.
CREATE FUNCTION zonemesh.finish_snapshot(header jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  theirs jsonb := header -> 'vector';
  o text;
  s bigint;
  v bigint;
BEGIN
  -- Zone state: the snapshot's, plus what this site has that it lacked.
  CREATE TEMP TABLE zonemesh_uncovered ON COMMIT DROP AS
    SELECT c.zone, count(*) AS changes, max(c.hlc) AS max_hlc
      FROM zonemesh.changelog l JOIN zonemesh.changes c ON c.entry = l.entry
     WHERE c.zone IS NOT NULL AND l.origin <> '~snapshot'
       AND l.origin_seq > coalesce((theirs ->> l.origin)::bigint, 0)
     GROUP BY c.zone;
  DELETE FROM zonemesh.zone_state;
  INSERT INTO zonemesh.zone_state (zone, changes, max_hlc)
  SELECT coalesce(z.zone, u.zone), coalesce(z.changes, 0) + coalesce(u.changes, 0),
         greatest(coalesce(z.max_hlc, 0), coalesce(u.max_hlc, 0))
    FROM (SELECT e ->> 0 AS zone, (e ->> 1)::bigint AS changes, (e ->> 2)::bigint AS max_hlc
            FROM jsonb_array_elements(header -> 'zone_state') e) z
    FULL JOIN zonemesh_uncovered u ON u.zone = z.zone;

  -- Version vector: everything the snapshot covers is here now.
  FOR o, s IN SELECT key, value::bigint FROM jsonb_each_text(theirs) LOOP
    CONTINUE WHEN o = zonemesh.node_id();
    INSERT INTO zonemesh.vector (origin, seq) VALUES (o, 0) ON CONFLICT (origin) DO NOTHING;
    SELECT seq INTO v FROM zonemesh.vector WHERE origin = o FOR UPDATE;
    PERFORM zonemesh.settle_vector(o, greatest(v, s));
  END LOOP;

  INSERT INTO zonemesh.pending_entries (entry, origin, origin_seq)
  VALUES (nextval('zonemesh.entry_id'), '~snapshot', nextval('zonemesh.snapshot_seq'));
END $$;

-- Peers: the replicator records each link's state here (local, never replicated).
ALTER TABLE zonemesh.peers
  ADD COLUMN connected boolean NOT NULL DEFAULT false,
  ADD COLUMN last_error text,
  ADD COLUMN clock_offset_ms bigint;

-- Per peer: what it lacks of what this site holds, and how old the oldest
-- such change is. The replicator's status command and metrics read this.
CREATE VIEW zonemesh.peer_status AS
  SELECT p.node AS peer, p.address, p.port, p.connected, p.last_contact, p.last_error,
         p.clock_offset_ms,
         coalesce(b.changes_behind, 0) AS changes_behind,
         coalesce(extract(epoch FROM now() - b.oldest), 0)::double precision AS seconds_behind
    FROM zonemesh.peers p
    LEFT JOIN LATERAL (
      SELECT count(*) AS changes_behind, min(l.committed_at) AS oldest
        FROM zonemesh.changelog l
        JOIN zonemesh.vector v ON v.origin = l.origin AND l.origin_seq <= v.seq
       WHERE l.origin <> p.node
         AND l.origin_seq > coalesce((SELECT pv.seq FROM zonemesh.peer_vector pv
                                       WHERE pv.peer = p.node AND pv.origin = l.origin), 0)) b ON true;

-- Removing a site: forget it as a peer here, so pruning stops waiting for it.
-- Run at every remaining site after the site is shut down for good.
CREATE FUNCTION zonemesh.remove_peer(peer_node text) RETURNS boolean
LANGUAGE sql AS $$
  WITH gone AS (DELETE FROM zonemesh.peers WHERE node = peer_node RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM gone)
$$;
