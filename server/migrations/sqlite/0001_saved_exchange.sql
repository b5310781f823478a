-- Saved exchanges: what a permalink shows, kept until the retention setting removes it.
-- Later tables (class, student, lab_progress, check_result) key on the same kind of text id
-- and point at saved_exchange.owner's student.
CREATE TABLE saved_exchange (
    id         TEXT    PRIMARY KEY,  -- the permalink's short id, drawn from a CSPRNG
    exchange   TEXT    NOT NULL,     -- the gateway's name for the exchange it came from
    protocol   TEXT    NOT NULL,     -- udp or tcp
    created_ms INTEGER NOT NULL,     -- Unix time, milliseconds
    events     TEXT    NOT NULL,     -- the timeline, a JSON array of events
    pcapng     BLOB,                 -- the capture, when there was one
    bytes      INTEGER NOT NULL,     -- events plus capture, checked against the size cap
    owner      TEXT                  -- who saved it (a student, later); NULL when anonymous
);
CREATE INDEX saved_exchange_created ON saved_exchange (created_ms);
