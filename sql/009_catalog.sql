-- 009_catalog: catalog zones (RFC 9432, schema version 2), so that BIND or
-- Knot secondaries learn which zones the cluster serves by themselves.
--
-- A catalog is an ordinary zone marked with the zone_metadata kind
-- CATALOG-ZONE. Its records are written by the same local transaction that
-- creates or deletes a member zone (a trigger on public.zones), so they
-- replicate with it and every site serves the same catalog with the same
-- serial. Member labels are a hash of the zone name: the same at every site,
-- and stable as long as the zone exists (RFC 9432 4.1).
--
-- Whoever may transfer a catalog (its ALLOW-AXFR-FROM and TSIG-ALLOW-AXFR)
-- may transfer every zone it lists, and its ALSO-NOTIFY targets are notified
-- for every zone: a consumer configured once follows the whole cluster.

CREATE FUNCTION zonemesh.catalog_member_owner(catalog text, member text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT substr(encode(sha256(convert_to(member, 'UTF8')), 'hex'), 1, 32) || '.zones.' || catalog
$$;

CREATE FUNCTION zonemesh.catalogs() RETURNS SETOF text
LANGUAGE sql STABLE AS $$
  SELECT zone FROM public.zone_metadata WHERE kind = 'CATALOG-ZONE'
$$;

-- Keeps every catalog's member list equal to the zones table, for local
-- writes only: a peer's change arrives with its catalog records already made.
CREATE FUNCTION zonemesh.catalog_members() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  c text;
BEGIN
  IF zonemesh.internal_write() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    FOR c IN SELECT zonemesh.catalogs() LOOP
      CONTINUE WHEN c = NEW.name;
      IF NOT EXISTS (SELECT 1 FROM public.records r
                      WHERE r.zone = c AND r.name = zonemesh.catalog_member_owner(c, NEW.name)
                        AND r.type = 'PTR') THEN
        INSERT INTO public.records (zone, name, type, ttl, content)
        VALUES (c, zonemesh.catalog_member_owner(c, NEW.name), 'PTR', 0, NEW.name);
      END IF;
    END LOOP;
  ELSE
    FOR c IN SELECT zonemesh.catalogs() LOOP
      CONTINUE WHEN c = OLD.name;
      DELETE FROM public.records r
       WHERE r.zone = c AND r.name = zonemesh.catalog_member_owner(c, OLD.name) AND r.type = 'PTR';
    END LOOP;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER catalog_members AFTER INSERT OR DELETE ON public.zones
  FOR EACH ROW EXECUTE FUNCTION zonemesh.catalog_members();

-- create_catalog_zone('catalog.example') makes the catalog (SOA, NS
-- "invalid.", version TXT "2") listing every zone there is, and keeps it so.
CREATE FUNCTION public.create_catalog_zone(catalog_name text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  c text := zonemesh.canonical_name(catalog_name, 'catalog zone name');
BEGIN
  PERFORM public.create_zone(c, ARRAY['invalid'], 'invalid', 'native', 0);
  INSERT INTO public.records (zone, name, type, ttl, content) VALUES (c, 'version.' || c, 'TXT', 0, '"2"');
  INSERT INTO public.zone_metadata (zone, kind, content) VALUES (c, 'CATALOG-ZONE', '2');
  INSERT INTO public.records (zone, name, type, ttl, content)
  SELECT c, zonemesh.catalog_member_owner(c, z.name), 'PTR', 0, z.name
    FROM public.zones z
   WHERE z.name <> c AND z.name NOT IN (SELECT zonemesh.catalogs());
  -- A catalog is not a member of another catalog.
  DELETE FROM public.records r
   WHERE r.type = 'PTR' AND r.zone IN (SELECT zonemesh.catalogs()) AND r.zone <> c
     AND r.name = zonemesh.catalog_member_owner(r.zone, c);
  RETURN c;
END $$;
