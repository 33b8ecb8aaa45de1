-- Device-to-device transfer mailboxes: one ciphertext, short life, one read.
CREATE TABLE mailboxes (
    id TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    data BLOB
);
CREATE INDEX mailboxes_expiry ON mailboxes (expires_at);
