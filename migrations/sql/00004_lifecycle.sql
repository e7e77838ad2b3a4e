-- +goose Up
-- Portal sessions, by SHA-256 of the session token. Operational state, not
-- history: revoked in the same transaction as the event that ends access
-- (deactivation, removal, access revoked, password set).
CREATE TABLE portal_sessions (
    token_hash  TEXT PRIMARY KEY,
    org_id      UUID        NOT NULL,
    user_id     UUID        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX portal_sessions_user ON portal_sessions (user_id) WHERE revoked_at IS NULL;

-- Failed portal logins per address, for the back-off.
CREATE TABLE login_failures (
    org_id       UUID        NOT NULL,
    email        TEXT        NOT NULL,
    failures     INT         NOT NULL,
    locked_until TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, email)
);

-- Addresses that submitted a ticket (TicketCreated), for the
-- previous_requesters sign-up policy; written with the event.
CREATE TABLE requesters (
    org_id          UUID        NOT NULL,
    email           TEXT        NOT NULL,
    first_ticket_id TEXT        NOT NULL,
    tickets         INT         NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, email)
);

-- Read models (projections.Roles, projections.Companies).
CREATE TABLE roles_view (
    role_id     UUID PRIMARY KEY,
    org_id      UUID  NOT NULL,
    name        TEXT  NOT NULL,
    permissions JSONB NOT NULL
);
CREATE INDEX roles_view_org ON roles_view (org_id, name);

CREATE TABLE companies_view (
    company_id    UUID PRIMARY KEY,
    org_id        UUID        NOT NULL,
    name          TEXT        NOT NULL,
    parent_id     UUID,
    manager       TEXT        NOT NULL DEFAULT '',
    location      TEXT        NOT NULL DEFAULT '',
    properties    JSONB       NOT NULL DEFAULT '{}',
    portal_active BOOLEAN     NOT NULL DEFAULT false,
    permissions   JSONB       NOT NULL DEFAULT '{}',
    version       INT         NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX companies_view_org ON companies_view (org_id, name, company_id);

ALTER TABLE users_view ADD COLUMN permissions JSONB NOT NULL DEFAULT '{}';
CREATE INDEX users_view_org_company ON users_view (org_id, company_id, created_at, user_id);

-- +goose Down
DROP INDEX users_view_org_company;
ALTER TABLE users_view DROP COLUMN permissions;
DROP TABLE companies_view;
DROP TABLE roles_view;
DROP TABLE requesters;
DROP TABLE login_failures;
DROP TABLE portal_sessions;
