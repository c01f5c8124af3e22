package signer

// Test helpers for the external test package (cfssl_serve_test.go).
var (
	MustCA               = mustCA
	KubeletClientRequest = kubeletClientRequest
	Verifies             = verifies
)

const HMACKey = hmacKey
