-- Moving to a new phone (docs/push-protocol.md §9).

-- Nonces of hand-off authorizations already used: each is accepted once.
-- Kept until a minute after the authorization's expiry.
CREATE TABLE handoff_nonces (
    nonce     TEXT    PRIMARY KEY,
    device_id TEXT    NOT NULL,
    exp       INTEGER NOT NULL,
    used_at   INTEGER NOT NULL
);
CREATE INDEX handoff_nonces_by_exp ON handoff_nonces (exp);

-- When this device reported that a replacing enrollment was not the
-- user's doing ("not me"); the user is then blocked like after a fraud
-- report. Shown in the RP's device list.
ALTER TABLE devices ADD COLUMN fraud_reported_at INTEGER;
