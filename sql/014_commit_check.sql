-- 014_commit_check: the SOA check that runs at every local COMMIT (003's
-- zonemesh.check_entry) looked for the zone's SOA among all of the zone's
-- records: the (zone, name, type) index gave no help without the name, so
-- each commit read the whole zone, while committers are serialized. At
-- 200,000 records a one-row change took 10.5 ms to commit instead of about
-- 1 ms, and it grew with the zone. A SOA is always at the apex (the record
-- triggers refuse one anywhere else), so the check now names it: one index
-- probe, whatever the zone's size. Nothing else changes.
CREATE OR REPLACE FUNCTION zonemesh.check_entry(e bigint) RETURNS void
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
     WHERE zone = z AND name = z AND type = 'SOA' AND NOT disabled;
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
