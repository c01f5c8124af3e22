// Package exporter turns certificates into Prometheus metrics that
// x509-certificate-exporter's dashboards and alert rules already understand
// (x509_cert_not_after, x509_cert_expires_in_seconds, ... with its label
// names), plus certrescue_finding{reason=...} carrying check's reason codes.
//
// Sources feed a Store with Objects (the certificates found at one location,
// or why none could be read, and the findings about it): Node scans a node's
// files with check's inventory sources, re-reads a file only when its
// identity (path, device, inode, size, modification time) changes, fetches
// the chains live TLS endpoints serve (package endpoint) and judges all of it
// with check's evaluation; package secrets feeds Secrets and ConfigMaps from
// the Kubernetes API. The Store renders each object's label sets once.
//
// Collector reads the clock at scrape time, so expiry values (and the
// expired, expiring and not_yet_valid findings) are always current while
// parsing stays cached. It is a prometheus.Collector, and WriteText renders
// the same series straight from the prepared label sets, which /metrics and
// the textfile use (client_golang's registry costs a scrape of 10,000
// certificates about a second). A scrape never fails because of a
// certificate: a bad file is an x509_cert_error series and a finding, and two
// identical label sets are emitted once.
//
// Inputs: sources, a clock.Clock. Outputs: metrics over HTTP (Server) or a
// node_exporter textfile written atomically (WriteTextfile). It never writes
// anything else and never keeps private key bytes: only public facts of
// certificates (names, serial, validity, fingerprint) are stored.
package exporter
