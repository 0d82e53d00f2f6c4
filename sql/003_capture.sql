-- 003_capture: the one write path. Every INSERT, UPDATE and DELETE on a
-- replicated table, from any session, is validated, stamped (hlc, origin)
-- and logged; at commit the transaction gets its gap-free change-log
-- position and origin seq, and listeners are woken.
--
-- Session settings used internally (never set them by hand):
--   zonemesh.entry     the change-log entry of the running local transaction
--   zonemesh.applying  'on' while zonemesh.apply_batch writes peers' changes
--   zonemesh.purging   'on' while a zone deletion removes the zone's rows

CREATE FUNCTION zonemesh.internal_write() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('zonemesh.applying', true), '') = 'on'
      OR coalesce(current_setting('zonemesh.purging', true), '') = 'on'
$$;

-- The entry collecting this local transaction's changes, made on first use.
CREATE FUNCTION zonemesh.local_entry() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  e bigint := nullif(current_setting('zonemesh.entry', true), '')::bigint;
BEGIN
  IF e IS NULL THEN
    e := nextval('zonemesh.entry_id');
    INSERT INTO zonemesh.pending_entries (entry) VALUES (e);
    PERFORM set_config('zonemesh.entry', e::text, true);
  END IF;
  RETURN e;
END $$;

-- A row's key and zone, as JSON, for every replicated table: generated from
-- zonemesh.replicated_tables as plain CASE expressions, since the triggers
-- call them several times per row.
DO $gen$
DECLARE
  keys text := '';
  zones text := '';
  t record;
