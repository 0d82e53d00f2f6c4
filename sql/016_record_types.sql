-- 016_record_types: every record type Knot 3.2 loads, RFC 3597 generic
-- types and RDATA, TXT strings longer than 255 octets split, and "." as the
-- target of CNAME and NS. Redefines only the validation helpers of
-- 002_validation.sql (known_type, check_content, check_character_strings);
-- the triggers that call them are unchanged.

-- The number of a type mnemonic zonemesh knows, or NULL. TYPEnnn is the
-- RFC 3597 name of any type; a known type must be written with its mnemonic
-- so that one RRset has one name in the database.
CREATE FUNCTION zonemesh.type_number(t text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE upper(t)
    WHEN 'A' THEN 1 WHEN 'NS' THEN 2 WHEN 'CNAME' THEN 5 WHEN 'SOA' THEN 6 WHEN 'NULL' THEN 10
    WHEN 'PTR' THEN 12 WHEN 'HINFO' THEN 13 WHEN 'MINFO' THEN 14 WHEN 'MX' THEN 15
    WHEN 'TXT' THEN 16 WHEN 'RP' THEN 17 WHEN 'AFSDB' THEN 18 WHEN 'RT' THEN 21
    WHEN 'KEY' THEN 25 WHEN 'AAAA' THEN 28 WHEN 'LOC' THEN 29 WHEN 'SRV' THEN 33
    WHEN 'NAPTR' THEN 35 WHEN 'KX' THEN 36 WHEN 'CERT' THEN 37 WHEN 'DNAME' THEN 39
    WHEN 'OPT' THEN 41 WHEN 'APL' THEN 42 WHEN 'DS' THEN 43 WHEN 'SSHFP' THEN 44
    WHEN 'IPSECKEY' THEN 45 WHEN 'RRSIG' THEN 46 WHEN 'NSEC' THEN 47 WHEN 'DNSKEY' THEN 48
    WHEN 'DHCID' THEN 49 WHEN 'NSEC3' THEN 50 WHEN 'NSEC3PARAM' THEN 51 WHEN 'TLSA' THEN 52
    WHEN 'SMIMEA' THEN 53 WHEN 'CDS' THEN 59 WHEN 'CDNSKEY' THEN 60 WHEN 'OPENPGPKEY' THEN 61
    WHEN 'CSYNC' THEN 62 WHEN 'ZONEMD' THEN 63 WHEN 'SVCB' THEN 64 WHEN 'HTTPS' THEN 65
    WHEN 'SPF' THEN 99 WHEN 'NID' THEN 104 WHEN 'L32' THEN 105 WHEN 'L64' THEN 106
    WHEN 'LP' THEN 107 WHEN 'EUI48' THEN 108 WHEN 'EUI64' THEN 109 WHEN 'URI' THEN 256
    WHEN 'CAA' THEN 257
    ELSE NULL END
$$;

-- The mnemonic of a known type number, or NULL.
CREATE FUNCTION zonemesh.type_mnemonic(n integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT m FROM unnest('{A,NS,CNAME,SOA,"NULL",PTR,HINFO,MINFO,MX,TXT,RP,AFSDB,RT,KEY,AAAA,LOC,SRV,
                         NAPTR,KX,CERT,DNAME,OPT,APL,DS,SSHFP,IPSECKEY,RRSIG,NSEC,DNSKEY,DHCID,
                         NSEC3,NSEC3PARAM,TLSA,SMIMEA,CDS,CDNSKEY,OPENPGPKEY,CSYNC,ZONEMD,SVCB,
                         HTTPS,SPF,NID,L32,L64,LP,EUI48,EUI64,URI,CAA}'::text[]) m
  WHERE zonemesh.type_number(m) = n
$$;

-- Record types zonemesh accepts: the mnemonics below, and TYPEnnn (RFC 3597)
-- for any number that is neither a meta type (0, OPT, 128..255) nor made by
-- the signer. RRSIG, NSEC, NSEC3 and NSEC3PARAM are made by the signer,
-- never stored.
CREATE OR REPLACE FUNCTION zonemesh.known_type(t text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT t = ANY ('{A,AAAA,AFSDB,APL,CAA,CDNSKEY,CDS,CERT,CNAME,CSYNC,DHCID,DNAME,DNSKEY,DS,
                    EUI48,EUI64,HINFO,HTTPS,IPSECKEY,KEY,KX,L32,L64,LOC,LP,MINFO,MX,NAPTR,NID,
                    NS,"NULL",OPENPGPKEY,PTR,RP,RT,SMIMEA,SOA,SPF,SRV,SSHFP,SVCB,TLSA,TXT,URI,
                    ZONEMD}'::text[])
      OR CASE WHEN t ~ '^TYPE[0-9]{1,5}$' THEN
           substr(t, 5)::integer BETWEEN 1 AND 65535
           AND substr(t, 5)::integer NOT IN (41, 46, 47, 50, 51)
           AND substr(t, 5)::integer NOT BETWEEN 128 AND 255
         ELSE false END
$$;

-- RFC 3597 generic RDATA: \# LENGTH HEX, the hex (white space allowed
-- between its digit pairs) exactly LENGTH octets. Returns it normalized:
-- "\# 3 010203", lower-case hex in one word ("\# 0" when empty).
CREATE FUNCTION zonemesh.check_generic_rdata(content text, what text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  m text[];
  len bigint;
  hex text;
BEGIN
  m := regexp_match(btrim(content), '^\\#\s+([0-9]{1,6})((\s+[0-9a-fA-F]+)*)\s*$');
  IF m IS NULL THEN
    RAISE EXCEPTION '% "%" is not RFC 3597 generic data: \# LENGTH HEX, e.g. \# 3 010203',
      what, content USING ERRCODE = 'invalid_parameter_value';
  END IF;
  len := m[1]::bigint;
  hex := lower(regexp_replace(coalesce(m[2], ''), '\s', '', 'g'));
  IF len > 65535 THEN
    RAISE EXCEPTION '% "%": length % is above 65535', what, content, len
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(hex) % 2 <> 0 THEN
    RAISE EXCEPTION '% "%": the hex has an odd number of digits', what, content
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(hex) / 2 <> len THEN
    RAISE EXCEPTION '% "%": length % does not match the % octets of hex', what, content, len,
      length(hex) / 2 USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN CASE WHEN len = 0 THEN '\# 0' ELSE '\# ' || len || ' ' || hex END;
END $$;

-- Character-strings as in TXT, SPF and CAA: one or more "quoted" strings
-- (with \" \\ and \DDD escapes). A string longer than 255 octets is split
-- into strings of 255 octets, as BIND and Knot do when they load a zone.
-- Unquoted text is taken as one string and quoted. Returns the normalized
-- content.
CREATE OR REPLACE FUNCTION zonemesh.check_character_strings(content text, what text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  s text := btrim(content);
  pos integer := 1;
  len integer;
  ch text;
  tok text;
  tok_octets integer;
  octets integer;
  result text := '';
  piece text;
BEGIN
  IF s = '' THEN
    RAISE EXCEPTION '% is empty', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF left(s, 1) <> '"' THEN
    s := '"' || replace(replace(s, '\', '\\'), '"', '\"') || '"';
  END IF;
  len := length(s);
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
          tok := substr(s, pos, 4);
          tok_octets := 1;
          pos := pos + 4;
        ELSIF pos + 1 <= len THEN
          tok := substr(s, pos, 2);
          tok_octets := octet_length(substr(s, pos + 1, 1));
          pos := pos + 2;
        ELSE
          RAISE EXCEPTION '% "%": dangling backslash', what, content
            USING ERRCODE = 'invalid_parameter_value';
        END IF;
      ELSE
        tok := ch;
        tok_octets := octet_length(ch);
        pos := pos + 1;
      END IF;
      IF octets + tok_octets > 255 THEN
        -- Full: this string ends here and the next one starts with tok.
        result := result || CASE WHEN result = '' THEN '' ELSE ' ' END || piece || '"';
        piece := '"';
        octets := 0;
      END IF;
      piece := piece || tok;
      octets := octets + tok_octets;
    END LOOP;
    result := result || CASE WHEN result = '' THEN '' ELSE ' ' END || piece || '"';
  END LOOP;
  RETURN result;
END $$;

-- Checks content for a record type and returns it normalized. owner is only
-- used in messages. Generic RDATA (\# ...) is accepted for every type but
-- SOA and checked for its length; zone-file import and the server turn it
-- into the type's usual form where they know it.
CREATE OR REPLACE FUNCTION zonemesh.check_content(rtype text, content text, owner text) RETURNS text
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
  IF rtype ~ '^TYPE[0-9]+$' THEN
    IF zonemesh.type_mnemonic(substr(rtype, 5)::integer) IS NOT NULL THEN
      RAISE EXCEPTION 'record %: % is type %; write the type as %', owner, rtype,
        zonemesh.type_mnemonic(substr(rtype, 5)::integer), zonemesh.type_mnemonic(substr(rtype, 5)::integer)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN zonemesh.check_generic_rdata(c, what);
  END IF;
  IF left(c, 2) = '\#' THEN
    IF rtype = 'SOA' THEN
      RAISE EXCEPTION '% "%": a SOA is written in its usual form', what, content
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN zonemesh.check_generic_rdata(c, what);
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
    -- "." is data like any other name for NS and CNAME (Knot and NSD load
    -- it); a resolver simply finds nothing there.
    IF rtype IN ('NS', 'CNAME') THEN
      RETURN zonemesh.content_name(c, what);
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
  WHEN 'EUI48' THEN
    IF c !~ '^[0-9a-fA-F]{2}(-[0-9a-fA-F]{2}){5}$' THEN
      RAISE EXCEPTION '% "%" is not an EUI-48 address: six hex pairs joined by "-" (RFC 7043)',
        what, content USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN lower(c);
  WHEN 'EUI64' THEN
    IF c !~ '^[0-9a-fA-F]{2}(-[0-9a-fA-F]{2}){7}$' THEN
      RAISE EXCEPTION '% "%" is not an EUI-64 address: eight hex pairs joined by "-" (RFC 7043)',
        what, content USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN lower(c);
  ELSE
    IF c ~ '[[:cntrl:]]' THEN
      RAISE EXCEPTION '% contains control characters', what USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN c;
  END CASE;
END $$;
