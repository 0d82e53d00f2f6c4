-- 013_local_write_lock: local writes and the applying of peers' changes take
-- turns.
--
-- Applying takes zonemesh.lock_apply() (006), so two links never apply at
-- once. Local writes did not take it, and nothing locks a row that is not
-- there: a local INSERT of a key this site does not have (a zone, a metadata
-- row, a TSIG key) committed at the same moment as the apply of a peer's
-- newer delete of that key, which this site had not seen, each saw "no row,
-- no tombstone", and the row stayed here next to a tombstone newer than it,
-- while every other site had it deleted, for good. The same held for a local
-- insert into a zone whose deletion was being applied (the deletion's purge
-- did not see the uncommitted row) and for a local zone deletion while a
-- record for that zone was being applied.
--
-- Now every local write statement on a replicated table first takes the same
-- advisory lock in shared mode, held to the end of its transaction: local
-- writers never wait for each other, an apply waits for the local
-- transactions in progress, and a local write waits for a running apply (one
-- frame: well under a second) and then sees what it wrote; its row triggers
-- read with fresh snapshots (READ COMMITTED, the default), so the stamp
-- clears the tombstone and a zone that is gone is reported gone. The lock is
-- taken before the statement touches any row (a statement-level trigger),
-- in the same order as the apply takes it (advisory lock, then rows), so
-- the two do not deadlock. The price: a long local transaction holds back
-- applying until it commits.
-- A local transaction that locks rows before its first write (SELECT ...
-- FOR UPDATE / FOR SHARE, as the DNS server's UPDATE handler, the secondary
-- and the zone import do) calls this first, to keep that order.
CREATE FUNCTION zonemesh.lock_local_writes() RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock_shared(hashtext('zonemesh.apply'), 0) $$;

CREATE FUNCTION zonemesh.local_write_lock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT zonemesh.internal_write() THEN
    PERFORM zonemesh.lock_local_writes();
  END IF;
  RETURN NULL;
END $$;

DO $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT tbl FROM zonemesh.replicated_tables ORDER BY tbl LOOP
    EXECUTE format('CREATE TRIGGER a_local_write_lock BEFORE INSERT OR UPDATE OR DELETE ON public.%I
                    FOR EACH STATEMENT EXECUTE FUNCTION zonemesh.local_write_lock()', t);
  END LOOP;
END $$;
