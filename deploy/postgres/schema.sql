-- deploy/postgres/schema.sql -- where kpgate-shipper keeps the audit records
-- of a fleet of gateways (docs/operations.md, "Shipping audit records to
-- PostgreSQL"; the log format is docs/audit.md).
--
--   psql -v ON_ERROR_STOP=1 -d kpgate -f deploy/postgres/schema.sql
--
-- Idempotent: running it again (after an upgrade) keeps every row. The
-- database must be UTF8 (the shipper refuses another encoding).
--
-- Every record of a gateway's log is one row, the log header, OPEN and CLOSE
-- records included, because the hash chain runs through all of them. A row
-- keeps the record's bytes as the gateway wrote them (raw), its hash and its
-- previous-record hash, and the fields decoded into columns for queries;
-- kpgate_verify_chain() checks the chain from the bytes and that every
-- column still says what the bytes say.

BEGIN;

CREATE OR REPLACE FUNCTION kpgate_schema_version() RETURNS integer
LANGUAGE sql IMMUTABLE AS 'SELECT 1';

-- How far each gateway's log was shipped. The shipper moves it in the same
-- transaction as the rows it inserts: both are there, or neither.
CREATE TABLE IF NOT EXISTS kpgate_ship_position (
	gateway_id   text PRIMARY KEY,            -- the log header's gateway id
	header_hash  bytea NOT NULL CHECK (length(header_hash) = 32),
	log_created  bigint NOT NULL,             -- Unix seconds, from the header
	next_index   bigint NOT NULL DEFAULT 0,   -- the next record to ship
	next_offset  bigint NOT NULL DEFAULT 0,   -- its byte offset in the log
	last_hash    bytea NOT NULL CHECK (length(last_hash) = 32),
	shipped_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS kpgate_audit_record (
	gateway_id      text NOT NULL REFERENCES kpgate_ship_position,
	rec_index       bigint NOT NULL,          -- 0: the log header
	rec_offset      bigint NOT NULL,          -- byte offset in the log
	rec_type        smallint NOT NULL,        -- 1 header, 2 open, 3 close, 4 decision
	version         smallint NOT NULL,
	prev_hash       bytea NOT NULL,
	hash            bytea NOT NULL,
	raw             bytea NOT NULL,           -- the record, hash included
	unix_time       bigint,                   -- created / opened / closed / answered
	-- DECISION records
	lcore           integer,
	seq             bigint,
	request_id      numeric(20, 0),
	trust_version   numeric(20, 0),
	decision        smallint,                 -- kpgate_code 'decision'
	error           smallint,                 -- kpgate_code 'error'; 0: none
	key_id          bytea,
	station         text,                     -- NULL: the bytes are not UTF-8
	certificate     text,                     -- '' when not decoded; NULL as above
	verdicts        jsonb,                    -- [{"check", "decision", "reason"}]
	-- OPEN and CLOSE records
	open_flags      smallint,                 -- 1: run before unclean, 2: torn tail cut
	torn_offset     bigint,
	torn_bytes      bigint,
	close_decisions bigint,
	-- The chain is walked in record order; a decision is known by its
	-- worker and sequence, which kpgate never gives out twice in one log.
	PRIMARY KEY (gateway_id, rec_index),
	UNIQUE (gateway_id, lcore, seq)
);

CREATE INDEX IF NOT EXISTS kpgate_audit_record_certificate
	ON kpgate_audit_record (certificate) WHERE rec_type = 4;
CREATE INDEX IF NOT EXISTS kpgate_audit_record_time
	ON kpgate_audit_record (gateway_id, unix_time);

-- Names of the codes, written by the shipper from the kpgate build it was
-- built with, so they never drift from the gateway's own names.
CREATE TABLE IF NOT EXISTS kpgate_code (
	kind  text NOT NULL,                      -- 'decision', 'error', 'reason'
	code  bigint NOT NULL,
	name  text NOT NULL,
	PRIMARY KEY (kind, code)
);

-- Decisions with names, for people.
CREATE OR REPLACE VIEW kpgate_decisions AS
SELECT r.gateway_id, r.rec_index, r.lcore, r.seq,
       to_timestamp(r.unix_time) AS answered_at,
       r.station, r.request_id, r.certificate,
       coalesce(d.name, r.decision::text) AS decision,
       CASE WHEN r.error = 0 THEN NULL ELSE coalesce(e.name, r.error::text) END AS error,
       encode(r.key_id, 'hex') AS key_id, r.trust_version, r.verdicts
FROM kpgate_audit_record r
LEFT JOIN kpgate_code d ON d.kind = 'decision' AND d.code = r.decision
LEFT JOIN kpgate_code e ON e.kind = 'error' AND e.code = r.error
WHERE r.rec_type = 4;

-- ---- shipping (called by kpgate-shipper) -----------------------------------

-- Opens a shipping transaction: locks the gateway's position and checks it
-- is where this shipper left it. A second shipper of the same log, or a
-- commit whose answer was lost, has moved it: raise, so the whole
-- transaction (the inserts after this) rolls back and the shipper rereads.
CREATE OR REPLACE FUNCTION kpgate_ship_begin(gw text, at_index bigint, at_hash bytea)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM kpgate_ship_position p
	WHERE p.gateway_id = gw AND p.next_index = at_index AND p.last_hash = at_hash
	FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the shipping position of gateway % is not at record %',
			gw, at_index USING ERRCODE = 'KP001';
	END IF;
END $$;

-- ---- verification ----------------------------------------------------------

-- Little-endian unsigned integer of n bytes at byte off (0-based) of b.
CREATE OR REPLACE FUNCTION kpgate_le(b bytea, off integer, n integer)
RETURNS numeric LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	v numeric := 0;
BEGIN
	FOR k IN REVERSE n - 1 .. 0 LOOP
		v := v * 256 + get_byte(b, off + k);
	END LOOP;
	RETURN v;
END $$;

-- The same, signed 64-bit (times).
CREATE OR REPLACE FUNCTION kpgate_le_i64(b bytea, off integer)
RETURNS numeric LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT CASE WHEN v >= 9223372036854775808 THEN v - 18446744073709551616 ELSE v END
	FROM kpgate_le(b, off, 8) AS v
$$;

-- Does a text column hold exactly these bytes? NULL stands for bytes that
-- are not UTF-8 (a certificate number cut at 64 bytes inside a character):
-- only such bytes may have a NULL column.
CREATE OR REPLACE FUNCTION kpgate_text_is(col text, bytes bytea)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF col IS NOT NULL THEN
		RETURN convert_to(col, 'UTF8') = bytes;
	END IF;
	BEGIN
		PERFORM convert_from(bytes, 'UTF8');
		RETURN false;
	EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
		RETURN true;
	END;
END $$;

-- Which column of a row does not say what its record's bytes say (NULL:
-- none). Decodes the bytes itself, so a check needs no trust in the shipper.
-- The record's length was checked by the caller.
CREATE OR REPLACE FUNCTION kpgate_record_mismatch(r kpgate_audit_record)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	b bytea := r.raw;
	n integer := length(r.raw) - 32;          -- the body ends before the hash
	p integer;
	k integer;
	nv integer;
	e jsonb;
BEGIN
	IF r.version <> kpgate_le(b, 4, 2) THEN RETURN 'version'; END IF;
	IF r.rec_type <> kpgate_le(b, 6, 2) THEN RETURN 'rec_type'; END IF;
	IF r.version <> 1 OR r.rec_type NOT BETWEEN 1 AND 4 THEN
		RETURN NULL;                      -- newer: chained, not read
	END IF;
	IF r.rec_type = 1 THEN                    -- header
		IF n < 57 OR substring(b FROM 41 FOR 8) <> '\x4b50474155444954'::bytea THEN
			RETURN 'raw (not a log header)';
		END IF;
		IF r.unix_time IS DISTINCT FROM kpgate_le_i64(b, 48) THEN RETURN 'unix_time'; END IF;
		IF n <> 57 + get_byte(b, 56) OR
		   NOT kpgate_text_is(r.gateway_id, substring(b FROM 58 FOR get_byte(b, 56))) THEN
			RETURN 'gateway_id';
		END IF;
		RETURN NULL;
	END IF;
	IF r.rec_type = 2 THEN                    -- open
		IF n <> 65 THEN RETURN 'raw (length of an open record)'; END IF;
		IF r.unix_time IS DISTINCT FROM kpgate_le_i64(b, 40) THEN RETURN 'unix_time'; END IF;
		IF r.open_flags IS DISTINCT FROM get_byte(b, 48) THEN RETURN 'open_flags'; END IF;
		IF r.torn_offset IS DISTINCT FROM kpgate_le(b, 49, 8) THEN RETURN 'torn_offset'; END IF;
		IF r.torn_bytes IS DISTINCT FROM kpgate_le(b, 57, 8) THEN RETURN 'torn_bytes'; END IF;
		RETURN NULL;
	END IF;
	IF r.rec_type = 3 THEN                    -- close
		IF n <> 56 THEN RETURN 'raw (length of a close record)'; END IF;
		IF r.unix_time IS DISTINCT FROM kpgate_le_i64(b, 40) THEN RETURN 'unix_time'; END IF;
		IF r.close_decisions IS DISTINCT FROM kpgate_le(b, 48, 8) THEN
			RETURN 'close_decisions';
		END IF;
		RETURN NULL;
	END IF;
	-- decision
	IF n < 98 THEN RETURN 'raw (length of a decision record)'; END IF;
	IF r.lcore IS DISTINCT FROM kpgate_le(b, 40, 4) THEN RETURN 'lcore'; END IF;
	IF r.seq IS DISTINCT FROM kpgate_le(b, 44, 8) THEN RETURN 'seq'; END IF;
	IF r.unix_time IS DISTINCT FROM kpgate_le_i64(b, 52) THEN RETURN 'unix_time'; END IF;
	IF r.request_id IS DISTINCT FROM kpgate_le(b, 60, 8) THEN RETURN 'request_id'; END IF;
	IF r.trust_version IS DISTINCT FROM kpgate_le(b, 68, 8) THEN RETURN 'trust_version'; END IF;
	IF r.decision IS DISTINCT FROM get_byte(b, 76) THEN RETURN 'decision'; END IF;
	IF r.error IS DISTINCT FROM get_byte(b, 77) THEN RETURN 'error'; END IF;
	IF r.key_id IS DISTINCT FROM (CASE WHEN get_byte(b, 78) & 1 = 1
				       THEN substring(b FROM 81 FOR 16) END) THEN
		RETURN 'key_id';
	END IF;
	p := 96;                                  -- station: length, bytes
	IF NOT kpgate_text_is(r.station, substring(b FROM p + 2 FOR get_byte(b, p))) THEN
		RETURN 'station';
	END IF;
	p := p + 1 + get_byte(b, p);
	IF p >= n OR NOT kpgate_text_is(r.certificate,
					  substring(b FROM p + 2 FOR get_byte(b, p))) THEN
		RETURN 'certificate';
	END IF;
	p := p + 1 + get_byte(b, p);
	nv := get_byte(b, 79);
	IF jsonb_typeof(r.verdicts) IS DISTINCT FROM 'array' OR
	   jsonb_array_length(r.verdicts) <> nv THEN
		RETURN 'verdicts';
	END IF;
	FOR k IN 0 .. nv - 1 LOOP
		e := r.verdicts -> k;
		IF p >= n OR p + 1 + get_byte(b, p) + 5 > n OR
		   jsonb_typeof(e) IS DISTINCT FROM 'object' OR
		   e - 'check' - 'decision' - 'reason' <> '{}'::jsonb OR
		   NOT kpgate_text_is(e ->> 'check', substring(b FROM p + 2 FOR get_byte(b, p))) THEN
			RETURN format('verdicts (verdict %s)', k + 1);
		END IF;
		p := p + 1 + get_byte(b, p);
		IF (e ->> 'decision')::numeric IS DISTINCT FROM get_byte(b, p) OR
		   (e ->> 'reason')::numeric IS DISTINCT FROM kpgate_le(b, p + 1, 4) THEN
			RETURN format('verdicts (verdict %s)', k + 1);
		END IF;
		p := p + 5;
	END LOOP;
	IF p <> n THEN RETURN 'raw (bytes after the verdicts)'; END IF;
	RETURN NULL;
END $$;

-- Verifies a gateway's records as kpgate-audit verifies its log: in record
-- order, every record's bytes against its hash, every previous-record hash
-- against the record before, no record missing, each lcore's sequence
-- rising; with check_fields, every column against the record's bytes; and
-- the last record against the position the shipper committed (rows removed
-- from the end). One row: intact, and when not, the first break: the record
-- (index, offset, lcore, seq) and why. STABLE: one snapshot for the rows
-- and the position, so it can run while the shipper inserts.
CREATE OR REPLACE FUNCTION kpgate_verify_chain(gateway text, check_fields boolean DEFAULT true)
RETURNS TABLE (intact boolean, records bigint, rec_index bigint, rec_offset bigint,
	       lcore integer, seq bigint, problem text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	r kpgate_audit_record;
	pos kpgate_ship_position;
	want_index bigint := 0;
	want_offset bigint := 0;
	want_prev bytea := decode(repeat('00', 32), 'hex');
	last_seq bigint[] := '{}';
	len integer;
	why text;
BEGIN
	SELECT * INTO pos FROM kpgate_ship_position p WHERE p.gateway_id = gateway;
	IF NOT FOUND THEN
		RETURN QUERY SELECT false, 0::bigint, NULL::bigint, NULL::bigint,
			NULL::integer, NULL::bigint, format('no records of gateway %L', gateway);
		RETURN;
	END IF;
	FOR r IN SELECT * FROM kpgate_audit_record a WHERE a.gateway_id = gateway
		 ORDER BY a.rec_index LOOP
		len := length(r.raw);
		why := NULL;
		IF r.rec_index > want_index THEN
			RETURN QUERY SELECT false, want_index, want_index, want_offset,
				NULL::integer, NULL::bigint,
				format('record %s is missing (the next one stored is %s)',
				       want_index, r.rec_index);
			RETURN;
		ELSIF r.rec_offset <> want_offset THEN
			why := format('its offset is not %s, where record %s ends',
				      want_offset, want_index - 1);
		ELSIF len < 72 OR len > 4096 OR kpgate_le(r.raw, 0, 4) <> len THEN
			why := 'its bytes have an impossible length';
		ELSIF substring(r.raw FROM len - 31) <> r.hash THEN
			why := 'the stored hash is not the one in its bytes';
		ELSIF sha256(substring(r.raw FOR len - 32)) <> r.hash THEN
			why := 'its bytes do not match its hash (altered)';
		ELSIF substring(r.raw FROM 9 FOR 32) <> r.prev_hash THEN
			why := 'the stored previous hash is not the one in its bytes';
		ELSIF r.prev_hash <> want_prev THEN
			why := CASE WHEN want_index = 0 THEN
				'the header''s previous-record hash is not zero'
			ELSE format('its previous-record hash is not the hash of record %s '
				    '(a record was altered, removed or inserted)', want_index - 1)
			END;
		ELSIF (r.rec_index = 0) <> (r.rec_type = 1) THEN
			why := CASE WHEN r.rec_index = 0 THEN 'record 0 is not a log header'
			       ELSE 'a second log header' END;
		ELSIF r.rec_type = 4 AND r.version = 1 AND
		      (r.lcore IS NULL OR r.lcore NOT BETWEEN 0 AND 1023 OR r.seq IS NULL OR
		       r.seq <= coalesce(last_seq[r.lcore + 1], 0)) THEN
			why := format('lcore %s sequence goes back from %s to %s', r.lcore,
				      last_seq[r.lcore + 1], r.seq);
		ELSIF check_fields THEN
			why := kpgate_record_mismatch(r);
			IF why IS NOT NULL THEN
				why := format('column %s differs from its bytes', why);
			END IF;
		END IF;
		IF why IS NOT NULL THEN
			RETURN QUERY SELECT false, want_index, r.rec_index, r.rec_offset,
				r.lcore, r.seq, format('record %s: %s', r.rec_index, why);
			RETURN;
		END IF;
		IF r.rec_type = 4 AND r.version = 1 THEN
			last_seq[r.lcore + 1] := r.seq;
		END IF;
		want_index := want_index + 1;
		want_offset := want_offset + len;
		want_prev := r.hash;
	END LOOP;
	-- The tip: rows removed from the end leave an intact, shorter chain;
	-- the position, committed with the rows, still names the last one.
	IF want_index <> pos.next_index OR want_offset <> pos.next_offset OR
	   want_prev <> pos.last_hash THEN
		RETURN QUERY SELECT false, want_index, want_index, want_offset,
			NULL::integer, NULL::bigint,
			CASE WHEN want_index < pos.next_index THEN
				format('records %s to %s were shipped and are missing',
				       want_index, pos.next_index - 1)
			ELSE format('the last record (%s) is not the one shipped last (%s)',
				    want_index - 1, pos.next_index - 1) END;
		RETURN;
	END IF;
	RETURN QUERY SELECT true, want_index, NULL::bigint, NULL::bigint,
		NULL::integer, NULL::bigint, NULL::text;
END $$;

-- ---- roles -----------------------------------------------------------------

-- kpgate_shipper may add rows and move positions, never change or delete a
-- record; kpgate_auditor reads and verifies. Grant them to login roles.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kpgate_shipper') THEN
		CREATE ROLE kpgate_shipper NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kpgate_auditor') THEN
		CREATE ROLE kpgate_auditor NOLOGIN;
	END IF;
END $$;

REVOKE ALL ON kpgate_audit_record, kpgate_ship_position, kpgate_code FROM PUBLIC;
GRANT SELECT, INSERT ON kpgate_audit_record TO kpgate_shipper;
GRANT SELECT, INSERT, UPDATE ON kpgate_ship_position, kpgate_code TO kpgate_shipper;
GRANT SELECT ON kpgate_audit_record, kpgate_ship_position, kpgate_code,
	kpgate_decisions TO kpgate_auditor;

COMMIT;
