-- +goose Up
-- Every change to what an access decision reads is announced on the
-- channel gatehouse_access, delivered at commit, so that a server can keep
-- decisions between requests (projections.AccessCache) and drop them the
-- moment they may be wrong, whoever wrote the change: the live read
-- models, a worker in another process, or a hand-made fix. The payload is
-- "<org_id> <user_id>" for one user's row, "<org_id>" for what the whole
-- organization's decisions read (roles, companies, the portal switch), "*"
-- for everything (staff tokens have their own channel and cache). A
-- rebuild swaps in tables without triggers; the swap calls
-- gatehouse_access_triggers with them.

-- +goose StatementBegin
CREATE FUNCTION gatehouse_access_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_access', org_id::text || ' ' || user_id::text) FROM changed_rows;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION gatehouse_access_org_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_access', org_id::text) FROM (SELECT DISTINCT org_id FROM changed_rows) o;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- (Re)creates the triggers on those of tables that decisions read, and
-- announces that everything may have changed. A statement-level trigger
-- with a transition table serves one kind of change only, hence three per
-- table; a multi-row write notifies once per row (users) or per
-- organization, and PostgreSQL folds repeated payloads within a
-- transaction.
CREATE FUNCTION gatehouse_access_triggers(tables text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t record;
    op text;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('users_view', 'gatehouse_access_user_changed'),
            ('roles_view', 'gatehouse_access_org_changed'),
            ('companies_view', 'gatehouse_access_org_changed'),
            ('orgs_view', 'gatehouse_access_org_changed')) AS v(tbl, fn) WHERE tbl = ANY (tables) LOOP
        FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS access_%s ON public.%I', op, t.tbl);
            EXECUTE format('CREATE TRIGGER access_%s AFTER %s ON public.%I REFERENCING %s TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                op, op, t.tbl, CASE op WHEN 'delete' THEN 'OLD' ELSE 'NEW' END, t.fn);
        END LOOP;
    END LOOP;
    IF tables && ARRAY['users_view', 'roles_view', 'companies_view', 'orgs_view'] THEN
        PERFORM pg_notify('gatehouse_access', '*');
    END IF;
END $$;
-- +goose StatementEnd

SELECT gatehouse_access_triggers(ARRAY['users_view', 'roles_view', 'companies_view', 'orgs_view']);

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    t text;
    op text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users_view', 'roles_view', 'companies_view', 'orgs_view'] LOOP
        FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS access_%s ON public.%I', op, t);
        END LOOP;
    END LOOP;
END $$;
-- +goose StatementEnd
DROP FUNCTION gatehouse_access_triggers(text[]);
DROP FUNCTION gatehouse_access_org_changed();
DROP FUNCTION gatehouse_access_user_changed();
