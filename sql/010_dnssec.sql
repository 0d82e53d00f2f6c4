-- 010_dnssec: checks and views for DNSSEC keys and NSEC3 parameters.
--
-- Keys live in public.dnssec_keys (001_core), replicate like every row and
-- are signed with by every site's DNS server. A key's private_key is the
-- BIND "Private-key-format: v1.3" text PowerDNS keeps in its cryptokeys
-- (v1.2 is taken too). This file makes a bad key fail at the write that
-- brings it, with an error naming the zone and the problem, never the key
-- material, instead of at every site's signer later:
--   - the text has the format line, an "Algorithm:" line equal to the row's
--     algorithm, and the fields that algorithm needs, each valid base64 of
--     the right length (ECDSA P-256 and Ed25519 keys: 32 octets);
--   - NSEC3PARAM metadata (PowerDNS's format "<alg> <flags> <iterations>
--     <salt|->") is well formed, with hash algorithm 1, flags 0 or 1,
--     iterations at most 100 (RFC 9276 asks for 0), and one per zone.
-- Writes applied from peers are not checked again (zonemesh.internal_write):
-- their origin checked them, and replication never stops on a row.
--
-- Views without the private keys, for operators and the rollover steps:
--   public.dnssec_key_states   one row per key: role, state, what it signs
--   public.dnssec_zones        per zone: signed or not, NSEC or NSEC3, keys

-- The problem with a private key text, or NULL when it is usable. Never
-- quotes the key material.
CREATE FUNCTION zonemesh.dnssec_private_key_problem(alg integer, key_text text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  lines text[];
  fields jsonb := '{}'::jsonb;
  line text;
  k text;
  v text;
  raw bytea;
  format_line text;
  alg_field text;
  needed text[];
  want_len integer;
BEGIN
  IF key_text IS NULL OR btrim(key_text) = '' THEN
    RETURN 'private_key is empty';
  END IF;
  lines := regexp_split_to_array(replace(key_text, E'\r', ''), E'\n');
  format_line := btrim(lines[1]);
  IF format_line !~ '^Private-key-format: v1\.[23]$' THEN
    RETURN 'private_key does not start with "Private-key-format: v1.3" (the BIND/PowerDNS private key format)';
  END IF;
  FOREACH line IN ARRAY lines[2:] LOOP
    CONTINUE WHEN btrim(line) = '';
    IF position(':' IN line) = 0 THEN
      RETURN 'private_key has a line without "Field: value"';
    END IF;
    k := btrim(split_part(line, ':', 1));
    v := btrim(substr(line, position(':' IN line) + 1));
    IF fields ? k THEN
      RETURN format('private_key has the field %s twice', k);
    END IF;
    fields := fields || jsonb_build_object(k, v);
  END LOOP;
  alg_field := fields ->> 'Algorithm';
  IF alg_field IS NULL THEN
    RETURN 'private_key has no "Algorithm:" line';
  END IF;
  IF alg_field !~ '^[0-9]+( |$)' OR split_part(alg_field, ' ', 1)::integer <> alg THEN
    RETURN format('private_key is for algorithm "%s", the row says algorithm %s', alg_field, alg);
  END IF;
  IF alg IN (8, 10) THEN
    needed := ARRAY['Modulus', 'PublicExponent', 'PrivateExponent', 'Prime1', 'Prime2',
                    'Exponent1', 'Exponent2', 'Coefficient'];
  ELSE
    needed := ARRAY['PrivateKey'];
  END IF;
  FOREACH k IN ARRAY needed LOOP
    IF coalesce(fields ->> k, '') = '' THEN
      RETURN format('private_key has no "%s:" field, which algorithm %s needs', k, alg);
    END IF;
  END LOOP;
  FOREACH k IN ARRAY needed LOOP
    v := fields ->> k;
    BEGIN
      raw := decode(v, 'base64');
    EXCEPTION WHEN others THEN
      RETURN format('private_key field %s is not valid base64', k);
    END;
    IF k = 'PrivateKey' THEN
      want_len := CASE alg WHEN 13 THEN 32 WHEN 14 THEN 48 WHEN 15 THEN 32 WHEN 16 THEN 57 END;
      IF want_len IS NOT NULL AND length(raw) <> want_len THEN
        RETURN format('private_key field PrivateKey is %s octets; algorithm %s keys have %s',
                      length(raw), alg, want_len);
      END IF;
    ELSIF k = 'Modulus' AND (length(raw) < 128 OR length(raw) > 512) THEN
      RETURN format('private_key is a %s-bit RSA key; use 1024 to 4096 bits', length(raw) * 8);
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

CREATE FUNCTION zonemesh.validate_dnssec_key_material() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  problem text;
BEGIN
  IF zonemesh.internal_write() THEN RETURN NEW; END IF;
  IF TG_OP = 'UPDATE' AND NEW.private_key IS NOT DISTINCT FROM OLD.private_key
     AND NEW.algorithm = OLD.algorithm THEN
    RETURN NEW;  -- a state change (published, active): the key was checked when it came
  END IF;
  problem := zonemesh.dnssec_private_key_problem(NEW.algorithm, NEW.private_key);
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'DNSSEC key of zone % (flags %, algorithm %): %', NEW.zone, NEW.flags,
      NEW.algorithm, problem USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- One spelling everywhere: no carriage returns, one final newline.
  NEW.private_key := rtrim(replace(NEW.private_key, E'\r', ''), E'\n') || E'\n';
  RETURN NEW;
END $$;

-- After a_validate (names, flags, algorithm), before b_stamp.
CREATE TRIGGER a_validate_key_material BEFORE INSERT OR UPDATE ON public.dnssec_keys
  FOR EACH ROW EXECUTE FUNCTION zonemesh.validate_dnssec_key_material();

-- NSEC3PARAM metadata in the stored form "1 0 0 -" (salt lowercase hex).
CREATE FUNCTION zonemesh.validate_nsec3param() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  parts text[];
  iterations bigint;
BEGIN
  IF zonemesh.internal_write() OR NEW.kind IS DISTINCT FROM 'NSEC3PARAM' THEN RETURN NEW; END IF;
  parts := regexp_split_to_array(btrim(NEW.content), '\s+');
  IF array_length(parts, 1) <> 4 OR parts[1] !~ '^[0-9]+$' OR parts[2] !~ '^[0-9]+$'
     OR parts[3] !~ '^[0-9]{1,9}$' OR parts[4] !~ '^(-|([0-9a-fA-F]{2})+)$' THEN
    RAISE EXCEPTION 'zone % NSEC3PARAM "%": use "<algorithm> <flags> <iterations> <salt or ->", e.g. "1 0 0 -"',
      NEW.zone, NEW.content USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF parts[1] <> '1' THEN
    RAISE EXCEPTION 'zone % NSEC3PARAM "%": hash algorithm % is not 1 (SHA-1, the only one defined)',
      NEW.zone, NEW.content, parts[1] USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF parts[2] NOT IN ('0', '1') THEN
    RAISE EXCEPTION 'zone % NSEC3PARAM "%": flags must be 0, or 1 for opt-out', NEW.zone, NEW.content
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  iterations := parts[3]::bigint;
  IF iterations > 100 THEN
    RAISE EXCEPTION 'zone % NSEC3PARAM "%": % iterations; validators treat more than 100 as insecure or bogus (RFC 9276 asks for 0)',
      NEW.zone, NEW.content, iterations USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(parts[4]) > 510 THEN
    RAISE EXCEPTION 'zone % NSEC3PARAM: the salt is longer than 255 octets', NEW.zone
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  NEW.content := format('1 %s %s %s', parts[2], iterations, lower(parts[4]));
  PERFORM 1 FROM public.zone_metadata m
   WHERE m.zone = NEW.zone AND m.kind = 'NSEC3PARAM' AND m.content <> NEW.content
     AND (TG_OP = 'INSERT' OR (m.zone, m.kind, m.content) <> (OLD.zone, OLD.kind, OLD.content));
  IF FOUND THEN
    RAISE EXCEPTION 'zone % has NSEC3PARAM already; delete it and insert the new one (one transaction)', NEW.zone
      USING ERRCODE = 'unique_violation';
  END IF;
  RETURN NEW;
END $$;

-- After a_validate, which canonicalizes zone and kind.
CREATE TRIGGER a_validate_nsec3param BEFORE INSERT OR UPDATE ON public.zone_metadata
  FOR EACH ROW EXECUTE FUNCTION zonemesh.validate_nsec3param();

-- Whether a zone is signed: it has a key that signs.
CREATE FUNCTION public.zone_is_signed(zone_name text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM public.dnssec_keys k
                  WHERE k.zone = zonemesh.canonical_name(zone_name, 'zone name') AND k.active)
$$;

-- Every key without its private part: its role and what it does now. A
-- 257 key is a CSK when its zone has no active ZSK (it signs everything).
CREATE VIEW public.dnssec_key_states AS
SELECT k.id, k.zone,
       CASE WHEN k.flags = 256 THEN 'ZSK'
            WHEN EXISTS (SELECT 1 FROM public.dnssec_keys z
                          WHERE z.zone = k.zone AND z.flags = 256 AND z.active) THEN 'KSK'
            ELSE 'CSK' END AS role,
       k.flags, k.algorithm, k.published, k.active,
       CASE WHEN k.active AND k.published THEN 'published, signing'
            WHEN k.active THEN 'signing, not published'
            WHEN k.published THEN 'published, not signing'
            ELSE 'inactive' END AS state,
       CASE WHEN NOT k.active THEN ''
            WHEN k.flags = 256 THEN 'every RRset but DNSKEY, CDS, CDNSKEY'
            WHEN EXISTS (SELECT 1 FROM public.dnssec_keys z
                          WHERE z.zone = k.zone AND z.flags = 256 AND z.active)
              THEN 'DNSKEY, CDS, CDNSKEY'
            ELSE 'every RRset' END AS signs,
       k.flags = 257 AND k.published AND k.active AS in_cds,
       k.created, k.modified
  FROM public.dnssec_keys k;

CREATE VIEW public.dnssec_zones AS
SELECT z.name AS zone,
       coalesce(bool_or(k.active), false) AS signed,
       coalesce((SELECT 'NSEC3 ' || m.content FROM public.zone_metadata m
                  WHERE m.zone = z.name AND m.kind = 'NSEC3PARAM' ORDER BY m.content LIMIT 1),
                'NSEC') AS denial,
       count(k.id) AS keys,
       count(k.id) FILTER (WHERE k.active) AS signing_keys,
       count(k.id) FILTER (WHERE k.published) AS published_keys
  FROM public.zones z LEFT JOIN public.dnssec_keys k ON k.zone = z.name
 GROUP BY z.name;
