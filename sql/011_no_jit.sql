-- 011_no_jit: no JIT compilation in the replicator's periodic and bulk
-- queries.
--
-- PostgreSQL compiles a query with LLVM when its estimated cost passes
-- jit_above_cost (on by default in Debian's PostgreSQL 15). On a new site the
-- change-log tables have never been analyzed, the planner's guesses for them
-- are far too high, and zonemesh.peer_lag() (read every second by each
-- replicator for its status and metrics) was compiled on every call: 200-600
-- ms of CPU a second per site, for a query that runs in 0.3 ms. During the
-- first catch-up after a partition that was a third of each site's database
-- CPU (measured with pg_stat_statements' jit_* columns). The apply functions
-- read staging tables that have no statistics either. Queries this short
-- never gain from JIT, so it is off for them, whatever the server's setting.
ALTER FUNCTION zonemesh.peer_lag() SET jit = off;
ALTER FUNCTION zonemesh.apply_batch(jsonb) SET jit = off;
