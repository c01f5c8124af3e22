package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/signer"
	vault "github.com/hashicorp/vault/api"
	"github.com/spf13/cobra"
)

// Signer kinds of --signer.
const (
	signerLocal = "local"
	signerCFSSL = "cfssl"
	signerVault = "vault"
)

// remoteSignerFlags choose who signs: the CA key on the node (local, the
// default), a cfssl serve, or Vault PKI. Credentials are never flag values:
// a flag names where they are (file:PATH, env:NAME), so they never show in
// ps, shell history, output or the audit log. Files are read as every input
// file is: an absolute path is the node's (under --root), a relative one the
// operator's.
type remoteSignerFlags struct {
	kind     string
	urls     []string
	profile  string
	label    string
	authKey  string
	caBundle string

	vaultMounts []string
	vaultRole   string
	vault       vaultConnFlags
}

// vaultConnFlags say how to reach and log in to Vault.
type vaultConnFlags struct {
	addr     string
	token    string
	roleID   string
	secretID string
	appRole  string
	ca       string
}

func (f *vaultConnFlags) add(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.addr, "vault-addr", "", "Vault address, such as https://vault.internal:8200 (default env VAULT_ADDR)")
	fl.StringVar(&f.token, "vault-token", "", "Vault token: file:PATH or env:NAME (default env:VAULT_TOKEN), never the token itself")
	fl.StringVar(&f.roleID, "vault-role-id", "", "AppRole login: the role ID (file:PATH, env:NAME or the ID; not a secret)")
	fl.StringVar(&f.secretID, "vault-secret-id", "", "AppRole login: the secret ID, file:PATH or env:NAME (default env:VAULT_SECRET_ID)")
	fl.StringVar(&f.appRole, "vault-approle-mount", "approle", "AppRole auth mount")
	fl.StringVar(&f.ca, "vault-ca-bundle", "", "PEM CA bundle that signed Vault's TLS certificate (default env VAULT_CACERT, else the system's)")
}

// client returns a Vault client with the token set, or the AppRole to log
// in with (signer.AppRole.Login).
func (f *vaultConnFlags) client(env *Env) (*vault.Client, signer.AppRole, error) {
	var ar signer.AppRole
	addr := f.addr
	if addr == "" {
		addr = getenv(env, "VAULT_ADDR")
	}
	if addr == "" {
		return nil, ar, usagef("Vault's address is needed: --vault-addr (or VAULT_ADDR), such as https://vault.internal:8200")
	}
	caPath := f.ca
	if caPath == "" {
		caPath = getenv(env, "VAULT_CACERT")
	}
	bundle, err := optionalFile(env, "--vault-ca-bundle", caPath)
	if err != nil {
		return nil, ar, err
	}
	var token string
	if f.roleID != "" {
		if ar.RoleID, err = maybeSecret(env, "--vault-role-id", f.roleID); err != nil {
			return nil, ar, err
		}
		ref := f.secretID
		if ref == "" {
			ref = "env:VAULT_SECRET_ID"
		}
		if ar.SecretID, err = secretValue(env, "--vault-secret-id", ref); err != nil {
			return nil, ar, err
		}
		ar.Mount = f.appRole
	} else {
		ref := f.token
		if ref == "" {
			ref = "env:VAULT_TOKEN"
		}
		if token, err = secretValue(env, "--vault-token", ref); err != nil {
			return nil, ar, fmt.Errorf("%w; or log in with AppRole (--vault-role-id, --vault-secret-id)", err)
		}
	}
	c, err := signer.NewVaultClient(addr, bundle, token, 0)
	if err != nil {
		return nil, ar, usageError(err)
	}
	return c, ar, nil
}

func (f *remoteSignerFlags) add(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.kind, "signer", signerLocal, "who signs: local (the CA key on the node), cfssl (a cfssl serve, --signer-url) or vault (Vault PKI, --vault-addr); a remote signer signs a --dry-run's plan too (nothing is deployed)")
	fl.StringArrayVar(&f.urls, "signer-url", nil, "cfssl serve base URL, such as https://ca.internal:8888 (repeatable: one per CA; each signs what its CA signs)")
	fl.StringVar(&f.profile, "signer-profile", "", "cfssl serve's profile to sign with (default: its default profile)")
	fl.StringVar(&f.label, "signer-label", "", "cfssl serve's signer label (multirootca)")
	fl.StringVar(&f.authKey, "cfssl-auth-key", "", "the profile's HMAC auth key, hex as in cfssl's auth_keys: file:PATH or env:NAME, never the key itself (default env:CFSSL_AUTH_KEY when set); signs through /api/v1/cfssl/authsign")
	fl.StringVar(&f.caBundle, "signer-ca-bundle", "", "PEM CA bundle to trust for an https --signer-url (default: the system's)")
	fl.StringArrayVar(&f.vaultMounts, "vault-mount", nil, "Vault PKI mount (repeatable: one per CA; default pki)")
	fl.StringVar(&f.vaultRole, "vault-role", "", "sign with PKI/sign/ROLE instead of PKI/sign-verbatim (a role replaces the subject's O: system:masters, system:nodes)")
	f.vault.add(c)
}

// remote says whether a remote signer was asked for.
func (f *remoteSignerFlags) remote() bool { return f.kind != "" && f.kind != signerLocal }

