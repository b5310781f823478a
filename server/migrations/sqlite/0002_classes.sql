-- Classes, their students and what the students did. Ids are the store's short random ids;
-- times are Unix milliseconds. The instructor secrets, resume links and cookies are all
-- signed with the key in signing_key, so none of them is stored.
CREATE TABLE class (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    join_code  TEXT    NOT NULL UNIQUE,  -- what students type to join
    created_ms INTEGER  NOT NULL,
    closed_ms  INTEGER                    -- set when the instructor closes it to new joins
);
CREATE TABLE student (
    id         TEXT    PRIMARY KEY,
    class_id   TEXT    NOT NULL REFERENCES class (id),
    name       TEXT    NOT NULL,         -- the display name as typed (trimmed)
    name_key   TEXT    NOT NULL,         -- lower-cased: names are unique per class, ignoring case
    joined_ms  INTEGER  NOT NULL,
    UNIQUE (class_id, name_key)
);
-- A lab step a student passed, with the answers that passed it (the first pass is kept).
CREATE TABLE lab_progress (
    student_id TEXT    NOT NULL REFERENCES student (id),
    lab        TEXT    NOT NULL,
    step       TEXT    NOT NULL,
    answers    TEXT    NOT NULL,         -- a JSON object, question id to answer
    done_ms    INTEGER  NOT NULL,
    PRIMARY KEY (student_id, lab, step)
);
-- A student's best check of each program: points passed out of the rubric's total.
CREATE TABLE check_result (
    student_id TEXT    NOT NULL REFERENCES student (id),
    program    TEXT    NOT NULL,
    passed     INTEGER  NOT NULL,
    total      INTEGER  NOT NULL,
    at_ms      INTEGER  NOT NULL,
    PRIMARY KEY (student_id, program)
);
-- Keys shared by every instance: the one that signs cookies, resume links and class secrets.
CREATE TABLE signing_key (
    name       TEXT    PRIMARY KEY,
    key        BLOB   NOT NULL
);
CREATE INDEX saved_exchange_owner ON saved_exchange (owner);
