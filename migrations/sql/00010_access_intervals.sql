-- +goose Up
-- Read model of who had portal access when (projections.Access): one row
-- per stretch of time during which a user had access with one set of
-- effective permissions. The access_* state tables are the projection's
-- own view of what access depends on, so it needs no other read model.
CREATE TABLE access_orgs (
    org_id  UUID PRIMARY KEY,
    enabled BOOLEAN NOT NULL DEFAULT false,
    roles   JSONB   NOT NULL DEFAULT '{}'
);

CREATE TABLE access_companies (
    company_id UUID PRIMARY KEY,
    org_id     UUID    NOT NULL,
    active     BOOLEAN NOT NULL DEFAULT false,
    perms      JSONB   NOT NULL DEFAULT '{}'
);

CREATE TABLE access_users (
    user_id       UUID PRIMARY KEY,
    org_id        UUID    NOT NULL,
    company_id    UUID,
    role_id       UUID,
    perms         JSONB   NOT NULL DEFAULT '{}',
    portal_access BOOLEAN NOT NULL,
    has_account   BOOLEAN NOT NULL DEFAULT false,
    deactivated   BOOLEAN NOT NULL DEFAULT false,
    removed       BOOLEAN NOT NULL DEFAULT false,
    invitation    UUID,
    invited       BOOLEAN NOT NULL DEFAULT false,
    status        TEXT    NOT NULL,
    version       INT     NOT NULL
);
CREATE INDEX access_users_org ON access_users (org_id);
CREATE INDEX access_users_company ON access_users (company_id);
CREATE INDEX access_users_role ON access_users (role_id);

CREATE TABLE access_intervals (
    org_id      UUID        NOT NULL,
    user_id     UUID        NOT NULL,
    valid_from  TIMESTAMPTZ NOT NULL,
    valid_to    TIMESTAMPTZ,
    permissions JSONB       NOT NULL,
    PRIMARY KEY (user_id, valid_from)
);
CREATE INDEX access_intervals_org_time ON access_intervals (org_id, valid_from);
CREATE INDEX access_intervals_open ON access_intervals (user_id) WHERE valid_to IS NULL;

-- +goose Down
DROP TABLE access_intervals;
DROP TABLE access_users;
DROP TABLE access_companies;
DROP TABLE access_orgs;
