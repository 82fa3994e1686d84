-- Agents' transfers of a call (to another queue or a plan target): counted per call row.
ALTER TABLE calls ADD COLUMN transfers BIGINT NOT NULL DEFAULT 0;
