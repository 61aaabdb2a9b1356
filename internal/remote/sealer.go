package remote

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// Credentials of remote registries are kept in the metadata store sealed
// with AES-256-GCM under a key the store does not hold (a file the
// configuration names): a copy of the database, or a backup of it, does
// not give them away. The caller's additional data binds a sealed secret
// to what it was sealed for, so that one moved to another row does not
// open.
//
// A sealed secret is: version (1 byte) | key id (4 bytes) | nonce (12
// bytes) | ciphertext and tag. The key id, the start of the key's SHA-256,
// lets a replica with another key say so instead of failing obscurely.

const sealVersion = 1

// Sealer seals and opens credentials with one key.
type Sealer struct {
	aead cipher.AEAD
	id   [4]byte
}

// NewSealer returns a Sealer using key, which must be 32 bytes.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("credentials key: want 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("credentials key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("credentials key: %w", err)
	}
	s := &Sealer{aead: aead}
	sum := sha256.Sum256(key)
	copy(s.id[:], sum[:])
	return s, nil
}

// LoadSealer reads the key in file path: 32 bytes raw, or one line of hex
// or base64. With create, a missing file is created with a random key
// (mode 0600), for a single node whose data directory holds it.
func LoadSealer(path string, create bool) (*Sealer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("credentials key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.Write([]byte(hex.EncodeToString(key) + "\n"))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("credentials key %s: %w", path, err)
			}
			return NewSealer(key)
		}
		if !errors.Is(err, os.ErrExist) { // else another process made it first: read theirs
			return nil, fmt.Errorf("credentials key %s: %w", path, err)
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("credentials key: %w", err)
	}
	line := bytes.TrimSpace(b)
	key := b
	if k, err := hex.DecodeString(string(line)); err == nil && len(k) == 32 {
		key = k
	} else if k, err := base64.StdEncoding.DecodeString(string(line)); err == nil && len(k) == 32 {
		key = k
	}
	s, err := NewSealer(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (want 32 bytes raw, or one line of hex or base64)", path, err)
	}
	return s, nil
}

// Seal seals secret for aad.
func (s *Sealer) Seal(aad, secret string) ([]byte, error) {
	out := make([]byte, 1+len(s.id), 1+len(s.id)+s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	out[0] = sealVersion
	copy(out[1:], s.id[:])
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal credentials: %w", err)
	}
	out = append(out, nonce...)
	return s.aead.Seal(out, nonce, []byte(secret), []byte(aad)), nil
}

// Open opens a secret sealed for aad.
func (s *Sealer) Open(aad string, sealed []byte) (string, error) {
	head := 1 + len(s.id)
	if len(sealed) < head+s.aead.NonceSize() || sealed[0] != sealVersion {
		return "", errors.New("credentials: not a sealed secret this version of wharf knows")
	}
	if [4]byte(sealed[1:head]) != s.id {
		return "", errors.New("credentials were sealed with another key than the one configured")
	}
	nonce := sealed[head : head+s.aead.NonceSize()]
	plain, err := s.aead.Open(nil, nonce, sealed[head+s.aead.NonceSize():], []byte(aad))
	if err != nil {
		return "", errors.New("credentials do not open: damaged, or sealed for something else")
	}
	return string(plain), nil
}
