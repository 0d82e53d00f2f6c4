-- 015_rrset_wins: latest change wins per RRset, and identical records are
-- one row. See sql/README.md, "The conflict rules".
--
-- Until 014 every decision was per row: two sites that replaced the same
-- RRset while cut off from each other both kept their new rows, and every
-- site then served the union. Now:
--   - a record's id is derived from what it is when it is added (zone,
--     owner, type, content; for SOA, CNAME and DNAME, which hold one record
--     per name, zone, owner and type), so the same record added at two sites
--     is one row;
--   - replacing an RRset is one decision: it stamps the RRset (zone, owner,
--     type) with (hlc, origin), kept as a tombstone of the pseudo-table
--     'rrsets'; at every site, in any arrival order, rows of the RRset whose
--     stamp is older are gone, including rows that arrive later (as a zone's
--     deletion covers its older rows). The rows the replace writes carry its
--     stamp exactly, so a newer replace wins whole and an older one loses
--     whole. It travels as one change:
--       {"tbl": "rrsets", "op": "D", "key": {"name": N, "type": T, "zone": Z},
--        "hlc": R, "zone": Z, "data": {"saw": [[hlc, origin], ...]}}
--     where saw lists the rows the replace removed at its origin (a site
--     that removes any other row for it logs a conflict);
--   - adds merge, as before: a new row of an RRset replaces nothing.
--   - the TTL belongs to the RRset: a local write that sets a row's TTL sets
--     it on every row of the RRset.

----------------------------------------------------------------------------
-- Record ids.
----------------------------------------------------------------------------

-- The id of a record: the same record written at two sites is one row,
-- settled by last-writer-wins. SOA, CNAME and DNAME are one record per name,
-- so their id leaves the content out (a second one is an update).
CREATE FUNCTION zonemesh.record_id(zone text, name text, type text, content text) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN type = 'SOA' THEN zonemesh.soa_id(zone)
              WHEN type IN ('CNAME', 'DNAME') THEN md5('zonemesh-rr:' || zone || ' ' || name || ' ' || type)::uuid
              ELSE md5('zonemesh-rr:' || zone || ' ' || name || ' ' || type || ' ' || content)::uuid END
$$;

-- Ids that records had before this migration, and the ids they have now: a
-- change still on its way from before the upgrade is applied to the row's
-- new id.
CREATE TABLE zonemesh.record_id_map (
  old_id text PRIMARY KEY,
  new_id uuid NOT NULL
);

