// Package exporter turns certificates into Prometheus metrics that
// x509-certificate-exporter's dashboards and alert rules already understand
// (x509_cert_not_after, x509_cert_expires_in_seconds, ... with its label
// names), plus certrescue_finding{reason=...} carrying check's reason codes.
//
// Sources feed a Store with Objects (the certificates found at one location,
// or why none could be read, and the findings about it): Node scans a node's
// files with check's inventory sources and re-reads a file only when its
// identity (path, device, inode, size, modification time) changes; Endpoints
// reads the chains live TLS endpoints serve; package secrets feeds Secrets
// and ConfigMaps from the Kubernetes API.
//
// Collector is a prometheus.Collector that reads the clock at scrape time, so
// expiry values are always current while parsing stays cached. A scrape never
// fails because of a certificate: a bad file is an x509_cert_error series and a
// finding, and two identical label sets are emitted once.
//
// Inputs: sources, a clock.Clock. Outputs: metrics over HTTP (Server) or a
// node_exporter textfile written atomically (WriteTextfile). It never writes
// anything else and never keeps private key bytes: only public facts of
// certificates (names, serial, validity, fingerprint) are stored.
package exporter
