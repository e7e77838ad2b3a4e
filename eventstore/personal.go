package eventstore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Personal data in the log is stored encrypted, field by field, with a key
// per user (crypto-shredding): a sealed field is {"$enc": base64, "t": kind}
// in place of its value. Destroying the key erases the data from every
// event at once, while the rows, and so the hash chain over them, stay as
// they are. Reading reveals sealed fields; a field whose key is gone reads
// as "[erased]" (strings) or null (other values).
const sealedMarker = `"$enc"`

// keyOf names the key that seals a stream's personal fields: a user's
// (user_keys) for the user's stream, the stream's own (stream_keys) for a
// helpdesk ticket or order, which names a contact. Other streams hold no
// personal data, and are never read as sealed.
func keyOf(stream string) (id string, ok bool) {
	if user, ok := strings.CutPrefix(stream, "user-"); ok {
		return user, true
	}
	if strings.HasPrefix(stream, "ticket-") || strings.HasPrefix(stream, "order-") {
		return stream, true
	}
	return "", false
}

// Erased is what an erased string field reads as.
const Erased = "[erased]"

type sealedField struct {
	Enc  string `json:"$enc"`
	Kind string `json:"t"`
}

func aead(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// NewUserKey returns a fresh 256-bit key.
func NewUserKey() ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("new user key: %w", err)
	}
	return key, nil
}

// SealFields encrypts the named top-level fields of a JSON object with key
// (empty strings and nulls are left: there is nothing to hide). Like
// openFields it splices the sealed values into the bytes as they are:
// unmarshalling into a map and marshalling it again was most of the
// sealing, and 8 % of the server's CPU under POST /users (the column is
// jsonb, so the order of the members as written does not matter).
func SealFields(key, data []byte, fields []string) ([]byte, error) {
	var (
		a      cipher.AEAD
		out    []byte
		copied int
	)
	err := eachTopLevelField(data, func(name []byte, start, end int) error {
		raw := data[start:end]
		if string(raw) == `""` || string(raw) == "null" || !slices.Contains(fields, string(name)) {
			return nil
		}
		if a == nil {
			var err error
			if a, err = aead(key); err != nil {
				return err
			}
			out = make([]byte, 0, len(data)+64*len(fields))
		}
		kind := "o"
		if raw[0] == '"' {
			kind = "s"
		}
		nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(raw)+a.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		sealed := a.Seal(nonce, nonce, raw, name)
		out = append(out, data[copied:start]...)
		out = append(out, `{"$enc":"`...)
		out = base64.RawStdEncoding.AppendEncode(out, sealed)
		out = append(append(append(out, `","t":"`...), kind...), `"}`...)
		copied = end
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seal fields: %w", err)
	}
	if out == nil {
		return data, nil
	}
	return append(out, data[copied:]...), nil
}

// keyring caches users' keys; an erased user's absence of key is cached
// for good, a key for a minute (so that an erasure in another process is
// honoured here soon).
type keyring struct {
	mu   sync.Mutex
	keys map[string]keyEntry
	// hints are users whose keys a batch just read will need: the first
	// key missing loads them with it, one query instead of one per user
	// (a read model catching up on a backlog of new users waited for a
	// query per user).
	hints []string
	// swept is when keys were last swept of stale entries.
	swept time.Time
}

// sweep drops the keys nobody asked for in two key lifetimes, at most once
// a lifetime: a long-running server reads the events of ever more users,
// and each entry holds its AES-GCM cipher (about a kilobyte), so without
// it the keyring grew by every user ever read. A key asked for since was
// loaded again (it was stale), so nothing being used is dropped; an
// erased user's entry (no key) is small and stays.
func (k *keyring) sweep(now time.Time) {
	if now.Sub(k.swept) < keyTTL {
		return
	}
	k.swept = now
	for id, e := range k.keys {
		if e.key != nil && now.Sub(e.at) > 2*keyTTL {
			delete(k.keys, id)
		}
	}
}

// maxKeyHints bounds the hints kept; beyond it the oldest are dropped and
// their keys are loaded when asked for, as without hints.
const maxKeyHints = 4096

func (k *keyring) hint(user string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.hints) == maxKeyHints {
		k.hints = append(k.hints[:0], k.hints[maxKeyHints/2:]...)
	}
	k.hints = append(k.hints, user)
}

type keyEntry struct {
	key []byte // nil: erased, or no key (written before keys existed)
	at  time.Time
	// aead is the key's cipher, made once: setting up AES-GCM for every
	// event cost a rebuild a tenth of its time.
	aead cipher.AEAD
}

const keyTTL = time.Minute

