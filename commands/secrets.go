package commands

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/alexedwards/argon2id"
)

// newSecret returns a random token of 256 bits, URL-safe, and the hex
// SHA-256 under which it is stored. A fast hash is enough for a token this
// long; passwords get argon2id.
func newSecret() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("read random token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken is the stored form of a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Argon2Hasher hashes passwords with argon2id (OWASP's minimum parameters:
// 19 MiB, 2 iterations, 1 lane), in PHC string format.
type Argon2Hasher struct{ params *argon2id.Params }

// NewArgon2Hasher returns the production password hasher.
func NewArgon2Hasher() Argon2Hasher {
	return Argon2Hasher{params: &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}}
}

func (h Argon2Hasher) Hash(password string) (string, error) {
	s, err := argon2id.CreateHash(password, h.params)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return s, nil
}

func (h Argon2Hasher) Verify(password, hash string) (bool, error) {
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return ok, nil
}
