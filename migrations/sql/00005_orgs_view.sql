-- +goose Up
-- Read model of organizations' portal switch (projections.Orgs), the last
-- layer of the access decision.
CREATE TABLE orgs_view (
    org_id         UUID PRIMARY KEY,
    name           TEXT    NOT NULL,
    slug           TEXT    NOT NULL,
    portal_enabled BOOLEAN NOT NULL DEFAULT false,
    version        INT     NOT NULL
);

-- +goose Down
DROP TABLE orgs_view;