// cipher is the loaded key's cipher of a user, nil when the user has no
// key (erased).
func (k *keyring) cipher(user string) (cipher.AEAD, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.keys[user]
	if !ok { // never loaded, or swept: not the same as erased
		return nil, fmt.Errorf("key of %s is not loaded", user)
	}
	if e.key == nil || e.aead != nil {
		return e.aead, nil
	}
	a, err := aead(e.key)
	if err != nil {
		return nil, err
	}
	e.aead = a
	k.keys[user] = e
	return a, nil
}

// UserKey returns the key of a user (nil when erased or never keyed).
func (s *Store) UserKey(ctx context.Context, userID string) ([]byte, error) {
	if err := s.loadKeys(ctx, []string{userID}); err != nil {
		return nil, err
	}
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	return s.keys.keys[userID].key, nil
}

// StreamKey returns the key of a ticket's or order's stream (nil when
// erased, or written before such streams were keyed).
func (s *Store) StreamKey(ctx context.Context, stream string) ([]byte, error) {
	return s.UserKey(ctx, stream)
}

// RememberKey caches a key the caller has just written: a user's, by user
// id, or a stream's, by stream id.
func (s *Store) RememberKey(userID string, key []byte) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	if s.keys.keys == nil {
		s.keys.keys = map[string]keyEntry{}
	}
	s.keys.keys[userID] = keyEntry{key: key, at: time.Now()}
}

// ForgetKey drops a user's key (or a stream's, by stream id) from the
// cache for good (after erasure).
func (s *Store) ForgetKey(userID string) {
	s.RememberKey(userID, nil)
	s.keys.mu.Lock()
	e := s.keys.keys[userID]
	e.at = time.Time{} // an erased entry never expires
	s.keys.keys[userID] = e
	s.keys.mu.Unlock()
}

func (s *Store) loadKeys(ctx context.Context, ids []string) error {
	now := time.Now()
	s.keys.mu.Lock()
	if s.keys.keys == nil {
		s.keys.keys = map[string]keyEntry{}
	}
	var missing []string
	stale := func(id string) bool {
		e, ok := s.keys.keys[id]
		return !ok || (e.key != nil && now.Sub(e.at) > keyTTL)
	}
	for _, id := range ids {
		if stale(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		asked := make(map[string]bool, len(missing))
		for _, id := range missing {
			asked[id] = true
		}
		for _, id := range s.keys.hints {
			if !asked[id] && stale(id) {
				asked[id] = true
				missing = append(missing, id)
			}
		}
		s.keys.hints = s.keys.hints[:0]
	}
	s.keys.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	// Users are keyed by their id (a UUID), tickets and orders by their
	// stream's id (never a UUID).
	var users, streams []string
	for _, id := range missing {
		if uuid.Validate(id) == nil {
			users = append(users, id)
		} else {
			streams = append(streams, id)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT user_id::text, key FROM user_keys WHERE user_id = ANY($1::text[]::uuid[])
		UNION ALL SELECT stream_id, key FROM stream_keys WHERE stream_id = ANY($2::text[])`, users, streams)
	if err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	defer rows.Close()
	found := map[string][]byte{}
	for rows.Next() {
		var id string
		var key []byte
		if err := rows.Scan(&id, &key); err != nil {
			return fmt.Errorf("load keys: %w", err)
		}
		found[id] = key
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	s.keys.sweep(now)
	for _, id := range missing {
		e := keyEntry{key: found[id], at: now}
		if e.key == nil {
			e.at = time.Time{}
		}
		s.keys.keys[id] = e
	}
	return nil
}

// Reveal replaces the sealed fields of user, ticket and order events with
// their values (or the erased placeholders) in Data; Stored keeps the
// bytes as stored.
func (s *Store) Reveal(ctx context.Context, events []RecordedEvent) error {
	var ids []string
	sealed := func(e *RecordedEvent) (string, bool) {
		id, ok := keyOf(e.StreamID)
		return id, ok && bytes.Contains(e.Data, []byte(sealedMarker))
	}
	for i := range events {
		e := &events[i]
		if e.Stored == nil {
			e.Stored = e.Data
		}
		if id, ok := sealed(e); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if err := s.loadKeys(ctx, ids); err != nil {
		return err
	}
	for i := range events {
		e := &events[i]
		id, ok := sealed(e)
		if !ok {
			continue
		}
		a, err := s.keys.cipher(id)
		if err != nil {
			return fmt.Errorf("reveal event %d: %w", e.Position, err)
		}
		data, err := openFields(a, e.Stored)
		if err != nil {
			return fmt.Errorf("reveal event %d: %w", e.Position, err)
		}
		e.Data = data
	}
	return nil
}
