package eventstore

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/uuid"

	"gatehouse/migrations/dbtest"
)

// Given users a batch will need (hinted as its rows are read), when the
// first of their keys is asked for, then all of them are loaded in that
// one query: they are known afterwards even with the table emptied.
func TestHintedKeysAreLoadedWithTheFirstMiss(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	ctx := context.Background()
	s := New(pool)
	org := uuid.NewString()
	users := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	keys := map[string][]byte{}
	for _, u := range users {
		key, err := NewUserKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[u] = key
		if _, err := pool.Exec(ctx, `INSERT INTO user_keys (user_id, org_id, key) VALUES ($1, $2, $3)`, u, org, key); err != nil {
			t.Fatal(err)
		}
	}
	s.keys.hint(users[1])
	s.keys.hint("not-a-user-id") // would fail the query for every other key
	s.keys.hint(users[2])
	first, err := s.UserKey(ctx, users[0])
	if err != nil || !bytes.Equal(first, keys[users[0]]) {
		t.Fatalf("first key: %v (%x)", err, first)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM user_keys`); err != nil {
		t.Fatal(err)
	}
	for _, u := range users[1:] {
		k, err := s.UserKey(ctx, u)
		if err != nil || !bytes.Equal(k, keys[u]) {
			t.Fatalf("hinted key of %s: %v (%x), want it loaded with the first", u, err, k)
		}
	}
	if len(s.keys.hints) != 0 {
		t.Fatalf("hints left after the load: %v", s.keys.hints)
	}
}
