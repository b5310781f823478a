-- The address a recorded check ran against: a listed target is shared, so a score says what
-- answered, not who wrote it.
ALTER TABLE check_result ADD COLUMN target TEXT NOT NULL DEFAULT '';
