-- +goose Up
-- Read model of portal users (projections.Users). Rebuildable from events.
CREATE TABLE users_view (
    user_id               UUID PRIMARY KEY,
    org_id                UUID        NOT NULL,
    company_id            UUID,
    role_id               UUID,
    first_name            TEXT        NOT NULL,
    last_name             TEXT        NOT NULL,
    email                 TEXT        NOT NULL,
    status                TEXT        NOT NULL,
    portal_access         BOOLEAN     NOT NULL,
    has_account           BOOLEAN     NOT NULL DEFAULT false,
    deactivated           BOOLEAN     NOT NULL DEFAULT false,
    removed               BOOLEAN     NOT NULL DEFAULT false,
    properties            JSONB       NOT NULL DEFAULT '{}',
    invitation_id         UUID,
    invitation_status     TEXT,
    invitation_expires_at TIMESTAMPTZ,
    version               INT         NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_view_org_order ON users_view (org_id, created_at, user_id);
CREATE INDEX users_view_org_email ON users_view (org_id, lower(email));

-- +goose Down
DROP TABLE users_view;
