package layout

import (
	"path"
	"strings"
)

// signingSuffix marks the single-certificate copy of a CA file that a
// controller-manager's --cluster-signing-*-cert-file names while a CA
// rotation makes the CA file a bundle (package carotation).
const signingSuffix = "-signing"

// SigningCopy is the path of the signing copy of a CA file: beside it,
// "-signing" before the extension (/etc/kubernetes/pki/ca.crt ->
// /etc/kubernetes/pki/ca-signing.crt, /etc/kubernetes/ssl/ca.pem ->
// ca-signing.pem). Beside it so that whatever can read the CA file (a
// static pod's hostPath mount of the PKI directory, a unit's sandbox) can
// read the copy.
func SigningCopy(caFile string) string {
	ext := path.Ext(caFile)
	return strings.TrimSuffix(caFile, ext) + signingSuffix + ext
}

// SigningOriginal is the CA file a signing copy's path stands for; ok is
// false when p is not a signing copy's path.
func SigningOriginal(p string) (caFile string, ok bool) {
	ext := path.Ext(p)
	stem, ok := strings.CutSuffix(strings.TrimSuffix(p, ext), signingSuffix)
	if !ok || stem == "" || strings.HasSuffix(stem, "/") {
		return "", false
	}
	return stem + ext, true
}
