package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Key algorithm names, as in cfssl's CSR JSON key.algo.
const (
	AlgoRSA     = "rsa"
	AlgoECDSA   = "ecdsa"
	AlgoEd25519 = "ed25519"
)

// KeySpec says which key to generate.
type KeySpec struct {
	Algo string // rsa, ecdsa or ed25519
	Size int    // RSA modulus bits, or ECDSA curve size (256, 384, 521)
}

// DefaultKeySpec is cfssl's default key: ECDSA P-256.
var DefaultKeySpec = KeySpec{Algo: AlgoECDSA, Size: 256}

// ErrBadKeySpec is wrapped by every KeySpec validation error.
var ErrBadKeySpec = errors.New("invalid key")

// Normalize fills defaults (cfssl's: ecdsa 256, rsa 2048) and validates.
func (k KeySpec) Normalize() (KeySpec, error) {
	k.Algo = strings.ToLower(strings.TrimSpace(k.Algo))
	if k.Algo == "" {
		k.Algo = DefaultKeySpec.Algo
	}
	switch k.Algo {
	case AlgoRSA:
		if k.Size == 0 {
			k.Size = 2048
		}
		if k.Size < 2048 || k.Size > 8192 || k.Size%8 != 0 {
			return k, fmt.Errorf("%w: rsa size %d: must be a multiple of 8 from 2048 to 8192", ErrBadKeySpec, k.Size)
		}
	case AlgoECDSA:
		if k.Size == 0 {
			k.Size = 256
		}
		if _, err := curveFor(k.Size); err != nil {
			return k, err
		}
	case AlgoEd25519:
		if k.Size != 0 && k.Size != 256 {
			return k, fmt.Errorf("%w: ed25519 size %d: ed25519 keys have no size (leave it out or use 256)", ErrBadKeySpec, k.Size)
		}
		k.Size = 256
	default:
		return k, fmt.Errorf("%w: algo %q: valid algorithms are rsa, ecdsa, ed25519", ErrBadKeySpec, k.Algo)
	}
	return k, nil
}

func (k KeySpec) String() string { return fmt.Sprintf("%s-%d", k.Algo, k.Size) }

func curveFor(size int) (elliptic.Curve, error) {
	switch size {
	case 256:
		return elliptic.P256(), nil
	case 384:
		return elliptic.P384(), nil
	case 521:
		return elliptic.P521(), nil
	}
	return nil, fmt.Errorf("%w: ecdsa size %d: valid sizes are 256, 384, 521", ErrBadKeySpec, size)
}

// GenerateKey makes a new private key of the given spec.
func GenerateKey(spec KeySpec) (crypto.Signer, error) {
	spec, err := spec.Normalize()
	if err != nil {
		return nil, err
	}
	switch spec.Algo {
	case AlgoRSA:
		return rsa.GenerateKey(rand.Reader, spec.Size)
	case AlgoECDSA:
		c, _ := curveFor(spec.Size)
		return ecdsa.GenerateKey(c, rand.Reader)
	default:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
}

// GenerateKeys makes one key per spec, all at once on every core. RSA key
// generation dominates issuing and its time varies widely from key to key (the
// prime search is random), so every key gets its own goroutine: the scheduler
// keeps both cores busy until the last key, where a pool of one worker per
// core would leave a core idle while the slowest key finishes.
func GenerateKeys(specs []KeySpec) ([]crypto.Signer, error) {
	keys := make([]crypto.Signer, len(specs))
	errs := make([]error, len(specs))
	sem := make(chan struct{}, maxConcurrentKeys)
	var wg sync.WaitGroup
	for i := range specs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			keys[i], errs[i] = GenerateKey(specs[i])
		}()
	}
	wg.Wait()
	return keys, errors.Join(errs...)
}

// maxConcurrentKeys bounds the goroutines of one GenerateKeys call.
const maxConcurrentKeys = 64

// SpecOf describes an existing key, so a renewal can keep its algorithm and size.
func SpecOf(pub crypto.PublicKey) (KeySpec, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return KeySpec{Algo: AlgoRSA, Size: k.N.BitLen()}, nil
	case *ecdsa.PublicKey:
		return KeySpec{Algo: AlgoECDSA, Size: k.Curve.Params().BitSize}, nil
	case ed25519.PublicKey:
		return KeySpec{Algo: AlgoEd25519, Size: 256}, nil
	}
	return KeySpec{}, fmt.Errorf("unsupported public key type %T", pub)
}

// MaxPEMSize caps what the parsers accept; real keys and bundles are far smaller.
const MaxPEMSize = 4 << 20

// ParsePrivateKeyPEM reads the first private key block in data: PKCS#1, PKCS#8 or
// SEC1, skipping other blocks such as openssl's "EC PARAMETERS". Encrypted keys
// are refused with a message saying how to decrypt them.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	if len(data) > MaxPEMSize {
		return nil, fmt.Errorf("key file is %d bytes, larger than the %d-byte limit", len(data), MaxPEMSize)
	}
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key found (expected a block such as \"RSA PRIVATE KEY\", \"EC PRIVATE KEY\" or \"PRIVATE KEY\")")
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			if x509.IsEncryptedPEMBlock(b) { //nolint:staticcheck // detecting, not decrypting
				return nil, errEncrypted
			}
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS#1 RSA key: %w", err)
			}
			return k, nil
		case "EC PRIVATE KEY":
			if x509.IsEncryptedPEMBlock(b) { //nolint:staticcheck // detecting, not decrypting
				return nil, errEncrypted
			}
			k, err := x509.ParseECPrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse SEC1 EC key: %w", err)
			}
			return k, nil
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS#8 key: %w", err)
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("PKCS#8 key of type %T cannot sign", k)
			}
			return s, nil
		case "ENCRYPTED PRIVATE KEY":
			return nil, errEncrypted
		}
	}
}

var errEncrypted = errors.New("the private key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN.key) and keep the plain copy 0600")

// MarshalPrivateKeyPEM encodes a key as cfssl and kubeadm write it.
func MarshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	default:
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
}

// PublicKeysEqual reports whether two public keys are the same key.
func PublicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}