BEGIN
  FOR t IN SELECT * FROM zonemesh.replicated_tables ORDER BY tbl LOOP
    keys := keys || format(' WHEN %L THEN jsonb_build_object(%s)', t.tbl,
                           (SELECT string_agg(format('%L, r -> %L', c, c), ', ') FROM unnest(t.key_cols) c));
    IF t.zone_col IS NOT NULL THEN
      zones := zones || format(' WHEN %L THEN r ->> %L', t.tbl, t.zone_col);
    END IF;
  END LOOP;
  EXECUTE format('CREATE FUNCTION zonemesh.row_key(tbl text, r jsonb) RETURNS jsonb
                  LANGUAGE sql IMMUTABLE AS $f$ SELECT CASE tbl %s END $f$', keys);
  EXECUTE format('CREATE FUNCTION zonemesh.row_zone(tbl text, r jsonb) RETURNS text
                  LANGUAGE sql IMMUTABLE AS $f$ SELECT CASE tbl %s END $f$', zones);
END $gen$;

CREATE FUNCTION zonemesh.tombstone_hlc(tbl text, key jsonb) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT hlc FROM zonemesh.tombstones t WHERE t.tbl = tombstone_hlc.tbl AND t.key = tombstone_hlc.key
$$;

-- Removes the rows of a deleted zone that are older than the deletion.
-- Rows written after it (at a site that had not seen the deletion yet) stay
-- and are served again if the zone is created again.
CREATE FUNCTION zonemesh.purge_zone(z text, stamp bigint, stamp_origin text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  t record;
BEGIN
  PERFORM set_config('zonemesh.purging', 'on', true);
  FOR t IN SELECT tbl, zone_col FROM zonemesh.replicated_tables
            WHERE zone_col IS NOT NULL AND tbl <> 'zones' LOOP
    EXECUTE format('DELETE FROM public.%I WHERE %I = $1 AND NOT zonemesh.newer(hlc, origin, $2, $3)',
                   t.tbl, t.zone_col)
      USING z, stamp, stamp_origin;
  END LOOP;
  PERFORM set_config('zonemesh.purging', 'off', true);
END $$;

----------------------------------------------------------------------------
-- Validation of local writes, one function per table (BEFORE ROW).
----------------------------------------------------------------------------

CREATE FUNCTION zonemesh.require_zone(z text, what text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  -- FOR KEY SHARE, like a foreign key: a concurrent delete of the zone waits
  -- for us, and we for it.
  PERFORM 1 FROM public.zones WHERE name = z FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION '%: zone "%" does not exist', what, z
      USING ERRCODE = 'foreign_key_violation', HINT = 'create the zone first: see sql/README.md';
  END IF;
END $$;

CREATE FUNCTION zonemesh.validate_zones() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF zonemesh.internal_write() THEN RETURN NEW; END IF;
  NEW.name := zonemesh.canonical_name(NEW.name, 'zone name');
  NEW.kind := lower(btrim(NEW.kind));
  IF NEW.kind NOT IN ('native', 'primary', 'secondary') THEN
    RAISE EXCEPTION 'zone %: kind "%" is not one of native, primary, secondary', NEW.name, NEW.kind
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF NEW.name <> OLD.name THEN
      RAISE EXCEPTION 'zone %: a zone cannot be renamed; create the new zone and delete the old one', OLD.name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    NEW.created := OLD.created;
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION zonemesh.validate_records() RETURNS trigger
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
  IF TG_OP = 'UPDATE' AND NEW.id <> OLD.id THEN
    RAISE EXCEPTION '%: a record id cannot change', what USING ERRCODE = 'invalid_parameter_value';
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

  IF NEW.type = 'SOA' THEN
    IF NEW.name <> NEW.zone THEN
      RAISE EXCEPTION '%: a SOA record belongs at the zone apex %', what, NEW.zone
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF TG_OP = 'INSERT' THEN
      NEW.id := zonemesh.soa_id(NEW.zone);
    ELSIF OLD.type <> 'SOA' THEN
      RAISE EXCEPTION '%: a record cannot become a SOA record; insert the SOA instead', what
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  ELSIF TG_OP = 'UPDATE' AND OLD.type = 'SOA' THEN
    RAISE EXCEPTION 'record %: the SOA record cannot change its type', OLD.name
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- Checks across rows at one owner name. Two sessions can pass them at
  -- once; check_entry repeats them at COMMIT, where committers are
  -- serialized, so a race is caught there (no lock per name is taken here:
  -- an import of a large zone would run out of lock table space).
  IF NEW.type = 'SOA' AND TG_OP = 'INSERT' THEN
    PERFORM 1 FROM public.records WHERE id = NEW.id;
    IF FOUND THEN
      RAISE EXCEPTION 'zone % already has a SOA record; update it instead of inserting another', NEW.zone
        USING ERRCODE = 'unique_violation';
    END IF;
  END IF;
  IF NOT NEW.disabled THEN
    SELECT r.type, r.content INTO other FROM public.records r
     WHERE r.zone = NEW.zone AND r.name = NEW.name AND r.id <> NEW.id AND NOT r.disabled
       AND (NEW.type = 'CNAME' OR r.type = 'CNAME')
     LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION '%: a CNAME cannot coexist with other data at the same name (there is % "%")',
        what, other.type, other.content USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF TG_OP = 'INSERT' OR (NEW.name, NEW.type, NEW.content) IS DISTINCT FROM (OLD.name, OLD.type, OLD.content) THEN
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

CREATE FUNCTION zonemesh.validate_zone_metadata() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF zonemesh.internal_write() THEN RETURN NEW; END IF;
  NEW.zone := zonemesh.canonical_name(NEW.zone, 'metadata zone');
  NEW.kind := upper(btrim(NEW.kind));
  IF NEW.kind !~ '^[A-Z0-9][A-Z0-9-]{0,63}$' THEN
    RAISE EXCEPTION 'zone % metadata kind "%" must be letters, digits and "-"', NEW.zone, NEW.kind
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NEW.content IS NULL OR NEW.content ~ '[[:cntrl:]]' THEN
    RAISE EXCEPTION 'zone % metadata %: content must be text without control characters', NEW.zone, NEW.kind
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM zonemesh.require_zone(NEW.zone, format('metadata %s of zone %s', NEW.kind, NEW.zone));
  RETURN NEW;
END $$;

CREATE FUNCTION zonemesh.validate_tsig_keys() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  raw bytea;
BEGIN
  IF zonemesh.internal_write() THEN RETURN NEW; END IF;
  NEW.name := zonemesh.canonical_name(NEW.name, 'TSIG key name');
  NEW.algorithm := lower(btrim(NEW.algorithm));
  IF NEW.algorithm LIKE '%.' THEN NEW.algorithm := left(NEW.algorithm, -1); END IF;
  IF NEW.algorithm NOT IN ('hmac-md5', 'hmac-md5.sig-alg.reg.int', 'hmac-sha1', 'hmac-sha224',
                           'hmac-sha256', 'hmac-sha384', 'hmac-sha512') THEN
    RAISE EXCEPTION 'TSIG key %: algorithm "%" is not one of hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512',
      NEW.name, NEW.algorithm USING ERRCODE = 'invalid_parameter_value';
  END IF;
  BEGIN
    raw := decode(btrim(NEW.secret), 'base64');
  EXCEPTION WHEN others THEN
    RAISE EXCEPTION 'TSIG key %: the secret is not valid base64', NEW.name
      USING ERRCODE = 'invalid_parameter_value';
  END;
  IF length(raw) < 8 THEN
    RAISE EXCEPTION 'TSIG key %: the secret is % bytes; use at least 16 random bytes', NEW.name, length(raw)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  NEW.secret := btrim(NEW.secret);
  RETURN NEW;
END $$;

CREATE FUNCTION zonemesh.validate_dnssec_keys() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF zonemesh.internal_write() THEN RETURN NEW; END IF;
  NEW.zone := zonemesh.canonical_name(NEW.zone, 'DNSSEC key zone');
  IF NEW.flags NOT IN (256, 257) THEN
    RAISE EXCEPTION 'DNSSEC key of zone %: flags % must be 256 (ZSK) or 257 (KSK/CSK)', NEW.zone, NEW.flags
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NEW.algorithm NOT IN (8, 10, 13, 14, 15, 16) THEN
    RAISE EXCEPTION 'DNSSEC key of zone %: algorithm % is not one of 8, 10, 13, 14, 15, 16', NEW.zone, NEW.algorithm
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF btrim(coalesce(NEW.private_key, '')) = '' THEN
    RAISE EXCEPTION 'DNSSEC key of zone %: private_key is empty', NEW.zone
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.zone <> OLD.zone THEN
    RAISE EXCEPTION 'DNSSEC key of zone %: a key cannot move to another zone', OLD.zone
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM zonemesh.require_zone(NEW.zone, format('DNSSEC key of zone %s', NEW.zone));
  RETURN NEW;
END $$;

----------------------------------------------------------------------------
-- Stamping and capture, shared by every replicated table.
----------------------------------------------------------------------------

-- BEFORE INSERT/UPDATE: a local write gets a stamp newer than everything it
-- replaces: the row's version, the key's tombstone and its zone's deletion.
CREATE FUNCTION zonemesh.stamp_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r jsonb;
  stamp bigint;
  z text;
BEGIN
  IF zonemesh.internal_write() THEN RETURN NEW; END IF;
  stamp := zonemesh.hlc_now();
  r := to_jsonb(NEW);
  IF TG_OP = 'UPDATE' THEN
    IF zonemesh.row_key(TG_TABLE_NAME, r) <> zonemesh.row_key(TG_TABLE_NAME, to_jsonb(OLD)) THEN
      RAISE EXCEPTION '%: the key of a row cannot change; delete it and insert a new one', TG_TABLE_NAME
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    stamp := greatest(stamp, OLD.hlc + 1);
  END IF;
  stamp := greatest(stamp, coalesce(zonemesh.tombstone_hlc(TG_TABLE_NAME, zonemesh.row_key(TG_TABLE_NAME, r)) + 1, 0));
  z := zonemesh.row_zone(TG_TABLE_NAME, r);
  IF z IS NOT NULL AND TG_TABLE_NAME <> 'zones' THEN
    stamp := greatest(stamp, coalesce(zonemesh.tombstone_hlc('zones', jsonb_build_object('name', z)) + 1, 0));
  END IF;
  PERFORM zonemesh.hlc_observe(stamp);
  NEW.hlc := stamp;
  NEW.origin := zonemesh.node_id();
  NEW.modified := now();
  RETURN NEW;
END $$;

-- AFTER INSERT/UPDATE/DELETE: log the change; a delete leaves a tombstone,
-- and a zone's deletion takes the zone's rows with it.
CREATE FUNCTION zonemesh.capture_row() RETURNS trigger
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
    END IF;
  ELSE
    r := to_jsonb(NEW);
    INSERT INTO zonemesh.changes (entry, tbl, op, key, data, old, hlc, zone)
    VALUES (zonemesh.local_entry(), TG_TABLE_NAME, 'U', zonemesh.row_key(TG_TABLE_NAME, r), r,
            CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END, NEW.hlc, zonemesh.row_zone(TG_TABLE_NAME, r));
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION zonemesh.refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'TRUNCATE of replicated table % is refused: it would not reach the other sites', TG_TABLE_NAME
    USING ERRCODE = 'feature_not_supported',
          HINT = 'use DELETE, which replicates (for a whole zone: DELETE FROM zones WHERE name = ...)';
END $$;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['zones', 'records', 'zone_metadata', 'tsig_keys', 'dnssec_keys'] LOOP
    EXECUTE format('CREATE TRIGGER a_validate BEFORE INSERT OR UPDATE ON public.%I
                    FOR EACH ROW EXECUTE FUNCTION zonemesh.validate_%s()', t, t);
    EXECUTE format('CREATE TRIGGER b_stamp BEFORE INSERT OR UPDATE ON public.%I
                    FOR EACH ROW EXECUTE FUNCTION zonemesh.stamp_row()', t);
    EXECUTE format('CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON public.%I
                    FOR EACH ROW EXECUTE FUNCTION zonemesh.capture_row()', t);
    EXECUTE format('CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON public.%I
                    FOR EACH STATEMENT EXECUTE FUNCTION zonemesh.refuse_truncate()', t);
  END LOOP;
END $$;

----------------------------------------------------------------------------
-- Commit: number the entry and wake the readers.
----------------------------------------------------------------------------

-- Checks that need the whole transaction, run at COMMIT while committers
-- are serialized (so they see every transaction committed before): every
-- zone the transaction touched that still exists has exactly one SOA record,
-- enabled, at its apex; and the records it wrote still obey the rules across
-- rows (a CNAME alone at its name, no two identical enabled records), which
-- concurrent sessions could each have passed at statement time.
CREATE FUNCTION zonemesh.check_entry(e bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  z text;
  n integer;
  bad record;
BEGIN
  FOR z IN SELECT DISTINCT c.zone FROM zonemesh.changes c
            WHERE c.entry = e AND c.zone IS NOT NULL AND c.tbl IN ('zones', 'records') LOOP
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM public.zones WHERE name = z);
    SELECT count(*) INTO n FROM public.records
     WHERE zone = z AND type = 'SOA' AND NOT disabled;
    IF n = 0 THEN
      RAISE EXCEPTION 'zone % has no SOA record', z
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'insert the zone and its SOA record in one transaction, or use create_zone(); see sql/README.md';
    END IF;
  END LOOP;

  SELECT r.name, r.type, r.content, o.type AS other_type, o.content AS other_content INTO bad
    FROM zonemesh.changes c
    JOIN public.records r ON r.id = (c.key ->> 'id')::uuid AND NOT r.disabled
    JOIN public.records o ON o.zone = r.zone AND o.name = r.name AND o.id <> r.id AND NOT o.disabled
                         AND (r.type = 'CNAME' OR o.type = 'CNAME')
   WHERE c.entry = e AND c.tbl = 'records' AND c.op = 'U'
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'record % %: a CNAME cannot coexist with other data at the same name (there is % "%")',
      bad.name, bad.type, bad.other_type, bad.other_content USING ERRCODE = 'integrity_constraint_violation';
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

CREATE FUNCTION zonemesh.commit_entry() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  me text;
  p bigint;
  s bigint;
  o text;
BEGIN
  -- An entry without changes is not logged, except a snapshot's (004/005).
  IF NEW.origin IS DISTINCT FROM '~snapshot'
     AND NOT EXISTS (SELECT 1 FROM zonemesh.changes WHERE entry = NEW.entry) THEN
    DELETE FROM zonemesh.pending_entries WHERE entry = NEW.entry;
    RETURN NULL;
  END IF;
  -- From here to the end of the commit, this row lock orders committers: the
  -- numbers handed out below are in commit order and, since the update is
  -- transactional, without gaps.
  UPDATE zonemesh.node
     SET last_pos = last_pos + 1,
         last_seq = last_seq + CASE WHEN NEW.origin IS NULL THEN 1 ELSE 0 END
  RETURNING last_pos, last_seq, node_id INTO p, s, me;
  IF NEW.origin IS NULL THEN
    PERFORM zonemesh.check_entry(NEW.entry);
  END IF;
  IF NEW.origin IS NULL THEN
    o := me;
    INSERT INTO zonemesh.vector (origin, seq) VALUES (me, s)
    ON CONFLICT (origin) DO UPDATE SET seq = EXCLUDED.seq;
  ELSE
    o := NEW.origin;
    s := NEW.origin_seq;
  END IF;
  INSERT INTO zonemesh.changelog (pos, origin, origin_seq, entry) VALUES (p, o, s, NEW.entry);
  INSERT INTO zonemesh.zone_state AS zs (zone, changes, max_hlc)
  SELECT c.zone, count(*), max(c.hlc) FROM zonemesh.changes c
   WHERE c.entry = NEW.entry AND c.zone IS NOT NULL GROUP BY c.zone
  ON CONFLICT (zone) DO UPDATE
    SET changes = zs.changes + EXCLUDED.changes, max_hlc = greatest(zs.max_hlc, EXCLUDED.max_hlc);
  DELETE FROM zonemesh.pending_entries WHERE entry = NEW.entry;
  PERFORM pg_notify('zonemesh_changelog', p::text);
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER commit_entry AFTER INSERT ON zonemesh.pending_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION zonemesh.commit_entry();

----------------------------------------------------------------------------
-- The SOA serial.
----------------------------------------------------------------------------

-- serial = (seconds of the newest stamp in the zone + number of changes the
-- zone has had) mod 2^32. Both terms only grow and both are the same at every
-- site that has seen the same changes, in whatever order; every change adds
-- at least 1. See sql/README.md.
CREATE FUNCTION zonemesh.zone_serial(z text) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT ((max_hlc >> 16) / 1000 + changes) % 4294967296
                     FROM zonemesh.zone_state WHERE zone = z), 0)
$$;

CREATE VIEW public.zone_serials AS
  SELECT z.name AS zone, zonemesh.zone_serial(z.name) AS serial, s.changes,
         zonemesh.hlc_time(s.max_hlc) AS last_change
    FROM public.zones z LEFT JOIN zonemesh.zone_state s ON s.zone = z.name;

----------------------------------------------------------------------------
-- Convenience functions for psql users (plain INSERT/UPDATE/DELETE work too).
----------------------------------------------------------------------------

-- create_zone('example.com', ARRAY['ns1.example.net', 'ns2.example.net'])
-- makes the zone with a SOA (first name server as mname) and NS records.
CREATE FUNCTION public.create_zone(zone_name text, nameservers text[],
                                   hostmaster text DEFAULT NULL, kind text DEFAULT 'native',
                                   ttl integer DEFAULT 3600) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  z text := zonemesh.canonical_name(zone_name, 'zone name');
  ns text;
BEGIN
  IF nameservers IS NULL OR cardinality(nameservers) = 0 THEN
    RAISE EXCEPTION 'create_zone(%): give at least one name server', z
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO public.zones (name, kind) VALUES (z, kind);
  INSERT INTO public.records (zone, name, type, ttl, content)
  VALUES (z, z, 'SOA', ttl,
          format('%s %s 0 10800 3600 604800 3600', nameservers[1], coalesce(hostmaster, 'hostmaster.' || z)));
  FOREACH ns IN ARRAY nameservers LOOP
    INSERT INTO public.records (zone, name, type, ttl, content) VALUES (z, z, 'NS', ttl, ns);
  END LOOP;
  RETURN z;
END $$;

-- set_rrset('example.com', 'www.example.com', 'A', ARRAY['192.0.2.1'], 300)
-- replaces the whole RRset in one statement.
CREATE FUNCTION public.set_rrset(zone_name text, owner text, rtype text, contents text[],
                                 ttl integer DEFAULT 3600) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  z text := zonemesh.canonical_name(zone_name, 'zone name');
  n text := zonemesh.canonical_name(owner, 'record name', true);
  t text := upper(rtype);
  c text;
BEGIN
  DELETE FROM public.records r WHERE r.zone = z AND r.name = n AND r.type = t;
  FOREACH c IN ARRAY coalesce(contents, '{}') LOOP
    INSERT INTO public.records (zone, name, type, ttl, content) VALUES (z, n, t, set_rrset.ttl, c);
  END LOOP;
  RETURN coalesce(cardinality(contents), 0);
END $$;
