-- TOTP verification for relying parties (docs/push-protocol.md §10.1).
-- One enrollment per RP user; enrolling again replaces the row.
CREATE TABLE totp (
    user         TEXT    PRIMARY KEY,
    -- The shared secret sealed with the server's data key (AES-256-GCM);
    -- never stored in the clear.
    secret       BLOB    NOT NULL,
    algorithm    TEXT    NOT NULL CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
    digits       INTEGER NOT NULL CHECK (digits BETWEEN 6 AND 8),
    period       INTEGER NOT NULL CHECK (period > 0),
    -- Offset in time steps between the user's authenticator and this
    -- server, learned from the last accepted code (RFC 6238 §6).
    drift        INTEGER NOT NULL DEFAULT 0,
    -- The last accepted time step: it and every earlier step are refused
    -- (each code is accepted once, RFC 6238 §5.2).
    last_step    INTEGER,
    -- Wrong codes in a row, and until when verification is locked (0: not).
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);
