package inventory

import (
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// pkcs1Key is RFC 8017's RSAPrivateKey.
type pkcs1Key struct {
	Version int
	N, E    *big.Int
	D, P, Q *big.Int
	Dp, Dq  *big.Int
	Qinv    *big.Int
	Other   []asn1.RawValue `asn1:"optional,omitempty"`
}

// rsaPublicFromPKCS1 reads the public half of a PKCS#1 private key without
// crypto/rsa's full validation and precomputation, which cost about 0.1 ms a
// key and dominate a node scan; check only needs the public half (to match
// it with the certificate) and its size. The structure is still parsed in
// full, and N = P·Q is checked, so a damaged or truncated key is caught.
func rsaPublicFromPKCS1(der []byte) (*rsa.PublicKey, error) {
	var k pkcs1Key
	rest, err := asn1.Unmarshal(der, &k)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#1 RSA key: %w", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("parse PKCS#1 RSA key: trailing data after the key")
	}
	if k.Version > 1 {
		return nil, fmt.Errorf("parse PKCS#1 RSA key: unknown version %d", k.Version)
	}
	for _, v := range []*big.Int{k.N, k.E, k.D, k.P, k.Q} {
		if v == nil || v.Sign() <= 0 {
			return nil, errors.New("parse PKCS#1 RSA key: a component is missing, zero or negative")
		}
	}
	if !k.E.IsInt64() || k.E.Int64() < 3 || k.E.Int64() > 1<<31-1 || k.E.Bit(0) == 0 {
		return nil, errors.New("parse PKCS#1 RSA key: invalid public exponent")
	}
	if k.Version == 0 && len(k.Other) == 0 && new(big.Int).Mul(k.P, k.Q).Cmp(k.N) != 0 {
		return nil, errors.New("parse PKCS#1 RSA key: the modulus is not the product of the primes (damaged key)")
	}
	return &rsa.PublicKey{N: k.N, E: int(k.E.Int64())}, nil
}
