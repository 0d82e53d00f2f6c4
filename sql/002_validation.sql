-- 002_validation: checks every local write passes. Each error names the
-- offending value and says what is wrong with it.

-- A domain name in canonical form: lowercase, no trailing dot, labels of
-- 1..63 octets, at most 253 characters. what names the field for messages.
-- allow_wildcard: a leftmost "*" label is allowed (owner names).
CREATE FUNCTION zonemesh.canonical_name(n text, what text, allow_wildcard boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  c text;
  label text;
  i integer := 0;
BEGIN
  IF n IS NULL THEN
    RAISE EXCEPTION '% must not be empty', what USING ERRCODE = 'not_null_violation';
  END IF;
  c := lower(btrim(n));
  IF c LIKE '%.' AND c <> '.' THEN
    c := left(c, -1);
  END IF;
  IF c = '' OR c = '.' THEN
    RAISE EXCEPTION '% "%" is empty or the root, which zonemesh does not serve', what, n
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(c) > 253 THEN
    RAISE EXCEPTION '% "%" is % characters long; a domain name has at most 253', what, n, length(c)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOREACH label IN ARRAY string_to_array(c, '.') LOOP
    i := i + 1;
    IF label = '' THEN
      RAISE EXCEPTION '% "%" has an empty label', what, n USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(label) > 63 THEN
      RAISE EXCEPTION '% "%": label "%" is % octets; a label has at most 63', what, n, label,
        octet_length(label) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF label = '*' THEN
      IF NOT allow_wildcard OR i > 1 THEN
        RAISE EXCEPTION '% "%": "*" is only allowed as the leftmost label of an owner name', what, n
          USING ERRCODE = 'invalid_parameter_value';
      END IF;
    ELSIF label !~ '^[a-z0-9_/-]+$' THEN
      RAISE EXCEPTION '% "%": label "%" has characters other than letters, digits, "-", "_" and "/"',
        what, n, label USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
  RETURN c;
END $$;

-- A name inside record content: like canonical_name, but "." (the root, as
-- in a null MX or an SRV "no service" target) is kept as ".".
CREATE FUNCTION zonemesh.content_name(n text, what text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN btrim(n) = '.' THEN '.' ELSE zonemesh.canonical_name(n, what) END
$$;

CREATE FUNCTION zonemesh.check_uint(v text, max bigint, what text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF v IS NULL OR v !~ '^[0-9]{1,10}$' OR v::bigint > max THEN
    RAISE EXCEPTION '% "%" is not a number from 0 to %', what, coalesce(v, ''), max
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN v::bigint;
END $$;

-- Character-strings as in TXT, SPF and CAA: one or more "quoted" strings
-- (with \" \\ and \DDD escapes), each at most 255 octets. Unquoted text is
-- taken as one string and quoted. Returns the normalized content.
CREATE FUNCTION zonemesh.check_character_strings(content text, what text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  s text := btrim(content);
  pos integer := 1;
  len integer := length(s);
  ch text;
  octets integer;
  result text := '';
  piece text;
BEGIN
  IF s = '' THEN
    RAISE EXCEPTION '% is empty', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF left(s, 1) <> '"' THEN
    IF octet_length(s) > 255 THEN
      RAISE EXCEPTION '% is % octets without quotes; split it into "quoted" strings of at most 255',
        what, octet_length(s) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN '"' || replace(replace(s, '\', '\\'), '"', '\"') || '"';
  END IF;
  WHILE pos <= len LOOP
    ch := substr(s, pos, 1);
    IF ch = ' ' OR ch = E'\t' THEN
      pos := pos + 1;
      CONTINUE;
    END IF;
    IF ch <> '"' THEN
      RAISE EXCEPTION '% "%": text outside quotes at character %', what, content, pos
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    pos := pos + 1;
    octets := 0;
    piece := '"';
    LOOP
      IF pos > len THEN
        RAISE EXCEPTION '% "%": unterminated quoted string', what, content
          USING ERRCODE = 'invalid_parameter_value';
      END IF;
      ch := substr(s, pos, 1);
      IF ch = '"' THEN
        pos := pos + 1;
        EXIT;
      ELSIF ch = '\' THEN
        IF substr(s, pos + 1, 3) ~ '^[0-9]{3}$' THEN
          IF substr(s, pos + 1, 3)::integer > 255 THEN
            RAISE EXCEPTION '% "%": escape \% is above 255', what, content, substr(s, pos + 1, 3)
              USING ERRCODE = 'invalid_parameter_value';
          END IF;
          piece := piece || substr(s, pos, 4);
          pos := pos + 4;
        ELSIF pos + 1 <= len THEN
          piece := piece || substr(s, pos, 2);
          octets := octets + octet_length(substr(s, pos + 1, 1)) - 1;
          pos := pos + 2;
        ELSE
          RAISE EXCEPTION '% "%": dangling backslash', what, content
            USING ERRCODE = 'invalid_parameter_value';
        END IF;
      ELSE
        piece := piece || ch;
        octets := octets + octet_length(ch) - 1;
        pos := pos + 1;
      END IF;
      octets := octets + 1;
    END LOOP;
    IF octets > 255 THEN
      RAISE EXCEPTION '% has a string of % octets; each quoted string holds at most 255', what, octets
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    result := result || CASE WHEN result = '' THEN '' ELSE ' ' END || piece || '"';
  END LOOP;
  RETURN result;
END $$;

-- Record types zonemesh accepts. RRSIG, NSEC, NSEC3 and NSEC3PARAM are made
-- by the signer, never stored.
CREATE FUNCTION zonemesh.known_type(t text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT t = ANY ('{A,AAAA,AFSDB,CAA,CDNSKEY,CDS,CERT,CNAME,CSYNC,DHCID,DNAME,DNSKEY,DS,HINFO,
                    HTTPS,KEY,LOC,MX,NAPTR,NS,OPENPGPKEY,PTR,RP,SMIMEA,SOA,SPF,SRV,SSHFP,SVCB,
                    TLSA,TXT,URI}'::text[])
$$;

-- Checks content for a record type and returns it normalized. owner is only
-- used in messages.
CREATE FUNCTION zonemesh.check_content(rtype text, content text, owner text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  what text := format('%s content of %s', rtype, owner);
  c text := btrim(coalesce(content, ''));
  f text[];
  addr inet;
BEGIN
  IF c = '' THEN
    RAISE EXCEPTION '% is empty', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
  f := regexp_split_to_array(c, '\s+');
  CASE rtype
  WHEN 'A' THEN
    IF c !~ '^[0-9]{1,3}(\.[0-9]{1,3}){3}$' THEN
      RAISE EXCEPTION '% "%" is not an IPv4 address', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    BEGIN
      addr := c::inet;
    EXCEPTION WHEN others THEN
      RAISE EXCEPTION '% "%" is not an IPv4 address', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END;
    RETURN host(addr);
  WHEN 'AAAA' THEN
    IF c !~ '^[0-9a-fA-F:.]+$' OR position(':' IN c) = 0 THEN
      RAISE EXCEPTION '% "%" is not an IPv6 address', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    BEGIN
      addr := c::inet;
    EXCEPTION WHEN others THEN
      RAISE EXCEPTION '% "%" is not an IPv6 address', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END;
    IF family(addr) <> 6 THEN
      RAISE EXCEPTION '% "%" is not an IPv6 address', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN host(addr);
  WHEN 'NS', 'CNAME', 'PTR', 'DNAME' THEN
    IF array_length(f, 1) <> 1 THEN
      RAISE EXCEPTION '% "%" must be a single domain name', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN zonemesh.canonical_name(c, what);
  WHEN 'MX' THEN
    IF array_length(f, 1) <> 2 THEN
      RAISE EXCEPTION '% "%" must be "preference exchange", e.g. "10 mail.example.com"', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN zonemesh.check_uint(f[1], 65535, what || ' preference') || ' '
        || zonemesh.content_name(f[2], what || ' exchange');
  WHEN 'SRV' THEN
    IF array_length(f, 1) <> 4 THEN
      RAISE EXCEPTION '% "%" must be "priority weight port target"', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN zonemesh.check_uint(f[1], 65535, what || ' priority') || ' '
        || zonemesh.check_uint(f[2], 65535, what || ' weight') || ' '
        || zonemesh.check_uint(f[3], 65535, what || ' port') || ' '
        || zonemesh.content_name(f[4], what || ' target');
  WHEN 'TXT', 'SPF' THEN
    RETURN zonemesh.check_character_strings(c, what);
  WHEN 'CAA' THEN
    IF c !~ '^[0-9]+\s+[A-Za-z0-9]+\s+\S' THEN
      RAISE EXCEPTION '% "%" must be "flags tag value", e.g. 0 issue "letsencrypt.org"', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN zonemesh.check_uint(f[1], 255, what || ' flags') || ' ' || lower(f[2]) || ' '
        || zonemesh.check_character_strings(
             regexp_replace(c, '^[0-9]+\s+[A-Za-z0-9]+\s+', ''), what || ' value');
  WHEN 'SOA' THEN
    IF array_length(f, 1) <> 7 THEN
      RAISE EXCEPTION '% "%" must be "mname rname serial refresh retry expire minimum"', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN zonemesh.canonical_name(f[1], what || ' mname') || ' '
        || zonemesh.canonical_name(f[2], what || ' rname') || ' '
        || zonemesh.check_uint(f[3], 4294967295, what || ' serial') || ' '
        || zonemesh.check_uint(f[4], 4294967295, what || ' refresh') || ' '
        || zonemesh.check_uint(f[5], 4294967295, what || ' retry') || ' '
        || zonemesh.check_uint(f[6], 4294967295, what || ' expire') || ' '
        || zonemesh.check_uint(f[7], 4294967295, what || ' minimum');
  WHEN 'DS', 'CDS' THEN
    IF array_length(f, 1) < 4 OR array_to_string(f[4:], '') !~ '^[0-9a-fA-F]+$' THEN
      RAISE EXCEPTION '% "%" must be "keytag algorithm digesttype hexdigest"', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN zonemesh.check_uint(f[1], 65535, what || ' key tag') || ' '
        || zonemesh.check_uint(f[2], 255, what || ' algorithm') || ' '
        || zonemesh.check_uint(f[3], 255, what || ' digest type') || ' '
        || upper(array_to_string(f[4:], ''));
  ELSE
    IF c ~ '[[:cntrl:]]' THEN
      RAISE EXCEPTION '% contains control characters', what USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN c;
  END CASE;
END $$;

-- The deterministic id of a zone's SOA record: a SOA created for the same
-- zone at two sites at once is one row, settled by last-writer-wins.
CREATE FUNCTION zonemesh.soa_id(zone text) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$ SELECT md5('zonemesh-soa:' || zone)::uuid $$;
