// Package exporter turns certificates into Prometheus metrics that
// x509-certificate-exporter's dashboards and alert rules already understand
// (x509_cert_not_after, x509_cert_expires_in_seconds, ... with its label
// names), plus certrescue_finding{reason=...} carrying check's reason codes.
//
// Sources feed a Store with Objects (the certificates found at one location,
// or why none could be read, and the findings about it): Node scans a node's
// files with check's inventory sources, fetches the chains live TLS endpoints
// serve (package endpoint) and judges all of it with check's evaluation;
// package secrets feeds Secrets and ConfigMaps from the Kubernetes API. The
// Store renders each object's label sets once.
//
// Node keeps, per file, the series and findings, not the parsed
// certificates: only the items others are judged against (the CAs, the API
// server's certificate, the kubeconfigs, the files endpoints should serve)
// stay parsed. A refresh where nothing changed lists the sources and stats
// the files (path, device, inode, size, modification time) and reads
// nothing; a changed file is read and judged again beside those context
// items, and so are the files judged against a CA that changed. The first
// read of thousands of files goes in batches so they are never all parsed at
// once. The findings equal check's over the whole node (tests hold them to
// it).
//
// Collector reads the clock at scrape time, so expiry values (and the
// expired, expiring and not_yet_valid findings, and the severity of
// ca_expires_before_leaf, critical once the CA has expired) are always
// current while parsing stays cached. It is a prometheus.Collector, and WriteText renders
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
