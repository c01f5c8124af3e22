package exporter

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"path"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
)

// Location is where a certificate was found. Its fields are the location
// labels of x509-certificate-exporter (filepath, embedded_kind, secret_name,
// ...); unused ones stay empty, which Prometheus treats as absent.
type Location struct {
	Path               string // node path of the file (filepath; filename is its base)
	EmbeddedKind       string // "user" or "cluster" for a certificate embedded in a kubeconfig
	EmbeddedKey        string // the kubeconfig's user or cluster name
	SecretNamespace    string
	SecretName         string
	SecretKey          string // tls.crt, ca.crt
	ConfigMapNamespace string
	ConfigMapName      string
	ConfigMapKey       string
	Endpoint           string // host:port of a live TLS endpoint
}

// DN holds the distinguished-name fields x509-certificate-exporter exposes,
// in dnFields order: C, ST, L, O, OU, CN.
type DN [6]string

var dnFields = [6]string{"C", "ST", "L", "O", "OU", "CN"}

func dnOf(n pkix.Name) DN {
	first := func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		return s[0]
	}
	return DN{first(n.Country), first(n.Province), first(n.Locality), first(n.Organization), first(n.OrganizationalUnit), n.CommonName}
}

// Cert is what the exporter keeps of one certificate: public facts only.
type Cert struct {
	Subject, Issuer DN
	Serial          string // decimal, as x509-certificate-exporter prints it
	NotBefore       time.Time
	NotAfter        time.Time
	Fingerprint     [32]byte // SHA-256 of the DER, to tell a duplicate from a collision
}

// CertOf extracts a Cert from a parsed certificate.
func CertOf(c *x509.Certificate) Cert {
	out := Cert{
		Subject:     dnOf(c.Subject),
		Issuer:      dnOf(c.Issuer),
		NotBefore:   c.NotBefore,
		NotAfter:    c.NotAfter,
		Fingerprint: sha256.Sum256(c.Raw),
	}
	if c.SerialNumber != nil {
		out.Serial = c.SerialNumber.String()
	}
	return out
}

// Entry is one certificate at one location, or a location where no
// certificate could be read (Cert nil, Err set).
type Entry struct {
	Loc  Location
	Cert *Cert
	Err  facts.Reason // facts.ReasonMalformed or facts.ReasonUnreadable when Cert is nil
	// InChain marks a certificate after the first of its file or chain: as
	// check does, only its expiry is a finding, not its nearing expiry.
	InChain bool

	text string // its label set in the text format, made once by the Store
}

// Finding is one of check's findings about a location.
type Finding struct {
	Loc       Location
	Reason    facts.Reason
	Severity  facts.Severity
	SubjectCN string

	// critAfter, when set, is the time after which the finding is critical
	// whatever Severity says: ca_expires_before_leaf is a warning until the
	// CA expires. Scrapes decide, so it never waits for a refresh.
	critAfter time.Time

	text     string // its label set in the text format, made once by the Store
	critText string // the same once critical, when critAfter is set
}

// at is the finding as it stands at now.
func (f *Finding) at(now time.Time) *Finding {
	if f.critAfter.IsZero() || !now.After(f.critAfter) || f.Severity == facts.SeverityCritical {
		return f
	}
	c := *f
	c.Severity, c.text = facts.SeverityCritical, f.critText
	return &c
}

// Object is what one thing (a node item, a Secret, an endpoint) contributes.
type Object struct {
	Entries  []Entry
	Findings []Finding
}

// certLabelNames is the label schema shared by every x509_cert_* metric, in
// x509-certificate-exporter's order (it adds configmap_*, cabundle_* and crl_*
// columns we do not produce; endpoint is ours).
var certLabelNames = []string{
	"filename", "filepath", "embedded_kind", "embedded_key",
	"secret_namespace", "secret_name", "secret_key",
	"configmap_namespace", "configmap_name", "configmap_key",
	"endpoint", "serial_number",
	"issuer_C", "issuer_ST", "issuer_L", "issuer_O", "issuer_OU", "issuer_CN",
	"subject_C", "subject_ST", "subject_L", "subject_O", "subject_OU", "subject_CN",
}

const nLocationLabels = 11 // filename .. endpoint

// findingLabelNames labels certrescue_finding.
var findingLabelNames = []string{
	"reason", "severity",
	"filename", "filepath", "embedded_kind", "embedded_key",
	"secret_namespace", "secret_name", "secret_key",
	"configmap_namespace", "configmap_name", "configmap_key",
	"endpoint", "subject_CN",
}

func (l Location) appendValues(v []string) []string {
	filename := ""
	if l.Path != "" {
		filename = path.Base(l.Path)
	}
	return append(v, filename, l.Path, l.EmbeddedKind, l.EmbeddedKey,
		l.SecretNamespace, l.SecretName, l.SecretKey,
		l.ConfigMapNamespace, l.ConfigMapName, l.ConfigMapKey, l.Endpoint)
}

// certValues is the label values of an entry's x509_cert_* series.
func certValues(e *Entry) []string {
	v := make([]string, 0, len(certLabelNames))
	v = e.Loc.appendValues(v)
	if e.Cert == nil {
		return append(v, make([]string, len(certLabelNames)-nLocationLabels)...)
	}
	v = append(v, e.Cert.Serial)
	v = append(v, e.Cert.Issuer[:]...)
	return append(v, e.Cert.Subject[:]...)
}

// prepare renders the label sets of an object's entries and findings once,
// when a source stores it, so that scrapes only copy them.
func (o *Object) prepare() {
	for i := range o.Entries {
		o.Entries[i].text = labelText(certLabelNames, certValues(&o.Entries[i]))
	}
	for i := range o.Findings {
		f := &o.Findings[i]
		f.text = labelText(findingLabelNames, findingValues(f))
		if !f.critAfter.IsZero() {
			c := *f
			c.Severity = facts.SeverityCritical
			f.critText = labelText(findingLabelNames, findingValues(&c))
		}
	}
}

// labelText writes {name="value",...} in the text exposition format,
// leaving out empty values (Prometheus treats them as absent).
func labelText(names, values []string) string {
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for i, v := range values {
		if v == "" {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(names[i])
		b.WriteString(`="`)
		_, _ = labelEscaper.WriteString(&b, v) // a strings.Builder never fails
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

func findingValues(f *Finding) []string {
	v := make([]string, 0, len(findingLabelNames))
	v = append(v, string(f.Reason), f.Severity.String())
	v = f.Loc.appendValues(v)
	return append(v, f.SubjectCN)
}

// prepared reports whether every label set of the object is rendered
// (labelText never returns "": it has braces at least).
func (o *Object) prepared() bool {
	for i := range o.Entries {
		if o.Entries[i].text == "" {
			return false
		}
	}
	for i := range o.Findings {
		if o.Findings[i].text == "" {
			return false
		}
	}
	return true
}
