// Package audit is certrescue's tamper-evident audit log: every state-changing
// command appends an Event (who, when, which certificate, what happened), and
// Verify proves that nobody edited, deleted, inserted, reordered or (with a
// checkpoint) truncated events afterwards.
//
// # Inputs and outputs
//
// Input: Events built by the command layer (time from its clock, operator,
// certificate facts), a DSN naming the store (ParseDSN), an optional
// Checkpoint. Output: stored events, a Report from Verify (or VerifyExport),
// events streamed by Events in an export format (Encoder). The package never prints and never
// reads the clock: an Event carries its time.
//
// It does not decide what is audited (the command layer does), does not sign
// events (the chain is tamper-evident, not tamper-proof: see "What verify
// proves"), and never stores key material: Append redacts any field that looks
// like a PEM private key, and events have no field for keys.
//
// # Stores
//
// SQLite (modernc.org/sqlite, no cgo) by default, at
// /var/lib/certrescue/audit.db: directory 0700, file 0600, WAL journal,
// synchronous=FULL, so a commit is fsynced before Append returns. MySQL or
// MariaDB (mysql://USER:PASS@HOST:PORT/DB) and PostgreSQL
// (postgres://USER:PASS@HOST:PORT/DB) hold one log for a fleet. All three run
// the same tests. PostgreSQL sessions set synchronous_commit=on whatever the
// server's default; on MySQL/MariaDB keep innodb_flush_log_at_trx_commit=1 (the
// default), which a session cannot set: with 0 or 2 a crash of the database
// host can lose events the nodes were told were stored. Requires PostgreSQL 14,
// MariaDB 10.2 or MySQL 8.0.29 or later (generated columns, JSON functions,
// CREATE [OR REPLACE] TRIGGER).
//
// # Schema
//
// One table, cert_audit, extending the field guide's (id, cert_name,
// action_type, expire_date, operator, created_at):
//
//	id         the event's position in the chain: 1, 2, 3, ... (primary key)
//	record     the event as a JSON object (below): the bytes that are hashed
//	hash       lower-case hex SHA-256 of record
//	prev_hash, created_at, action_type, cert_name, cert_path, serial,
//	fingerprint_sha256, not_before, expire_date, issuer, prev_fingerprint,
//	operator, os_user, host, command, result, error, detail
//	           generated columns, derived from record (SQLite and MariaDB
//	           VIRTUAL, PostgreSQL STORED): queryable and indexed
//	           (cert_name, action_type, created_at, operator), never
//	           editable on their own.
//
// Triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on cert_audit.
// Appending needs only SELECT and INSERT on the table, so a fleet's database
// user can be granted just those (GRANT SELECT, INSERT ON db.cert_audit TO ...);
// creating the schema needs CREATE once (the first Open, or a DBA).
//
// # The record and the hash chain
//
// An event's record is the UTF-8 JSON object, no whitespace, with exactly these
// keys in this order:
//
//	{"id":N,"prev_hash":"…","created_at":"…","action_type":"…","cert_name":"…",
//	 "cert_path":"…","serial":"…","fingerprint_sha256":"…","not_before":"…",
//	 "expire_date":"…","issuer":"…","prev_fingerprint":"…","operator":"…",
//	 "os_user":"…","host":"…","command":"…","result":"…","error":"…","detail":"…"}
//
// id is a decimal number; every other value is a string, encoded as Go's
// encoding/json does (so <, > and & appear as \u003c, \u003e, \u0026). Times
// are UTC with microseconds, fixed width: 2006-01-02T15:04:05.000000Z (empty
// when absent), so text order is time order. Strings are valid UTF-8 without
// control characters other than tab and newline, capped (255 bytes for names,
// 8192 for paths, commands and errors) before hashing.
//
// hash(event) = hex(SHA-256(record)), and record.prev_hash = hash(previous
// event); the first event's prev_hash is 64 zeros. So anyone can check one
// event with standard tools:
//
//	sqlite3 audit.db "SELECT record FROM cert_audit WHERE id=5" | tr -d '\n' | sha256sum
//
// and an export in JSON lines is the record with ,"hash":"…" added before the
// closing brace.
//
// # What verify proves
//
// Verify streams the table ordered by id and stops at the first bad event,
// naming it and the two events the chain breaks between (Problem.From and
// To): an id gap (events deleted: "between events 5 and 7"), a record whose id
// is not its position (moved: renumbered, reordered, inserted), a prev_hash
// that is not the previous event's hash (event N edited and its hash
// recomputed: "between events N and N+1"; or an event between them removed),
// a record that does not hash to its stored hash (edited). The newest event
// edited with its hash recomputed leaves no later event to break: only a
// checkpoint shows it.
//
// Verify also reads the append-only triggers from the database's catalog
// (CheckGuards): one dropped, changed (another body, event or timing, a WHEN
// condition) or disabled (PostgreSQL) is a GuardProblem of the Report, since
// without it the table accepts any change. A MySQL user without the TRIGGER
// privilege sees that a trigger exists but not its statement: that is a note,
// not a finding. Given a Checkpoint (COUNT:HASH, printed by
// `certrescue audit checkpoint` and kept elsewhere), it also checks that event
// COUNT still has HASH, which catches a truncated tail and a chain rewritten
// from some event on by someone who recomputed every later hash. Without a
// checkpoint such a full rewrite, or deleting the newest events, cannot be
// detected: keep checkpoints outside the node (a ticket, a log shipper).
//
// VerifyExport runs the same checks over a whole-log JSON-lines export, so an
// auditor can verify a copy without access to the store.
//
// # Reading only
//
// OpenReadOnly is for the commands that only read (verify, checkpoint, list,
// show, export): it creates nothing (no file, directory or schema: a missing
// log is ErrNoLog), refuses Append, and reads in read-only transactions
// (MySQL/MariaDB sessions SET SESSION TRANSACTION READ ONLY, PostgreSQL
// default_transaction_read_only=on, SQLite mode=ro and query_only), so it
// works on a read-only mount of a node's disk. A SQLite log in a directory
// that cannot be written is opened immutable=1 (no -wal or -shm file needed)
// unless a non-empty audit.db-wal holds events not yet in audit.db: then it
// is read through the audit.db-shm beside it, or refused (ErrWALUnreadable)
// when that is missing, never read short. In a writable directory SQLite
// itself may create empty -wal and -shm files, with the database's mode.
//
// # Concurrency and crashes
//
// Appends from many processes form one linear chain: each takes the log's
// write lock (SQLite: BEGIN IMMEDIATE; MySQL: GET_LOCK on a per-database name;
// PostgreSQL: a transaction-scoped advisory lock), reads the last id and hash,
// inserts id+1 and commits. The primary key on id is the safety net: a
// conflict is retried. A process killed mid-append leaves its transaction
// uncommitted: the event is wholly there or absent.
package audit