----------------------------------------------------------------------------
-- RRsets replaced in the running local transaction. Unlogged and empty
-- outside a transaction (check_entry clears the committing entry's rows):
--   kind 'E': the transaction deleted the RRset's last row; an insert into
--             it then makes the transaction a replace (plain SQL's
--             DELETE ... ; INSERT ...);
--   kind 'R': the transaction replaced the RRset at stamp hlc; its inserts
--             into the RRset carry that stamp.
----------------------------------------------------------------------------
CREATE UNLOGGED TABLE zonemesh.open_rrsets (
  entry bigint NOT NULL,
  zone text NOT NULL,
  name text NOT NULL,
  type text NOT NULL,
  kind "char" NOT NULL CHECK (kind IN ('E', 'R')),
  hlc bigint,
  PRIMARY KEY (entry, zone, name, type)
);

CREATE FUNCTION zonemesh.rrset_key(zone text, name text, type text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT jsonb_build_object('name', name, 'type', type, 'zone', zone) $$;

-- Stamps a replace of RRset (z, n, t) in the running local transaction: a
-- stamp newer than every row of the RRset here, kept as the RRset's
-- tombstone and logged as one change; rows written into the RRset later in
-- the transaction carry it. Returns the stamp. The caller removes the rows.
CREATE FUNCTION zonemesh.stamp_rrset_replace(z text, n text, t text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  k jsonb := zonemesh.rrset_key(z, n, t);
  me text := zonemesh.node_id();
  e bigint := zonemesh.local_entry();
  stamp bigint;
BEGIN
  stamp := greatest(zonemesh.hlc_now(),
                    coalesce(zonemesh.tombstone_hlc('rrsets', k) + 1, 0),
                    coalesce(zonemesh.tombstone_hlc('zones', jsonb_build_object('name', z)) + 1, 0),
                    coalesce((SELECT max(r.hlc) + 1 FROM public.records r
                               WHERE r.zone = z AND r.name = n AND r.type = t), 0));
  PERFORM zonemesh.hlc_observe(stamp);
  INSERT INTO zonemesh.tombstones AS tb (tbl, key, hlc, origin, zone)
  VALUES ('rrsets', k, stamp, me, z)
  ON CONFLICT (tbl, key) DO UPDATE
    SET hlc = EXCLUDED.hlc, origin = EXCLUDED.origin, deleted_at = now()
    WHERE zonemesh.newer(EXCLUDED.hlc, EXCLUDED.origin, tb.hlc, tb.origin);
  -- data.saw: the stamps of the rows this replace removes, here or earlier
  -- in the transaction; a site that removes any other row for it logs a
  -- conflict (a write the replace was made without). old names the RRset,
  -- so this site's DNS server re-reads it.
  INSERT INTO zonemesh.changes (entry, tbl, op, key, data, old, hlc, zone)
  VALUES (e, 'rrsets', 'D', k,
          jsonb_build_object('saw', coalesce((
            SELECT jsonb_agg(jsonb_build_array(x.hlc, x.origin) ORDER BY x.hlc, x.origin)
              FROM (SELECT r.hlc, r.origin FROM public.records r
                     WHERE r.zone = z AND r.name = n AND r.type = t
                    UNION
                    SELECT (c.old ->> 'hlc')::bigint, c.old ->> 'origin' FROM zonemesh.changes c
                     WHERE c.entry = e AND c.tbl = 'records' AND c.op = 'D' AND c.zone = z
                       AND c.old ->> 'name' = stamp_rrset_replace.n AND c.old ->> 'type' = t) x), '[]'::jsonb)),
          jsonb_build_object('name', n, 'type', t), stamp, z);
  INSERT INTO zonemesh.open_rrsets AS o (entry, zone, name, type, kind, hlc)
  VALUES (e, z, n, t, 'R', stamp)
  ON CONFLICT (entry, zone, name, type) DO UPDATE SET kind = 'R', hlc = EXCLUDED.hlc;
  RETURN stamp;
END $$;

-- Replaces the RRset (zone, owner, type) in the running local transaction:
-- its rows here go, and rows inserted into it later in the transaction are
-- the replace's (they carry its stamp). Returns the stamp. Called by
-- set_rrset, delete_rrset, the API, the zone import, the secondary and DNS
-- UPDATE; plain SQL gets it by deleting every row of an RRset and then
-- inserting into it.
CREATE FUNCTION zonemesh.replace_rrset(zone_name text, owner text, rtype text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  z text := zonemesh.canonical_name(zone_name, 'zone name');
  n text := zonemesh.canonical_name(owner, 'record name', true);
  t text := upper(btrim(rtype));
  stamp bigint;
BEGIN
  PERFORM zonemesh.lock_local_writes();
  IF n <> z AND right(n, length(z) + 1) <> '.' || z THEN
    RAISE EXCEPTION 'RRset % %: name is not inside zone %', n, t, z USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT zonemesh.known_type(t) THEN
    RAISE EXCEPTION 'RRset % %: unknown record type "%"', n, t, t USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM zonemesh.require_zone(z, format('RRset %s %s', n, t));
  stamp := zonemesh.stamp_rrset_replace(z, n, t);
  PERFORM set_config('zonemesh.purging', 'on', true);
  DELETE FROM public.records r WHERE r.zone = z AND r.name = n AND r.type = t;
  PERFORM set_config('zonemesh.purging', 'off', true);
  RETURN stamp;
END $$;

-- The stamp a local insert into RRset (z, n, t) takes from a replace of the
-- running transaction, or NULL. An insert into an RRset the transaction
-- emptied, or into the apex of a zone it created, starts the replace.
CREATE FUNCTION zonemesh.replace_stamp_for_insert(z text, n text, t text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  e bigint := nullif(current_setting('zonemesh.entry', true), '')::bigint;
  o record;
BEGIN
  IF e IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT kind, hlc INTO o FROM zonemesh.open_rrsets r
   WHERE r.entry = e AND r.zone = z AND r.name = n AND r.type = t;
  IF FOUND AND o.kind = 'R' THEN
    RETURN o.hlc;
  END IF;
  IF FOUND OR (n = z AND position('|' || z || '|' IN coalesce(current_setting('zonemesh.new_zones', true), '')) > 0) THEN
    RETURN zonemesh.replace_rrset(z, n, t);
  END IF;
  RETURN NULL;
END $$;

----------------------------------------------------------------------------
-- Convenience functions: the recommended way to replace or delete an RRset.
----------------------------------------------------------------------------

-- set_rrset('example.com', 'www.example.com', 'A', ARRAY['192.0.2.1'], 300)
-- replaces the whole RRset, as one decision that wins or loses whole.
CREATE OR REPLACE FUNCTION public.set_rrset(zone_name text, owner text, rtype text, contents text[],
                                            ttl integer DEFAULT 3600) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  z text := zonemesh.canonical_name(zone_name, 'zone name');
  n text := zonemesh.canonical_name(owner, 'record name', true);
  t text := upper(btrim(rtype));
  c text;
BEGIN
  -- The same RRset again changes nothing (tools re-send what they want).
  IF EXISTS (SELECT 1 FROM public.records r WHERE r.zone = z AND r.name = n AND r.type = t)
     AND NOT EXISTS (SELECT 1 FROM public.records r WHERE r.zone = z AND r.name = n AND r.type = t
                        AND (r.ttl <> set_rrset.ttl OR r.disabled))
     AND (SELECT array_agg(r.content ORDER BY r.content) FROM public.records r
           WHERE r.zone = z AND r.name = n AND r.type = t)
         = (SELECT array_agg(w.x ORDER BY w.x) FROM (SELECT zonemesh.check_content(t, u.v, n) AS x
                                                  FROM unnest(contents) u(v)) w) THEN
    RETURN cardinality(contents);
  END IF;
  PERFORM zonemesh.replace_rrset(z, n, t);
  FOREACH c IN ARRAY coalesce(contents, '{}') LOOP
    INSERT INTO public.records (zone, name, type, ttl, content) VALUES (z, n, t, set_rrset.ttl, c);
  END LOOP;
  RETURN coalesce(cardinality(contents), 0);
END $$;

-- delete_rrset('example.com', 'www.example.com', 'A') deletes the RRset: a
-- replace with nothing, so it also covers older adds made elsewhere.
-- Returns how many rows it removed here.
CREATE FUNCTION public.delete_rrset(zone_name text, owner text, rtype text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  z text := zonemesh.canonical_name(zone_name, 'zone name');
  n text := zonemesh.canonical_name(owner, 'record name', true);
  t text := upper(btrim(rtype));
  had integer;
BEGIN
  SELECT count(*) INTO had FROM public.records r WHERE r.zone = z AND r.name = n AND r.type = t;
  PERFORM zonemesh.replace_rrset(z, n, t);
  RETURN had;
END $$;

----------------------------------------------------------------------------
-- Local writes: validation, stamping and capture (replacing 003's).
----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION zonemesh.validate_records() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  what text;
  other record;
BEGIN
  IF zonemesh.internal_write() THEN RETURN NEW; END IF;
  NEW.zone := zonemesh.canonical_name(NEW.zone, 'record zone');
  NEW.name := zonemesh.canonical_name(NEW.name, 'record name', true);
  NEW.type := upper(btrim(NEW.type));
  what := format('record %s %s', NEW.name, NEW.type);
  IF TG_OP = 'UPDATE' AND NEW.zone <> OLD.zone THEN
    RAISE EXCEPTION '%: a record cannot move to another zone (% to %); delete it and insert a new one',
      what, OLD.zone, NEW.zone USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NEW.name <> NEW.zone AND right(NEW.name, length(NEW.zone) + 1) <> '.' || NEW.zone THEN
    RAISE EXCEPTION '%: name is not inside zone %', what, NEW.zone
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NEW.type IN ('RRSIG', 'NSEC', 'NSEC3', 'NSEC3PARAM') THEN
    RAISE EXCEPTION '%: % records are made by the DNSSEC signer and are not stored', what, NEW.type
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT zonemesh.known_type(NEW.type) THEN
    RAISE EXCEPTION '%: unknown record type "%"', what, NEW.type
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NEW.ttl IS NULL OR NEW.ttl < 0 THEN
    RAISE EXCEPTION '%: TTL % is out of range 0..2147483647', what, coalesce(NEW.ttl::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  NEW.content := zonemesh.check_content(NEW.type, NEW.content, NEW.name);
  PERFORM zonemesh.require_zone(NEW.zone, what);

  IF NEW.type = 'SOA' AND NEW.name <> NEW.zone THEN
    RAISE EXCEPTION '%: a SOA record belongs at the zone apex %', what, NEW.zone
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF TG_OP = 'UPDATE' AND (OLD.type = 'SOA') <> (NEW.type = 'SOA') THEN
    RAISE EXCEPTION 'record %: a record cannot become a SOA record or stop being one; insert or delete the SOA instead',
      OLD.name USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- An added record's id follows from the record, whatever was given; an
  -- update keeps the row's id (a new content is the same record changed,
  -- settled per row against other changes of it).
  IF TG_OP = 'INSERT' THEN
    NEW.id := zonemesh.record_id(NEW.zone, NEW.name, NEW.type, NEW.content);
    SELECT r.content, r.name, r.type INTO other FROM public.records r WHERE r.id = NEW.id;
    IF FOUND THEN
      IF NEW.type = 'SOA' THEN
        RAISE EXCEPTION 'zone % already has a SOA record ("%"); update it instead of inserting another',
          NEW.zone, other.content USING ERRCODE = 'unique_violation';
      ELSIF NEW.type IN ('CNAME', 'DNAME') THEN
        RAISE EXCEPTION '%: % already has a % record ("%"); update it, or replace the RRset with set_rrset()',
          what, NEW.name, NEW.type, other.content USING ERRCODE = 'unique_violation';
      ELSIF (other.name, other.type, other.content) = (NEW.name, NEW.type, NEW.content) THEN
        RAISE EXCEPTION '%: the record "%" exists already', what, NEW.content
          USING ERRCODE = 'unique_violation';
      END IF;
      -- The id is taken by a row whose content was changed since it was
      -- added: this one gets an id of its own.
      NEW.id := gen_random_uuid();
    END IF;
  ELSIF NEW.id <> OLD.id THEN
    RAISE EXCEPTION '%: a record id cannot change', what USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- Checks across rows at one owner name. Two sessions can pass them at
  -- once; check_entry repeats them at COMMIT, where committers are
  -- serialized, so a race is caught there.
  IF NOT NEW.disabled THEN
    SELECT r.type, r.content INTO other FROM public.records r
     WHERE r.zone = NEW.zone AND r.name = NEW.name AND r.id <> NEW.id AND NOT r.disabled
       AND (NEW.type = 'CNAME' OR r.type = 'CNAME')
     LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION '%: a CNAME cannot coexist with other data at the same name (there is % "%")',
        what, other.type, other.content USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.name <> NEW.zone AND NEW.type IN ('DNAME', 'NS') THEN
      SELECT r.type, r.content INTO other FROM public.records r
       WHERE r.zone = NEW.zone AND r.name = NEW.name AND NOT r.disabled
         AND r.type = CASE NEW.type WHEN 'DNAME' THEN 'NS' ELSE 'DNAME' END
       LIMIT 1;
      IF FOUND THEN
        RAISE EXCEPTION '%: a DNAME cannot be beside NS at %, below the apex (there is % "%")',
          what, NEW.name, other.type, other.content USING ERRCODE = 'invalid_parameter_value';
      END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.name, NEW.type, NEW.content) IS DISTINCT FROM (OLD.name, OLD.type, OLD.content) THEN
      PERFORM 1 FROM public.records r
       WHERE r.zone = NEW.zone AND r.name = NEW.name AND r.type = NEW.type
         AND r.content = NEW.content AND r.id <> NEW.id AND NOT r.disabled;
      IF FOUND THEN
        RAISE EXCEPTION '%: the record "%" exists already', what, NEW.content
          USING ERRCODE = 'unique_violation';
      END IF;
    END IF;
  END IF;
  RETURN NEW;
END $$;

-- BEFORE INSERT/UPDATE: a local write gets a stamp newer than everything it
-- replaces: the row's version, the key's tombstone, its zone's deletion and
-- its RRset's replace. A row written by a replace of this transaction takes
-- the replace's stamp.
CREATE OR REPLACE FUNCTION zonemesh.stamp_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r jsonb;
  k jsonb;
  stamp bigint;
  floor bigint := 0;
  replaced bigint;
  z text;
BEGIN
  IF zonemesh.internal_write() THEN RETURN NEW; END IF;
  r := to_jsonb(NEW);
  k := zonemesh.row_key(TG_TABLE_NAME, r);
  IF TG_OP = 'UPDATE' THEN
    IF TG_TABLE_NAME <> 'records' AND k <> zonemesh.row_key(TG_TABLE_NAME, to_jsonb(OLD)) THEN
      RAISE EXCEPTION '%: the key of a row cannot change; delete it and insert a new one', TG_TABLE_NAME
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    floor := OLD.hlc + 1;
  END IF;
  floor := greatest(floor, coalesce(zonemesh.tombstone_hlc(TG_TABLE_NAME, k) + 1, 0));
  z := zonemesh.row_zone(TG_TABLE_NAME, r);
  IF z IS NOT NULL AND TG_TABLE_NAME <> 'zones' THEN
    floor := greatest(floor, coalesce(zonemesh.tombstone_hlc('zones', jsonb_build_object('name', z)) + 1, 0));
  END IF;
  IF TG_TABLE_NAME = 'records' THEN
    IF TG_OP = 'INSERT' OR (r ->> 'name', r ->> 'type') IS DISTINCT FROM (OLD.name, OLD.type) THEN
      replaced := zonemesh.replace_stamp_for_insert(z, r ->> 'name', r ->> 'type');
    END IF;
    IF replaced IS NULL THEN
      floor := greatest(floor, coalesce(zonemesh.tombstone_hlc('rrsets', zonemesh.rrset_key(z, r ->> 'name', r ->> 'type')) + 1, 0));
    END IF;
  END IF;
  IF replaced IS NOT NULL AND replaced >= floor THEN
    stamp := replaced;
  ELSE
    stamp := greatest(zonemesh.hlc_now(), floor);
    PERFORM zonemesh.hlc_observe(stamp);
  END IF;
  NEW.hlc := stamp;
  NEW.origin := zonemesh.node_id();
  NEW.modified := now();
  RETURN NEW;
END $$;

-- A local delete (or move) that left RRset (z, n, t) without rows: an
-- insert into it later in the transaction makes the transaction a replace.
CREATE FUNCTION zonemesh.note_emptied_rrset(z text, n text, t text) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO zonemesh.open_rrsets (entry, zone, name, type, kind)
  SELECT zonemesh.local_entry(), z, n, t, 'E'
   WHERE NOT EXISTS (SELECT 1 FROM public.records x WHERE x.zone = z AND x.name = n AND x.type = t)
  ON CONFLICT (entry, zone, name, type) DO NOTHING
$$;

-- The TTL belongs to the RRset: a local write of a row's TTL sets it on
-- every row of the RRset (each of those updates is stamped and replicated).
CREATE FUNCTION zonemesh.spread_ttl(r jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  -- Probe first: an UPDATE that finds nothing still runs its statement
  -- triggers, on every row a large import writes.
  IF EXISTS (SELECT 1 FROM public.records x
              WHERE x.zone = r ->> 'zone' AND x.name = r ->> 'name' AND x.type = r ->> 'type'
                AND x.ttl <> (r ->> 'ttl')::integer) THEN
    UPDATE public.records x SET ttl = (r ->> 'ttl')::integer
     WHERE x.zone = r ->> 'zone' AND x.name = r ->> 'name' AND x.type = r ->> 'type'
       AND x.ttl <> (r ->> 'ttl')::integer;
  END IF;
END $$;

-- AFTER INSERT/UPDATE/DELETE: log the change; a delete leaves a tombstone,
-- and a zone's deletion takes the zone's rows with it. For records: a delete
-- (or an update to another name or type) that empties an RRset is noted (an
-- insert into it later in the transaction is a replace); a TTL written to a
-- row is the RRset's.
CREATE OR REPLACE FUNCTION zonemesh.capture_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r jsonb;
  k jsonb;
  z text;
  stamp bigint;
  me text;
BEGIN
  IF zonemesh.internal_write() THEN RETURN NULL; END IF;
  me := zonemesh.node_id();
  IF TG_OP = 'DELETE' THEN
    r := to_jsonb(OLD);
    k := zonemesh.row_key(TG_TABLE_NAME, r);
    z := zonemesh.row_zone(TG_TABLE_NAME, r);
    stamp := greatest(zonemesh.hlc_now(), OLD.hlc + 1,
                      coalesce(zonemesh.tombstone_hlc(TG_TABLE_NAME, k) + 1, 0));
    PERFORM zonemesh.hlc_observe(stamp);
    INSERT INTO zonemesh.tombstones AS t (tbl, key, hlc, origin, zone)
    VALUES (TG_TABLE_NAME, k, stamp, me, z)
    ON CONFLICT (tbl, key) DO UPDATE
      SET hlc = EXCLUDED.hlc, origin = EXCLUDED.origin, deleted_at = now()
      WHERE zonemesh.newer(EXCLUDED.hlc, EXCLUDED.origin, t.hlc, t.origin);
    INSERT INTO zonemesh.changes (entry, tbl, op, key, data, old, hlc, zone)
    VALUES (zonemesh.local_entry(), TG_TABLE_NAME, 'D', k, NULL, r, stamp, z);
    IF TG_TABLE_NAME = 'zones' THEN
      PERFORM zonemesh.purge_zone(OLD.name, stamp, me);
    ELSIF TG_TABLE_NAME = 'records' THEN
      PERFORM zonemesh.note_emptied_rrset(r ->> 'zone', r ->> 'name', r ->> 'type');
    END IF;
    RETURN NULL;
  END IF;

  r := to_jsonb(NEW);
  INSERT INTO zonemesh.changes (entry, tbl, op, key, data, old, hlc, zone)
  VALUES (zonemesh.local_entry(), TG_TABLE_NAME, 'U', zonemesh.row_key(TG_TABLE_NAME, r), r,
          CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END, NEW.hlc, zonemesh.row_zone(TG_TABLE_NAME, r));
  IF TG_TABLE_NAME = 'zones' AND TG_OP = 'INSERT' THEN
    -- Apex RRsets written with the zone's creation are replaces: a zone
    -- created at two sites keeps the newer creation's NS RRset.
    PERFORM set_config('zonemesh.new_zones',
                       coalesce(current_setting('zonemesh.new_zones', true), '') || '|' || (r ->> 'name') || '|', true);
  ELSIF TG_TABLE_NAME = 'records' THEN
    IF TG_OP = 'UPDATE' THEN
      IF (r ->> 'name', r ->> 'type') <> (OLD.name, OLD.type) THEN
        PERFORM zonemesh.note_emptied_rrset(OLD.zone, OLD.name, OLD.type);
      END IF;
    END IF;
    PERFORM zonemesh.spread_ttl(r);
  END IF;
  RETURN NULL;
END $$;

-- At COMMIT (003, 014): the zone's SOA, the CNAME rule, DNAME beside NS, no
-- two identical enabled records, and the apex NS RRset, which can be
-- replaced but not deleted.
CREATE OR REPLACE FUNCTION zonemesh.check_entry(e bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  z text;
  n integer;
  bad record;
BEGIN
  DELETE FROM zonemesh.open_rrsets WHERE entry = e;
  FOR z IN SELECT DISTINCT c.zone FROM zonemesh.changes c
            WHERE c.entry = e AND c.zone IS NOT NULL AND c.tbl IN ('zones', 'records', 'rrsets') LOOP
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM public.zones WHERE name = z);
    SELECT count(*) INTO n FROM public.records
     WHERE zone = z AND name = z AND type = 'SOA' AND NOT disabled;
    IF n = 0 THEN
      RAISE EXCEPTION 'zone % has no SOA record', z
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'insert the zone and its SOA record in one transaction, or use create_zone(); see sql/README.md';
    END IF;
  END LOOP;

  -- The apex NS RRset: a transaction that removed apex NS rows of a zone
  -- that still exists must leave at least one.
  FOR z IN SELECT DISTINCT c.zone FROM zonemesh.changes c
            WHERE c.entry = e AND c.zone IS NOT NULL
              AND ((c.tbl = 'records' AND c.old ->> 'type' = 'NS' AND c.old ->> 'name' = c.zone)
                   OR (c.tbl = 'rrsets' AND c.key ->> 'type' = 'NS' AND c.key ->> 'name' = c.zone)) LOOP
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM public.zones WHERE name = z);
    IF NOT EXISTS (SELECT 1 FROM public.records
                    WHERE zone = z AND name = z AND type = 'NS' AND NOT disabled) THEN
      RAISE EXCEPTION 'zone %: the apex NS RRset cannot be deleted; a zone needs at least one name server', z
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'replace it with set_rrset(), or delete the whole zone';
    END IF;
  END LOOP;

  SELECT r.name, r.type, r.content, o.type AS other_type, o.content AS other_content INTO bad
    FROM zonemesh.changes c
    JOIN public.records r ON r.id = (c.key ->> 'id')::uuid AND NOT r.disabled
    JOIN public.records o ON o.zone = r.zone AND o.name = r.name AND o.id <> r.id AND NOT o.disabled
                         AND ((r.type = 'CNAME' OR o.type = 'CNAME')
                              OR (r.name <> r.zone AND ((r.type = 'DNAME' AND o.type = 'NS')
                                                        OR (r.type = 'NS' AND o.type = 'DNAME'))))
   WHERE c.entry = e AND c.tbl = 'records' AND c.op = 'U'
   LIMIT 1;
  IF FOUND THEN
    IF bad.type = 'CNAME' OR bad.other_type = 'CNAME' THEN
      RAISE EXCEPTION 'record % %: a CNAME cannot coexist with other data at the same name (there is % "%")',
        bad.name, bad.type, bad.other_type, bad.other_content USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RAISE EXCEPTION 'record % %: a DNAME cannot be beside NS at %, below the apex (there is % "%")',
      bad.name, bad.type, bad.name, bad.other_type, bad.other_content USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  SELECT r.name, r.type, r.content INTO bad
    FROM zonemesh.changes c
    JOIN public.records r ON r.id = (c.key ->> 'id')::uuid AND NOT r.disabled
   WHERE c.entry = e AND c.tbl = 'records' AND c.op = 'U'
     AND (c.old IS NULL OR (c.old ->> 'name', c.old ->> 'type', c.old ->> 'content', (c.old ->> 'disabled')::boolean)
                           IS DISTINCT FROM (r.name, r.type, r.content, false))
     AND EXISTS (SELECT 1 FROM public.records o
                  WHERE o.zone = r.zone AND o.name = r.name AND o.type = r.type AND o.content = r.content
                    AND o.id <> r.id AND NOT o.disabled)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'record % %: the record "%" exists already', bad.name, bad.type, bad.content
      USING ERRCODE = 'unique_violation';
  END IF;
END $$;

----------------------------------------------------------------------------
-- Applying peers' changes (replacing 004's apply_change).
----------------------------------------------------------------------------

-- Applies a peer's replace of an RRset: the newest replace stamp is kept,
-- and rows of the RRset older than it go. ok: it is the newest here.
CREATE FUNCTION zonemesh.apply_rrset_replace(ch jsonb, ch_origin text, OUT ok boolean, OUT old jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  k jsonb := ch -> 'key';
  h bigint := (ch ->> 'hlc')::bigint;
  z text := k ->> 'zone';
  n text := k ->> 'name';
  t text := k ->> 'type';
  tomb record;
BEGIN
  IF ch ->> 'op' IS DISTINCT FROM 'D' OR h IS NULL OR jsonb_typeof(k) IS DISTINCT FROM 'object'
     OR z IS NULL OR n IS NULL OR t IS NULL OR k <> zonemesh.rrset_key(z, n, t)
     OR ch ->> 'zone' IS DISTINCT FROM z THEN
    RAISE EXCEPTION 'malformed RRset replace %', ch;
  END IF;
  old := jsonb_build_object('name', n, 'type', t);
  SELECT tb.hlc, tb.origin INTO tomb FROM zonemesh.tombstones tb WHERE tb.tbl = 'rrsets' AND tb.key = k;
  IF tomb.hlc IS NOT NULL AND NOT zonemesh.newer(h, ch_origin, tomb.hlc, tomb.origin) THEN
    ok := false;
    IF NOT (tomb.hlc = h AND tomb.origin = ch_origin) THEN
      PERFORM zonemesh.log_conflict('rrset_replaced', 'rrsets', k, z, tomb.hlc, tomb.origin, h, ch_origin,
                                    'a newer replace of the RRset was kept');
    END IF;
    RETURN;
  END IF;
  INSERT INTO zonemesh.tombstones AS tb (tbl, key, hlc, origin, zone)
  VALUES ('rrsets', k, h, ch_origin, z)
  ON CONFLICT (tbl, key) DO UPDATE
    SET hlc = EXCLUDED.hlc, origin = EXCLUDED.origin, zone = EXCLUDED.zone, deleted_at = now();
  -- Rows older than the replace go; those it was made without are logged
  -- (a snapshot's tombstone says nothing of what it saw: not logged).
  WITH gone AS (
    DELETE FROM public.records r
     WHERE r.zone = z AND r.name = n AND r.type = t AND zonemesh.newer(h, ch_origin, r.hlc, r.origin)
    RETURNING r.id, r.hlc, r.origin)
  INSERT INTO zonemesh.conflicts (kind, tbl, key, zone, kept_hlc, kept_origin, lost_hlc, lost_origin, detail)
  SELECT 'rrset_replaced', 'records', jsonb_build_object('id', g.id), z, h, ch_origin, g.hlc, g.origin,
         'removed by a replace of the RRset made without it'
    FROM gone g
   WHERE jsonb_typeof(ch -> 'data' -> 'saw') = 'array'
     AND NOT (ch -> 'data' -> 'saw') @> jsonb_build_array(jsonb_build_array(g.hlc, g.origin));
  ok := true;
END $$;

-- Applies one change under the rules (004, plus RRsets): see sql/README.md.
CREATE OR REPLACE FUNCTION zonemesh.apply_change(ch jsonb, ch_origin text, OUT ok boolean, OUT old jsonb)
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
  rtomb record;
BEGIN
  IF ctbl = 'rrsets' THEN
    SELECT r.ok, r.old INTO ok, old FROM zonemesh.apply_rrset_replace(ch, ch_origin) r;
    RETURN;
  END IF;
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
  IF ctbl = 'records' THEN
    -- A change made before 015 with a record's old id is applied to its id
    -- now (rekey_records).
    SELECT jsonb_build_object('id', m.new_id) INTO k
      FROM zonemesh.record_id_map m WHERE m.old_id = ch -> 'key' ->> 'id';
    IF k IS NULL THEN
      k := ch -> 'key';
    ELSIF op = 'U' THEN
      d := d || k;
    END IF;
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
  END IF;
  IF ctbl = 'records' THEN
    SELECT hlc, origin INTO rtomb FROM zonemesh.tombstones tb
     WHERE tb.tbl = 'rrsets' AND tb.key = zonemesh.rrset_key(z, d ->> 'name', d ->> 'type');
    IF rtomb.hlc IS NOT NULL AND zonemesh.newer(rtomb.hlc, rtomb.origin, h, ch_origin) THEN
      PERFORM zonemesh.log_conflict('rrset_replaced', ctbl, k, z, rtomb.hlc, rtomb.origin, h, ch_origin,
                                    'the RRset was replaced after this write');
      RETURN;
    END IF;
  END IF;
  IF zone_col IS NOT NULL AND ctbl <> 'zones' AND NOT EXISTS (SELECT 1 FROM public.zones WHERE name = z) THEN
    PERFORM zonemesh.log_conflict('zone_missing', ctbl, k, z, NULL, NULL, h, ch_origin,
                                  'kept, not served until the zone exists');
  END IF;
  IF ctbl = 'zones' AND cur.hlc IS NOT NULL THEN
    PERFORM 1 FROM public.zones WHERE name = k ->> 'name' AND created IS DISTINCT FROM (d ->> 'created')::timestamptz;
    IF FOUND THEN
      PERFORM zonemesh.log_conflict('zone_created_twice', ctbl, k, z, h, ch_origin, cur.hlc, cur.origin,
                                    'created at two sites; the newer creation''s settings and apex RRsets are kept');
    END IF;
  END IF;
  PERFORM zonemesh.row_op(ctbl, CASE WHEN cur.hlc IS NULL THEN 'insert' ELSE 'update' END, k, d);
  ok := true;
END $$;

-- A run of plain transactions takes the set-based path (006, 012) only if
-- no record in it needs what that path does not do: its id mapped (a change
-- from before 015), or its RRset's newer replace applied. Such a run goes one
-- transaction at a time, with the same results. Transactions that replace an
-- RRset are not plain (bulk_eligible).
CREATE FUNCTION zonemesh.bulk_run_clear(txs jsonb, first_i integer, last_i integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT NOT EXISTS (
    SELECT 1
      FROM jsonb_array_elements(txs) WITH ORDINALITY x(tx, i)
      CROSS JOIN LATERAL jsonb_to_recordset(x.tx -> 'changes')
                           AS c(tbl text, op text, key jsonb, data jsonb, hlc jsonb, zone text)
      LEFT JOIN zonemesh.tombstones tb
        ON c.op = 'U' AND tb.tbl = 'rrsets'
       AND tb.key = zonemesh.rrset_key(c.zone, c.data ->> 'name', c.data ->> 'type')
     WHERE x.i BETWEEN first_i AND last_i AND c.tbl = 'records'
       AND ((tb.hlc IS NOT NULL
             AND zonemesh.newer(tb.hlc, tb.origin, (c.hlc #>> '{}')::bigint, x.tx ->> 'origin'))
            OR EXISTS (SELECT 1 FROM zonemesh.record_id_map m WHERE m.old_id = c.key ->> 'id')))
$$;

CREATE OR REPLACE FUNCTION zonemesh.bulk_eligible(tx jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(jsonb_typeof(tx) = 'object'
                  AND jsonb_typeof(tx -> 'origin') = 'string'
                  AND tx ->> 'origin' ~ '^[a-z0-9][a-z0-9_-]{0,62}$'
                  AND tx ->> 'seq' ~ '^[1-9][0-9]{0,17}$'
                  AND jsonb_typeof(tx -> 'changes') = 'array'
                  AND NOT (tx -> 'changes') @> '[{"tbl": "zones"}]'
                  AND NOT (tx -> 'changes') @> '[{"tbl": "rrsets"}]', false)
$$;

-- 006's apply_batch, with bulk_run_clear before the set-based path.
CREATE OR REPLACE FUNCTION zonemesh.apply_batch(txs jsonb) RETURNS jsonb
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
    IF plain[i] AND (SELECT sum(z) FROM unnest(sizes[i:j]) z)
                    >= coalesce(nullif(current_setting('zonemesh.bulk_min_changes', true), '')::integer, 32) THEN
      BEGIN
        IF zonemesh.bulk_run_clear(txs, i, j) THEN
          part := zonemesh.apply_bulk(txs, i, j);
        END IF;
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
ALTER FUNCTION zonemesh.apply_batch(jsonb) SET work_mem = '64MB';
ALTER FUNCTION zonemesh.apply_batch(jsonb) SET jit = off;

----------------------------------------------------------------------------
-- Upgrade: existing records take their derived ids, once, identically at
-- every site (the same rows give the same result). Identical rows become
-- one: the newest version is kept, the others logged as 'duplicate_merged'.
-- Change-log entries and tombstones still to be sent or matched follow.
----------------------------------------------------------------------------
CREATE FUNCTION zonemesh.rekey_records() RETURNS void
LANGUAGE plpgsql AS $upgrade$
BEGIN
  PERFORM zonemesh.lock_apply();
  PERFORM set_config('zonemesh.applying', 'on', true);
  CREATE TEMP TABLE zm_rekey ON COMMIT DROP AS
    SELECT r.id, zonemesh.record_id(r.zone, r.name, r.type, r.content) AS new_id, r.zone, r.hlc, r.origin
      FROM public.records r;
  CREATE TEMP TABLE zm_keep ON COMMIT DROP AS
    SELECT DISTINCT ON (new_id) id, new_id, hlc, origin
      FROM zm_rekey ORDER BY new_id, hlc DESC, origin COLLATE "C" DESC, id;
  INSERT INTO zonemesh.conflicts (kind, tbl, key, zone, kept_hlc, kept_origin, lost_hlc, lost_origin, detail)
  SELECT 'duplicate_merged', 'records', jsonb_build_object('id', x.new_id), x.zone, k.hlc, k.origin, x.hlc, x.origin,
         'identical records merged into one row when record ids became derived (015)'
    FROM zm_rekey x JOIN zm_keep k ON k.new_id = x.new_id
   WHERE x.id <> k.id;
  DELETE FROM public.records r USING zm_rekey x, zm_keep k
   WHERE r.id = x.id AND k.new_id = x.new_id AND x.id <> k.id;
  INSERT INTO zonemesh.record_id_map (old_id, new_id)
  SELECT id::text, new_id FROM zm_rekey WHERE id <> new_id;
  UPDATE public.records r SET id = k.new_id FROM zm_keep k WHERE r.id = k.id AND k.id <> k.new_id;

  -- A row deleted before the upgrade: its id as its last content gives it.
  INSERT INTO zonemesh.record_id_map (old_id, new_id)
  SELECT DISTINCT ON (c.key ->> 'id') c.key ->> 'id',
         zonemesh.record_id(c.old ->> 'zone', c.old ->> 'name', c.old ->> 'type', c.old ->> 'content')
    FROM zonemesh.changes c
   WHERE c.tbl = 'records' AND c.op = 'D' AND c.old IS NOT NULL
     AND c.key ->> 'id' IS DISTINCT FROM
         zonemesh.record_id(c.old ->> 'zone', c.old ->> 'name', c.old ->> 'type', c.old ->> 'content')::text
  ON CONFLICT (old_id) DO NOTHING;

  -- The change-log, as it will be sent: every change of a record follows
  -- its row's id.
  UPDATE zonemesh.changes c
     SET key = jsonb_build_object('id', m.new_id),
         data = CASE WHEN c.data IS NULL THEN NULL ELSE c.data || jsonb_build_object('id', m.new_id) END
    FROM zonemesh.record_id_map m
   WHERE c.tbl = 'records' AND c.key ->> 'id' = m.old_id;

  -- Tombstones: the newest per new id; a row older than its tombstone goes.
  CREATE TEMP TABLE zm_tombs ON COMMIT DROP AS
    SELECT DISTINCT ON (m.new_id) m.new_id, tb.hlc, tb.origin, tb.zone
      FROM zonemesh.tombstones tb JOIN zonemesh.record_id_map m ON tb.tbl = 'records' AND tb.key ->> 'id' = m.old_id
     ORDER BY m.new_id, tb.hlc DESC, tb.origin COLLATE "C" DESC;
  DELETE FROM zonemesh.tombstones tb USING zonemesh.record_id_map m
   WHERE tb.tbl = 'records' AND tb.key ->> 'id' = m.old_id;
  INSERT INTO zonemesh.tombstones AS tb (tbl, key, hlc, origin, zone)
  SELECT 'records', jsonb_build_object('id', t.new_id), t.hlc, t.origin, t.zone FROM zm_tombs t
  ON CONFLICT (tbl, key) DO UPDATE
    SET hlc = EXCLUDED.hlc, origin = EXCLUDED.origin
    WHERE zonemesh.newer(EXCLUDED.hlc, EXCLUDED.origin, tb.hlc, tb.origin);
  DELETE FROM public.records r USING zonemesh.tombstones tb
   WHERE tb.tbl = 'records' AND tb.key = jsonb_build_object('id', r.id)
     AND NOT zonemesh.newer(r.hlc, r.origin, tb.hlc, tb.origin);
  PERFORM set_config('zonemesh.applying', 'off', true);
  DROP TABLE zm_rekey, zm_keep, zm_tombs;
END $upgrade$;

DO $$ BEGIN PERFORM zonemesh.rekey_records(); END $$;
