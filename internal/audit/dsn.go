package audit

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Backend names.
const (
	BackendSQLite   = "sqlite"
	BackendMySQL    = "mysql"
	BackendPostgres = "postgres"
)

// maxDSN caps a DSN's length; real ones are far shorter.
const maxDSN = 4096

// Target is a parsed --audit-dsn: which backend, the driver's connection string
// and a form safe to print (no password).
type Target struct {
	Backend string
	Path    string        // SQLite: the database file
	driver  string        // the database/sql driver's DSN (SQLite, PostgreSQL)
	mysql   *mysql.Config // MySQL/MariaDB connection settings
	Display string        // for messages: the DSN with any password replaced by "xxxxx"
}

// ParseDSN reads an audit store address:
//
//	/var/lib/certrescue/audit.db, sqlite:PATH, file:PATH      SQLite file
//	mysql://USER:PASS@HOST:PORT/DB?tls=true                   MySQL or MariaDB
//	mysql://USER:PASS@tcp(HOST:PORT)/DB                       (go-sql-driver form)
//	postgres://USER:PASS@HOST:PORT/DB?sslmode=verify-full     PostgreSQL (pgx)
//
// Errors never repeat a password.
func ParseDSN(dsn string) (Target, error) {
	if len(dsn) > maxDSN {
		return Target{}, fmt.Errorf("audit DSN is %d bytes, longer than the %d-byte limit", len(dsn), maxDSN)
	}
	if strings.TrimSpace(dsn) == "" {
		return Target{}, fmt.Errorf("audit DSN is empty")
	}
	scheme, rest, hasScheme := strings.Cut(dsn, ":")
	if !hasScheme || strings.ContainsAny(scheme, "/\\.") {
		return sqliteTarget(dsn)
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3", "file":
		rest = strings.TrimPrefix(rest, "//")
		return sqliteTarget(rest)
	case "mysql", "mariadb":
		return mysqlTarget(strings.TrimPrefix(rest, "//"))
	case "postgres", "postgresql":
		return postgresTarget(dsn)
	}
	return Target{}, fmt.Errorf("audit DSN: unknown scheme %q: use a file path, sqlite:PATH, mysql://USER:PASS@HOST:PORT/DB or postgres://USER:PASS@HOST:PORT/DB", scheme)
}

func sqliteTarget(path string) (Target, error) {
	if path == "" {
		return Target{}, fmt.Errorf("audit DSN: empty SQLite path")
	}
	if strings.ContainsAny(path, "?#\x00") {
		return Target{}, fmt.Errorf("audit DSN: SQLite path %q: must not contain '?', '#' or NUL", path)
	}
	return Target{Backend: BackendSQLite, Path: path, Display: "sqlite:" + path}, nil
}

func mysqlTarget(rest string) (Target, error) {
	var cfg *mysql.Config
	if strings.Contains(rest, "@tcp(") || strings.Contains(rest, "@unix(") || strings.HasPrefix(rest, "tcp(") || strings.HasPrefix(rest, "unix(") {
		c, err := mysql.ParseDSN(rest)
		if err != nil {
			return Target{}, fmt.Errorf("audit DSN: mysql: %s", redactErr(err, rest))
		}
		cfg = c
	} else {
		u, err := url.Parse("mysql://" + rest)
		if err != nil {
			return Target{}, fmt.Errorf("audit DSN: mysql: not a URL mysql://USER:PASS@HOST:PORT/DB")
		}
		cfg = mysql.NewConfig()
		cfg.Net = "tcp"
		cfg.Addr = u.Host
		if u.Port() == "" && u.Host != "" {
			cfg.Addr = u.Host + ":3306"
		}
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
		for k, v := range u.Query() {
			if len(v) == 0 {
				continue
			}
			switch k {
			case "tls":
				cfg.TLSConfig = v[0]
			case "timeout":
				d, err := time.ParseDuration(v[0])
				if err != nil {
					return Target{}, fmt.Errorf("audit DSN: mysql: timeout %q: %w", v[0], err)
				}
				cfg.Timeout = d
			default:
				return Target{}, fmt.Errorf("audit DSN: mysql: unknown parameter %q (known: tls, timeout)", k)
			}
		}
	}
	if cfg.DBName == "" {
		return Target{}, fmt.Errorf("audit DSN: mysql: no database name (mysql://USER:PASS@HOST:PORT/DB)")
	}
	if cfg.Addr == "" {
		return Target{}, fmt.Errorf("audit DSN: mysql: no host (mysql://USER:PASS@HOST:PORT/DB)")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// Strict mode: an over-long value is an error, never silently cut (the hash
	// was computed over the full value).
	cfg.Params["sql_mode"] = "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
	disp := "mysql://" + cfg.User
	if cfg.Passwd != "" {
		disp += ":xxxxx"
	}
	disp += "@" + cfg.Net + "(" + cfg.Addr + ")/" + cfg.DBName
	return Target{Backend: BackendMySQL, mysql: cfg, Display: disp}, nil
}

func postgresTarget(dsn string) (Target, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return Target{}, fmt.Errorf("audit DSN: postgres: not a URL postgres://USER:PASS@HOST:PORT/DB")
	}
	if u.Host == "" && u.Query().Get("host") == "" {
		return Target{}, fmt.Errorf("audit DSN: postgres: no host (postgres://USER:PASS@HOST:PORT/DB)")
	}
	if strings.TrimPrefix(u.Path, "/") == "" {
		return Target{}, fmt.Errorf("audit DSN: postgres: no database name (postgres://USER:PASS@HOST:PORT/DB)")
	}
	disp := u.Redacted()
	// Every commit waits for its WAL flush, whatever the server's default: an
	// event must be durable before the command reports success.
	q := u.Query()
	q.Set("synchronous_commit", "on")
	u.RawQuery = q.Encode()
	return Target{Backend: BackendPostgres, driver: u.String(), Display: disp}, nil
}

// redactErr keeps a driver's parse error from echoing a password.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if at := strings.LastIndex(dsn, "@"); at > 0 {
		if _, pw, ok := strings.Cut(dsn[:at], ":"); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}
