-- 001_core: node identity, the hybrid logical clock, the replicated tables
-- and the replication bookkeeping tables. See sql/README.md.

CREATE SCHEMA IF NOT EXISTS zonemesh;

-- This site. One row. last_pos and last_seq are advanced only at commit time,
-- under this row's lock, which is what makes them gap-free and commit-ordered.
CREATE TABLE zonemesh.node (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  node_id text CHECK (node_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  last_pos bigint NOT NULL DEFAULT 0,      -- local change-log position
  last_seq bigint NOT NULL DEFAULT 0,      -- this node's own origin seq
  max_clock_skew_ms bigint NOT NULL DEFAULT 60000 CHECK (max_clock_skew_ms > 0),
  clock_offset_ms bigint NOT NULL DEFAULT 0  -- fault injection for tests; 0 in production
);
INSERT INTO zonemesh.node DEFAULT VALUES;

-- Hybrid logical clock: (physical milliseconds << 16) | counter, in a
-- sequence because a sequence is not transactional: taking a stamp must never
-- make two writers wait for each other. The sequence is WAL-logged, so the
-- clock survives restarts (and only ever jumps forward after a crash).
CREATE SEQUENCE zonemesh.hlc_clock MINVALUE 0 START 0;

CREATE FUNCTION zonemesh.physical_hlc() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
  SELECT (((extract(epoch FROM clock_timestamp()) * 1000)::bigint
           + (SELECT clock_offset_ms FROM zonemesh.node)) << 16)
$$;

-- A fresh local stamp: max(physical, last + 1).
CREATE FUNCTION zonemesh.hlc_now() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v bigint := nextval('zonemesh.hlc_clock');
  p bigint := zonemesh.physical_hlc();
BEGIN
  IF p > v THEN
    PERFORM setval('zonemesh.hlc_clock', p);
    RETURN p;
  END IF;
  RETURN v;
END $$;

-- Receiving a stamp moves the clock past it, so anything written here later
-- is stamped after it.
CREATE FUNCTION zonemesh.hlc_observe(stamp bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF stamp >= (SELECT last_value FROM zonemesh.hlc_clock) THEN
    PERFORM setval('zonemesh.hlc_clock', stamp);
  END IF;
END $$;

-- Human-readable form of a stamp, for psql users.
CREATE FUNCTION zonemesh.hlc_time(stamp bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT to_timestamp((stamp >> 16) / 1000.0) $$;

-- The total order of versions: (hlc, origin), origin compared bytewise so
-- every node, whatever its collation, agrees.
CREATE FUNCTION zonemesh.newer(h1 bigint, o1 text, h2 bigint, o2 text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT h2 IS NULL OR h1 > h2 OR (h1 = h2 AND o1 COLLATE "C" > o2 COLLATE "C")
$$;

----------------------------------------------------------------------------
-- Replicated tables: the user interface. Operators edit these with psql.
-- hlc and origin are set by the triggers; never set them yourself.
----------------------------------------------------------------------------

CREATE TABLE public.zones (
  name text PRIMARY KEY,
  kind text NOT NULL DEFAULT 'native',
  created timestamptz NOT NULL DEFAULT now(),
  modified timestamptz NOT NULL DEFAULT now(),
  hlc bigint NOT NULL DEFAULT 0,
  origin text NOT NULL DEFAULT ''
);
COMMENT ON TABLE public.zones IS 'Zones served by every site. Key: canonical name (lowercase, no trailing dot).';

CREATE TABLE public.records (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  zone text NOT NULL,
  name text NOT NULL,
  type text NOT NULL,
  ttl integer NOT NULL DEFAULT 3600,
  content text NOT NULL,
  disabled boolean NOT NULL DEFAULT false,
  modified timestamptz NOT NULL DEFAULT now(),
  hlc bigint NOT NULL DEFAULT 0,
  origin text NOT NULL DEFAULT ''
);
CREATE INDEX records_zone_name_type ON public.records (zone, name, type);
COMMENT ON TABLE public.records IS 'Resource records, content in presentation format as PowerDNS stores it.';

CREATE TABLE public.zone_metadata (
  zone text NOT NULL,
  kind text NOT NULL,
  content text NOT NULL,
  modified timestamptz NOT NULL DEFAULT now(),
  hlc bigint NOT NULL DEFAULT 0,
  origin text NOT NULL DEFAULT '',
  PRIMARY KEY (zone, kind, content)
);

CREATE TABLE public.tsig_keys (
  name text PRIMARY KEY,
  algorithm text NOT NULL DEFAULT 'hmac-sha256',
  secret text NOT NULL,
  modified timestamptz NOT NULL DEFAULT now(),
  hlc bigint NOT NULL DEFAULT 0,
  origin text NOT NULL DEFAULT ''
);

CREATE TABLE public.dnssec_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  zone text NOT NULL,
  flags integer NOT NULL,
  algorithm integer NOT NULL,
  private_key text NOT NULL,
  active boolean NOT NULL DEFAULT true,
  published boolean NOT NULL DEFAULT true,
  created timestamptz NOT NULL DEFAULT now(),
  modified timestamptz NOT NULL DEFAULT now(),
  hlc bigint NOT NULL DEFAULT 0,
  origin text NOT NULL DEFAULT ''
);
CREATE INDEX dnssec_keys_zone ON public.dnssec_keys (zone);

-- Which tables replicate, their keys, and the column naming the zone a row
-- belongs to (a zone's deletion removes older rows of these tables).
CREATE TABLE zonemesh.replicated_tables (
  tbl text PRIMARY KEY,
  key_cols text[] NOT NULL,
  zone_col text,
  cols text[] NOT NULL DEFAULT '{}'   -- refreshed by zonemesh.refresh_replicated_tables()
);
INSERT INTO zonemesh.replicated_tables (tbl, key_cols, zone_col) VALUES
  ('zones', '{name}', 'name'),
  ('records', '{id}', 'zone'),
  ('zone_metadata', '{zone,kind,content}', 'zone'),
  ('tsig_keys', '{name}', NULL),
  ('dnssec_keys', '{id}', 'zone');

CREATE FUNCTION zonemesh.refresh_replicated_tables() RETURNS void
LANGUAGE sql AS $$
  UPDATE zonemesh.replicated_tables t
     SET cols = (SELECT array_agg(a.attname::text ORDER BY a.attnum)
                   FROM pg_attribute a
                  WHERE a.attrelid = ('public.' || quote_ident(t.tbl))::regclass
                    AND a.attnum > 0 AND NOT a.attisdropped)
$$;
SELECT zonemesh.refresh_replicated_tables();

----------------------------------------------------------------------------
-- Replication bookkeeping (local to this site, never replicated).
----------------------------------------------------------------------------

-- Deletes leave a tombstone: the newest delete stamp ever seen for the key,
-- kept even if the key is written again later, so that every site holds the
-- same tombstones whatever order changes arrived in.
CREATE TABLE zonemesh.tombstones (
  tbl text NOT NULL,
  key jsonb NOT NULL,
  hlc bigint NOT NULL,
  origin text NOT NULL,
  zone text,
  deleted_at timestamptz NOT NULL DEFAULT now(),  -- local arrival time, for the retention cap
  PRIMARY KEY (tbl, key)
);
CREATE INDEX tombstones_zone ON zonemesh.tombstones (zone) WHERE zone IS NOT NULL;

-- One row per committed transaction that touched replicated tables, local or
-- applied from a peer. pos is gap-free and in commit order; (origin,
-- origin_seq) names the source transaction everywhere.
CREATE TABLE zonemesh.changelog (
  pos bigint PRIMARY KEY,
  origin text NOT NULL,
  origin_seq bigint NOT NULL,
  entry bigint NOT NULL UNIQUE,
  committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (origin, origin_seq)
);

-- The row changes of each changelog entry, in the order they were made.
CREATE SEQUENCE zonemesh.change_n;
CREATE SEQUENCE zonemesh.entry_id;
CREATE TABLE zonemesh.changes (
  entry bigint NOT NULL,
  n bigint NOT NULL DEFAULT nextval('zonemesh.change_n'),
  tbl text NOT NULL,
  op "char" NOT NULL CHECK (op IN ('U', 'D')),
  key jsonb NOT NULL,
  data jsonb,               -- the full row for U
  old jsonb,                -- the row this change replaced or deleted, as it was here (IXFR, DNS server)
  hlc bigint NOT NULL,
  zone text,
  applied boolean NOT NULL DEFAULT true,  -- false: lost to a newer version here; kept for forwarding
  PRIMARY KEY (entry, n)
);

-- Entries of transactions still in progress; the deferred trigger on this
-- table numbers them at commit. Always empty outside a transaction.
CREATE TABLE zonemesh.pending_entries (
  entry bigint PRIMARY KEY,
  origin text,           -- NULL for a local transaction
  origin_seq bigint
);

-- Version vector: per origin, the highest seq applied here with nothing
-- missing below it; and what was applied above that mark, out of order.
CREATE TABLE zonemesh.vector (
  origin text PRIMARY KEY,
  seq bigint NOT NULL
);
CREATE TABLE zonemesh.received (
  origin text NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (origin, seq)
);

-- Per zone: how many changes it has had and the newest stamp among them.
-- The same at every converged site; the SOA serial is derived from it.
CREATE TABLE zonemesh.zone_state (
  zone text PRIMARY KEY,
  changes bigint NOT NULL DEFAULT 0,
  max_hlc bigint NOT NULL DEFAULT 0
);

-- Peers and what each has acknowledged (its version vector as last reported).
CREATE TABLE zonemesh.peers (
  node text PRIMARY KEY CHECK (node ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  address text,
  port integer,
  added timestamptz NOT NULL DEFAULT now(),
  last_contact timestamptz
);
CREATE TABLE zonemesh.peer_vector (
  peer text NOT NULL REFERENCES zonemesh.peers (node) ON DELETE CASCADE,
  origin text NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (peer, origin)
);

-- Conflicts settled by the rules (informational) and source transactions
-- that could not be applied (kept for retry, never dropped).
CREATE TABLE zonemesh.conflicts (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  kind text NOT NULL,
  tbl text,
  key jsonb,
  zone text,
  kept_hlc bigint,
  kept_origin text,
  lost_hlc bigint,
  lost_origin text,
  detail text
);
CREATE TABLE zonemesh.apply_errors (
  origin text NOT NULL,
  origin_seq bigint NOT NULL,
  tx jsonb NOT NULL,
  error text NOT NULL,
  attempts integer NOT NULL DEFAULT 1,
  first_failed timestamptz NOT NULL DEFAULT now(),
  last_failed timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (origin, origin_seq)
);

CREATE FUNCTION zonemesh.node_id() RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE id text;
BEGIN
  SELECT node_id INTO id FROM zonemesh.node;
  IF id IS NULL THEN
    RAISE EXCEPTION 'zonemesh: this database has no node id yet'
      USING HINT = 'run: zonemesh-admin migrate --db ... --node SITE';
  END IF;
  RETURN id;
END $$;
