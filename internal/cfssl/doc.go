// Package cfssl reads and writes the JSON files operators already keep for
// cfssl 1.6: CSR requests (ca-csr.json, apiserver-csr.json), signing
// configuration (ca-config.json with signing.default and signing.profiles) and
// the {"cert","key","csr"} output that cfssljson consumes.
//
// It turns a request plus a profile into pki.Templates and issues through package
// signer: a local pki.CA (Issue, IssueMany, SignCSR) or any signer.Signer, such
// as a remote cfssl serve or Vault (IssueVia, IssueManyVia, SignCSRVia). Errors name the file and the JSON field at fault. It does no file IO of its
// own: callers pass bytes and a name for messages, and write the results.
package cfssl
