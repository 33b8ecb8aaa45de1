-- Push approval (docs/push-protocol.md). Times are seconds since the Unix
-- epoch; ids are 128 random bits in base64url.

-- Relying-party API keys the server generated itself (configured keys are
-- never stored). Only the SHA-256 hash is kept.
CREATE TABLE api_keys (
    hash       BLOB    PRIMARY KEY,
    created_at INTEGER NOT NULL
);

-- The server's keys: one row. Made on first start, kept for the life of the
-- database: devices pin the signing key.
CREATE TABLE server_keys (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    signing_pkcs8 BLOB    NOT NULL,
    data_key      BLOB    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- What the server remembers about an RP user beyond their devices: the
-- fraud block and the denial cooldown.
CREATE TABLE users (
    user           TEXT    PRIMARY KEY,
    blocked        INTEGER NOT NULL DEFAULT 0,
    blocked_reason TEXT,
    blocked_at     INTEGER,
    cooldown_until INTEGER NOT NULL DEFAULT 0,
    cooldown_level INTEGER NOT NULL DEFAULT 0
);

-- Denied prompts, to count denials within the cooldown window.
CREATE TABLE denials (
    user TEXT    NOT NULL,
    at   INTEGER NOT NULL
);
CREATE INDEX denials_by_user ON denials (user, at);

-- One-time enrollment codes, stored only as SHA-256 hashes.
CREATE TABLE enrollments (
    code_hash  BLOB    PRIMARY KEY,
    user       TEXT    NOT NULL,
    account    TEXT    NOT NULL,
    replace_devices INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    device_id  TEXT
);
CREATE INDEX enrollments_by_expiry ON enrollments (expires_at);

CREATE TABLE devices (
    id                   TEXT    PRIMARY KEY,
    user                 TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    public_jwk           TEXT    NOT NULL,
    delivery             TEXT    NOT NULL,
    delivery_failed_at   INTEGER,
    created_at           INTEGER NOT NULL,
    last_seen            INTEGER NOT NULL,
    revoked_at           INTEGER,
    revoke_reason        TEXT
);
CREATE INDEX devices_by_user ON devices (user, revoked_at);

CREATE TABLE prompts (
    id            TEXT    PRIMARY KEY,
    user          TEXT    NOT NULL,
    site          TEXT    NOT NULL,
    context       TEXT    NOT NULL,
    mode          TEXT    NOT NULL CHECK (mode IN ('entry', 'choice')),
    number        TEXT    NOT NULL,
    choices       TEXT,
    nonce         TEXT    NOT NULL,
    iat           INTEGER NOT NULL,
    exp           INTEGER NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN
                    ('pending', 'approved', 'denied', 'fraud_reported', 'failed', 'expired')),
    attempts_left INTEGER NOT NULL,
    decided_at    INTEGER,
    device_id     TEXT,
    fraud         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX prompts_by_state ON prompts (state, exp);
CREATE INDEX prompts_by_user ON prompts (user, state);

-- One signed prompt per device; seq is the stream's event id.
CREATE TABLE deliveries (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_id TEXT    NOT NULL REFERENCES prompts (id),
    device_id TEXT    NOT NULL REFERENCES devices (id),
    jws       TEXT    NOT NULL,
    UNIQUE (prompt_id, device_id)
);
CREATE INDEX deliveries_by_device ON deliveries (device_id, seq);

-- Answers already used (SHA-256 of the answer JWS): single use.
CREATE TABLE used_answers (
    hash      BLOB    PRIMARY KEY,
    prompt_id TEXT    NOT NULL,
    used_at   INTEGER NOT NULL
);

-- Request-proof ids seen recently, kept across restarts so a restart does
-- not reopen the replay window.
CREATE TABLE proof_jtis (
    jti TEXT    PRIMARY KEY,
    iat INTEGER NOT NULL
);
CREATE INDEX proof_jtis_by_iat ON proof_jtis (iat);
