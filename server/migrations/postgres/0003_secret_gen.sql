-- The generation of a class's instructor secret: the secret is signed with it, and rotating
-- the secret adds one, so every secret (and instructor cookie) of an older generation is refused.
ALTER TABLE class ADD COLUMN secret_gen BIGINT NOT NULL DEFAULT 0;
