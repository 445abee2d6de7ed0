package service

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"
)

// codeAlphabet has no 0/O or 1/I, so a code read aloud is not misheard.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// codeLength characters of 5 bits each: 100 bits of entropy.
const codeLength = 20

// newActivationCode returns a random code shown as XXXXX-XXXXX-XXXXX-XXXXX.
func newActivationCode() string {
	b := make([]byte, codeLength)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%5 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(codeAlphabet[int(c)%len(codeAlphabet)]) // 256 is a multiple of 32: no bias
	}
	return sb.String()
}

// normalizeCode lets a client type a code in any case, with or without dashes
// and spaces.
func normalizeCode(code string) string {
	r := strings.NewReplacer("-", "", " ", "")
	return r.Replace(strings.ToUpper(strings.TrimSpace(code)))
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func hashCode(code string) []byte { return hashSecret(normalizeCode(code)) }

func codeHint(code string) string {
	n := normalizeCode(code)
	return "…" + n[len(n)-4:]
}

// API keys look like q2o_<8-char prefix>_<32-char secret>; the prefix finds
// the row, the hash of the whole key is compared in constant time.
const apiKeyPrefixLen = 8

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newAPIKey() (key, prefix string) { return newToken(apiKeyPrefix) }

func parseAPIKey(key string) (prefix string, ok bool) { return parseToken(key, apiKeyPrefix) }

// apiKeyPrefix starts every API key.
const apiKeyPrefix = "q2o_"

// newToken returns a random bearer token <kind><8-char prefix>_<32-char
// secret> (200 random bits), and its prefix, which finds its row.
func newToken(kind string) (token, prefix string) {
	b := make([]byte, 25)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	s := strings.ToLower(keyEncoding.EncodeToString(b)) // 40 chars
	prefix = s[:apiKeyPrefixLen]
	return kind + prefix + "_" + s[apiKeyPrefixLen:], prefix
}

// parseToken returns the prefix of a token of the given kind, or false when
// the token is not of that form.
func parseToken(token, kind string) (prefix string, ok bool) {
	rest, found := strings.CutPrefix(token, kind)
	if !found {
		return "", false
	}
	prefix, secret, found := strings.Cut(rest, "_")
	if !found || len(prefix) != apiKeyPrefixLen || len(secret) != 32 {
		return "", false
	}
	return prefix, true
}

func equalHash(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