// build returns the remote signers asked for (none for local).
func (f *remoteSignerFlags) build(env *Env) ([]signer.Signer, error) {
	switch f.kind {
	case "", signerLocal:
		if len(f.urls) > 0 || f.authKey != "" || f.vault.addr != "" || len(f.vaultMounts) > 0 || f.vaultRole != "" || f.vault.roleID != "" {
			return nil, usagef("--signer-url, --cfssl-auth-key and the --vault-* flags need --signer cfssl or --signer vault")
		}
		return nil, nil
	case signerCFSSL:
		return f.cfssl(env)
	case signerVault:
		return f.vaultSigners(env)
	}
	return nil, usagef("--signer %q: use local, cfssl or vault", f.kind)
}

func (f *remoteSignerFlags) cfssl(env *Env) ([]signer.Signer, error) {
	if len(f.urls) == 0 {
		return nil, usagef("--signer cfssl needs --signer-url (cfssl serve's address, such as http://ca.internal:8888)")
	}
	var key []byte
	ref := f.authKey
	if ref == "" && getenv(env, "CFSSL_AUTH_KEY") != "" {
		ref = "env:CFSSL_AUTH_KEY"
	}
	if ref != "" {
		raw, err := secretValue(env, "--cfssl-auth-key", ref)
		if err != nil {
			return nil, err
		}
		if key, err = signer.ParseAuthKey(raw); err != nil {
			return nil, usagef("--cfssl-auth-key %s: %w", ref, err)
		}
	}
	bundle, err := optionalFile(env, "--signer-ca-bundle", f.caBundle)
	if err != nil {
		return nil, err
	}
	client, err := signer.HTTPClient(bundle, 0)
	if err != nil {
		return nil, usagef("--signer-ca-bundle %s: %w", f.caBundle, err)
	}
	var out []signer.Signer
	for _, u := range f.urls {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return nil, usagef("--signer-url %q: want http(s)://HOST:PORT", u)
		}
		out = append(out, &signer.CFSSL{URL: u, Profile: f.profile, Label: f.label, AuthKey: key, Client: client})
	}
	return out, nil
}

func (f *remoteSignerFlags) vaultSigners(env *Env) ([]signer.Signer, error) {
	client, ar, err := f.vault.client(env)
	if err != nil {
		return nil, err
	}
	token := client.Token()
	mounts := f.vaultMounts
	if len(mounts) == 0 {
		mounts = []string{"pki"}
	}
	var out []signer.Signer
	for i, m := range mounts {
		c := client
		if i > 0 {
			if c, err = client.Clone(); err != nil {
				return nil, err
			}
			c.SetToken(token)
		}
		out = append(out, &signer.Vault{Client: c, Mount: strings.Trim(m, "/"), Role: f.vaultRole, AppRole: ar})
	}
	return out, nil
}

// set returns the remote signers as a set for renew and rescue (nil: the
// node's CA keys sign).
func (f *remoteSignerFlags) set(env *Env) (*signer.Set, error) {
	ss, err := f.build(env)
	if err != nil || ss == nil {
		return nil, err
	}
	return &signer.Set{Signers: ss}, nil
}

// one returns the single remote signer gencert and sign use (nil: local).
func (f *remoteSignerFlags) one(env *Env) (signer.Signer, error) {
	ss, err := f.build(env)
	if err != nil || ss == nil {
		return nil, err
	}
	if len(ss) > 1 {
		return nil, usagef("this command signs with one signer: give one --signer-url or --vault-mount")
	}
	return ss[0], nil
}

// secretValue reads a credential from file:PATH or env:NAME. A bare value
// is refused: it would show in ps, shell history and the audit log.
func secretValue(env *Env, flag, ref string) (string, error) {
	kind, rest, ok := strings.Cut(ref, ":")
	switch {
	case ok && kind == "env":
		v := strings.TrimSpace(getenv(env, rest))
		if v == "" {
			return "", usagef("%s %s: the environment variable %s is not set", flag, ref, rest)
		}
		return v, nil
	case ok && kind == "file":
		data, err := readInput(env, flag, rest)
		if err != nil {
			return "", err
		}
		v := strings.TrimSpace(string(data))
		if v == "" {
			return "", usagef("%s %s: the file is empty", flag, ref)
		}
		return v, nil
	}
	return "", usagef("%s takes file:PATH or env:NAME, never the credential itself (a flag's value shows in ps, shell history and the audit log)", flag)
}

// maybeSecret is secretValue for a value that may also be given as it is.
func maybeSecret(env *Env, flag, ref string) (string, error) {
	if strings.HasPrefix(ref, "file:") || strings.HasPrefix(ref, "env:") {
		return secretValue(env, flag, ref)
	}
	return ref, nil
}

// optionalFile reads a PEM file a flag names, or nothing when it is "".
func optionalFile(env *Env, flag, path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	return readInput(env, flag, path)
}

// signedBy is an audit event's detail naming who signed a renewed item.
func signedBy(it renewal.Item) string {
	if it.Signer == "" {
		return ""
	}
	return "signed by " + it.Signer
}

func joinDetail(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// issuedBy is an audit event's detail naming the remote signer of an
// issued certificate ("" for a local CA).
func issuedBy(is *cfssl.Issued) string {
	if is.Signer == "" {
		return ""
	}
	return "signed by " + is.Signer
}

// printSigners names the remote signer of each CA a plan was signed by.
func printSigners(w io.Writer, plan *renewal.Plan) {
	seen := map[string]bool{}
	for _, it := range plan.Items {
		if it.Signer == "" || seen[it.Role.CA] {
			continue
		}
		seen[it.Role.CA] = true
		fmt.Fprintf(w, "%s: signed by %s (no CA key read from the node)\n", it.Role.CA, it.Signer)
	}
}
