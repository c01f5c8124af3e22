// Package endpoint fetches the certificate chain a live TLS endpoint serves,
// without trusting it, so check can compare it with the file on disk: a
// certificate renewed on disk but still served old because nothing was
// restarted is the most common "the renewal did not work" report.
//
// Inputs: targets (host:port, the node path of the certificate it should
// serve, the component behind it), from --endpoint or derived from the
// manifests (Defaults). Outputs: inventory items of KindServed carrying the
// served chain, or the connection error. It verifies nothing (package
// evaluation judges), sends no client certificate and no application data:
// a TCP connection and a TLS handshake, bounded by a timeout.
package endpoint
