-- 017_write_wait_bound: a local write never waits on a stalled apply for
-- longer than a bound.
--
-- Local write statements take the apply lock in shared mode (013) and wait
-- while a replicator applies peers' changes (exclusive). A replicator frozen
-- with its apply transaction open (SIGSTOP, a hung host) held the lock, and
-- so every local write at its site, for as long as it stayed frozen: an
-- UPDATE waited 16 minutes behind "SELECT zonemesh.apply_batch($1::jsonb)"
-- idle in transaction, and /health said nothing.
--
-- Now:
--   - a local write waits for the apply lock at most
--     zonemesh.node.local_write_wait_ms (default 5 s), then fails with a
--     clear error (SQLSTATE 55P03, lock_not_available) naming the holder;
--   - the replicator's apply transactions end themselves when they stall
--     (idle_in_transaction_session_timeout, set by the replicator), so the
--     lock comes free and the apply is retried: nothing is lost, the peer
--     sends again what this site's version vector lacks;
--   - zonemesh.apply_lock_status() says who holds the lock and who waits,
--     for the DNS server's /health and /metrics.

ALTER TABLE zonemesh.node
  ADD COLUMN local_write_wait_ms integer NOT NULL DEFAULT 5000 CHECK (local_write_wait_ms > 0);

-- The apply lock as pg_locks shows it: pg_advisory_xact_lock(key1, key2)
-- is classid = key1, objid = key2, objsubid = 2.
CREATE FUNCTION zonemesh.apply_lock_class() RETURNS oid
LANGUAGE sql IMMUTABLE AS $$ SELECT (hashtext('zonemesh.apply')::bigint & 4294967295)::oid $$;

-- Who holds the apply lock and who waits for it: the number of sessions
-- waiting, the longest wait, and the holder (exclusive, the applying
-- replicator; or the oldest shared holder, a local writer) with its state
-- and how long its transaction has been open.
CREATE FUNCTION zonemesh.apply_lock_status(
  OUT waiting integer, OUT longest_wait_s double precision, OUT holder_pid integer,
  OUT holder_mode text, OUT holder_state text, OUT holder_application text,
  OUT holder_xact_s double precision, OUT holder_state_s double precision)
LANGUAGE sql STABLE AS $$
  WITH l AS (
    SELECT l.pid, l.mode, l.granted, a.state, a.application_name, a.xact_start, a.state_change
      FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.classid = zonemesh.apply_lock_class()
       AND l.objid = 0 AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database
                                                           WHERE datname = current_database()))
  SELECT (SELECT count(*)::integer FROM l WHERE NOT granted),
         coalesce((SELECT extract(epoch FROM max(clock_timestamp() - state_change))
                     FROM l WHERE NOT granted), 0)::double precision,
         h.pid, h.mode, h.state, h.application_name,
         extract(epoch FROM clock_timestamp() - h.xact_start)::double precision,
         extract(epoch FROM clock_timestamp() - h.state_change)::double precision
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (SELECT * FROM l WHERE granted
                        ORDER BY mode = 'ExclusiveLock' DESC, xact_start LIMIT 1) h ON true
$$;

-- 013's lock, with a bound on the wait. The common case (nobody applying)
-- takes it at once, without a subtransaction.
CREATE OR REPLACE FUNCTION zonemesh.lock_local_writes() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  bound integer;
  previous text;
  holder record;
BEGIN
  IF pg_try_advisory_xact_lock_shared(hashtext('zonemesh.apply'), 0) THEN
    RETURN;
  END IF;
  bound := (SELECT local_write_wait_ms FROM zonemesh.node);
  previous := current_setting('lock_timeout');
  -- A session's own, shorter lock_timeout is kept.
  IF previous IN ('0', '') OR bound < extract(epoch FROM previous::interval) * 1000 THEN
    PERFORM set_config('lock_timeout', bound || 'ms', true);
  END IF;
  BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('zonemesh.apply'), 0);
  EXCEPTION WHEN lock_not_available THEN
    SELECT * INTO holder FROM zonemesh.apply_lock_status();
    RAISE EXCEPTION 'zonemesh: this write waited % ms for the apply lock, held by pid % (%, %, transaction open % s); nothing was written',
      bound, holder.holder_pid, coalesce(nullif(holder.holder_application, ''), 'unnamed'),
      coalesce(holder.holder_state, '?'), round(coalesce(holder.holder_xact_s, 0)::numeric, 1)
      USING ERRCODE = 'lock_not_available',
            HINT = 'the replicator is applying peers'' changes or is stalled; try again. A stalled apply is ended by PostgreSQL after the replicator''s [database] apply_stall_timeout_ms.';
  END;
  PERFORM set_config('lock_timeout', previous, true);
END $$;
