/**
 * @module daemon/store/schema
 *
 * The schema as an append-only list of migrations. Never edit a released migration:
 * add a new one. `schema_version` records each applied step (version, name, time); the
 * store refuses a database whose newest version it does not know (a downgrade would
 * silently misread state, which DESIGN.md forbids: "never by guessing").
 *
 * Invariants are enforced by SQLite itself, not only by store code:
 * - `allocations.ipv4` / `allocations.ipv6` are UNIQUE: one IP can back at most one live
 *   allocation, whatever the caller does (double assignment fails with SQLITE_CONSTRAINT_UNIQUE);
 * - foreign keys: allocation → ips, allocation → enis, ips → enis (ON DELETE RESTRICT);
 * - guard triggers: an allocation may only be inserted over IPs already marked `allocated`
 *   to the same pod on the same ENI with the right family; an IP referenced by an allocation
 *   can neither leave `allocated` nor be deleted; allocations are immutable;
 * - CHECKs tie `idle_since` to `idle`, `pod_key` to `allocated`, `result` to `done`, and
 *   require a ClientToken for the token-idempotent ops.
 */

export type Migration = { version: number; name: string; sql: string };

export const MIGRATIONS: readonly Migration[] = [
	{
		version: 1,
		name: "initial: enis, ips, allocations, intents",
		sql: `
CREATE TABLE enis (
	eni_id     TEXT PRIMARY KEY NOT NULL,
	mac        TEXT NOT NULL UNIQUE,
	type       TEXT NOT NULL CHECK (type IN ('primary', 'secondary', 'trunk', 'erdma')),
	vswitch_id TEXT NOT NULL,
	status     TEXT NOT NULL CHECK (status IN ('Available', 'Attaching', 'InUse', 'Detaching', 'Deleting')),
	primary_ip TEXT,
	ours       INTEGER NOT NULL CHECK (ours IN (0, 1)),
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE ips (
	ip         TEXT PRIMARY KEY NOT NULL,
	family     INTEGER NOT NULL CHECK (family IN (4, 6)),
	eni_id     TEXT NOT NULL REFERENCES enis (eni_id) ON DELETE RESTRICT,
	state      TEXT NOT NULL CHECK (state IN ('idle', 'allocated', 'releasing')),
	is_primary INTEGER NOT NULL DEFAULT 0 CHECK (is_primary IN (0, 1)),
	idle_since INTEGER,
	pod_key    TEXT,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	CHECK ((state = 'idle') = (idle_since IS NOT NULL)),
	CHECK ((state = 'allocated') = (pod_key IS NOT NULL)),
	CHECK ((family = 6) = (instr(ip, ':') > 0))
) STRICT;
CREATE INDEX ips_by_eni ON ips (eni_id);
CREATE INDEX ips_for_pick ON ips (state, family, idle_since);

CREATE TABLE allocations (
	id           INTEGER PRIMARY KEY,
	pod_key      TEXT NOT NULL,
	namespace    TEXT NOT NULL,
	name         TEXT NOT NULL,
	uid          TEXT NOT NULL,
	container_id TEXT NOT NULL,
	netns        TEXT NOT NULL,
	ifname       TEXT NOT NULL,
	ipv4         TEXT UNIQUE REFERENCES ips (ip) ON DELETE RESTRICT,
	ipv6         TEXT UNIQUE REFERENCES ips (ip) ON DELETE RESTRICT,
	eni_id       TEXT NOT NULL REFERENCES enis (eni_id) ON DELETE RESTRICT,
	datapath     TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	UNIQUE (pod_key, container_id),
	CHECK (pod_key = namespace || '/' || name),
	CHECK (ipv4 IS NOT NULL OR ipv6 IS NOT NULL)
) STRICT;
CREATE INDEX allocations_by_eni ON allocations (eni_id);

CREATE TRIGGER allocations_guard_insert BEFORE INSERT ON allocations
BEGIN
	SELECT RAISE(ABORT, 'allocation ipv4 is not an allocated IPv4 of this pod on this ENI')
	WHERE NEW.ipv4 IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM ips WHERE ip = NEW.ipv4 AND family = 4 AND eni_id = NEW.eni_id
			AND state = 'allocated' AND pod_key = NEW.pod_key);
	SELECT RAISE(ABORT, 'allocation ipv6 is not an allocated IPv6 of this pod on this ENI')
	WHERE NEW.ipv6 IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM ips WHERE ip = NEW.ipv6 AND family = 6 AND eni_id = NEW.eni_id
			AND state = 'allocated' AND pod_key = NEW.pod_key);
END;

CREATE TRIGGER allocations_immutable BEFORE UPDATE ON allocations
BEGIN
	SELECT RAISE(ABORT, 'allocations are immutable: release and allocate again');
END;

CREATE TRIGGER ips_guard_held BEFORE UPDATE ON ips
WHEN EXISTS (SELECT 1 FROM allocations WHERE ipv4 = OLD.ip OR ipv6 = OLD.ip)
	AND (NEW.state <> 'allocated' OR NEW.pod_key IS NOT OLD.pod_key OR NEW.eni_id <> OLD.eni_id
		OR NEW.ip <> OLD.ip)
BEGIN
	SELECT RAISE(ABORT, 'IP is held by a live allocation');
END;

CREATE TABLE intents (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	op           TEXT NOT NULL CHECK (op IN ('createEni', 'attachEni', 'detachEni', 'deleteEni',
		'assignIpv4', 'assignIpv6', 'unassignIpv4', 'unassignIpv6')),
	params       TEXT NOT NULL CHECK (json_valid(params)),
	client_token TEXT,
	state        TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'rolledback')),
	result       TEXT CHECK (result IS NULL OR json_valid(result)),
	error        TEXT,
	attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	CHECK ((state = 'done') = (result IS NOT NULL)),
	CHECK (op NOT IN ('createEni', 'assignIpv4', 'assignIpv6') OR client_token IS NOT NULL)
) STRICT;
CREATE UNIQUE INDEX intents_by_token ON intents (client_token) WHERE client_token IS NOT NULL;
CREATE INDEX intents_pending ON intents (id) WHERE state = 'pending';
`,
	},
];

export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Created outside the migrations, since it is how they are tracked. */
export const VERSION_TABLE_SQL = `
CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER PRIMARY KEY NOT NULL,
	name       TEXT NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT;`;
