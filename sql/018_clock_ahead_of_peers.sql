-- 018_clock_ahead_of_peers: a site whose clock jumped ahead takes no local
-- writes while its peers say so.
--
-- A site whose clock jumped ahead (beyond max_clock_skew_ms) has its links
-- refused by its peers at hello, and its changes refused by them for as
-- long as they stay ahead; yet it took local writes, stamped in the future:
-- kept aside everywhere else, served only here, and winning over later
-- edits once applied. The replicator measures every peer's clock at hello
-- (zonemesh.note_peer_clock); while every peer measured in the last ten
-- minutes says this site is ahead by more than the bound, local writes are
-- refused (zonemesh.hlc_now), with the reason, and /health says so
-- (zonemesh.write_health). A link whose clocks agree again clears it.

ALTER TABLE zonemesh.peers ADD COLUMN clock_checked_at timestamptz;
ALTER TABLE zonemesh.node ADD COLUMN ahead_of_peers_ms bigint NOT NULL DEFAULT 0;

-- The replicator's measurement of a known peer's clock at hello (offset =
-- the peer's clock minus ours, ms). Unknown peers are not added here.
CREATE FUNCTION zonemesh.note_peer_clock(peer_node text, offset_ms bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  bound bigint := (SELECT max_clock_skew_ms FROM zonemesh.node);
  ahead bigint;
BEGIN
  UPDATE zonemesh.peers SET clock_offset_ms = offset_ms, clock_checked_at = now() WHERE node = peer_node;
  SELECT CASE WHEN count(*) > 0 AND bool_and(-p.clock_offset_ms > bound) THEN min(-p.clock_offset_ms) ELSE 0 END
    INTO ahead
    FROM zonemesh.peers p
   WHERE p.clock_checked_at > now() - interval '10 minutes';
  UPDATE zonemesh.node SET ahead_of_peers_ms = ahead WHERE ahead_of_peers_ms IS DISTINCT FROM ahead;
END $$;

-- A fresh local stamp (001's), refused in two cases, each with the reason:
-- - every peer says this site is ahead (checked first: a refused write must
--   not move the clock to the jumped physical time, and setval is not undone
--   by a rollback);
-- - the HLC is more than max_clock_skew_ms ahead of the physical clock. A
--   clock that jumped back leaves the HLC ahead (it never goes back): every
--   local write would be stamped in the future, and peers refuse stamps that
--   far ahead, keep them aside and try them again, while the same name
--   answers differently at different sites.
CREATE OR REPLACE FUNCTION zonemesh.hlc_now() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v bigint := nextval('zonemesh.hlc_clock');
  n record;
  p bigint;
BEGIN
  SELECT node.ahead_of_peers_ms, node.max_clock_skew_ms INTO n FROM zonemesh.node;
  IF n.ahead_of_peers_ms > 0 THEN
    RAISE EXCEPTION 'zonemesh: this site''s clock is % s ahead of its peers'' (measured when they refused its links; the bound is % ms): local writes are refused until the clock is fixed',
      round(n.ahead_of_peers_ms / 1000.0, 1), n.max_clock_skew_ms
      USING ERRCODE = 'data_exception',
            HINT = 'fix the clock (NTP); see docs/operations.md, "Clock jumps"';
  END IF;
  p := zonemesh.physical_hlc();
  IF p > v THEN
    PERFORM setval('zonemesh.hlc_clock', p);
    RETURN p;
  END IF;
  IF v - p > n.max_clock_skew_ms << 16 THEN
    RAISE EXCEPTION 'zonemesh: this site''s clock (HLC %) is % s ahead of its physical clock; local writes are refused until it is within % ms (in % s), since peers would refuse them',
      zonemesh.hlc_time(v), round(((v - p) >> 16) / 1000.0, 1), n.max_clock_skew_ms,
      round((((v - p) >> 16) - n.max_clock_skew_ms) / 1000.0, 1)
      USING ERRCODE = 'data_exception',
            HINT = 'the physical clock went back (or was ahead before); see docs/operations.md, "Clock jumps"';
  END IF;
  RETURN v;
END $$;

-- How far this site's HLC is ahead of its physical clock (ms; 0 when not),
-- peers' source transactions kept aside in apply_errors, and the peers'
-- verdict on this site's clock: for /health and /metrics.
CREATE FUNCTION zonemesh.write_health(OUT hlc_ahead_ms bigint, OUT max_clock_skew_ms bigint,
                                      OUT apply_errors bigint, OUT newest_apply_error_s double precision,
                                      OUT ahead_of_peers_ms bigint)
LANGUAGE sql VOLATILE AS $$
  SELECT greatest(0, ((SELECT last_value FROM zonemesh.hlc_clock) - zonemesh.physical_hlc()) >> 16),
         (SELECT n.max_clock_skew_ms FROM zonemesh.node n),
         (SELECT count(*) FROM zonemesh.apply_errors),
         (SELECT extract(epoch FROM clock_timestamp() - max(last_failed)) FROM zonemesh.apply_errors),
         (SELECT n.ahead_of_peers_ms FROM zonemesh.node n)
$$;
