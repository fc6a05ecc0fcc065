package sas

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/redact"
)

// ClockSkew is how far in the future a SAS start time (st) may be: the
// customer's clock, Azure's and ours never agree exactly, and Azure itself
// tolerates a few minutes.
const ClockSkew = 5 * time.Minute

// AzureBlobSuffix is the host suffix of the public Azure cloud's Blob
// service; the SAS host must be <account> followed by it.
const AzureBlobSuffix = ".blob.core.windows.net"

// Policy says which hosts besides Azure's Parse accepts.
type Policy struct {
	// AllowedEmulatorHosts lists host:port pairs of Azurite instances (as
	// testenv.Server.Host gives them) whose path-style URLs,
	// http(s)://host:port/<account>/<container>?<sas>, are accepted over
	// http or https. Leave it empty in production: any host here receives
	// the customer's signature.
	AllowedEmulatorHosts []string
}

// URL is a parsed and checked SAS URL for one container. It holds the
// secret, but every way of printing it (String, GoString, Format, JSON,
// text, slog) gives the redacted form; only Reveal returns the real URL.
// Use it through a pointer, as Parse returns it; the zero value is empty.
type URL struct {
	scheme      string
	host        string // host[:port], lowercase
	account     string
	container   string
	permissions string
	start       time.Time
	expiry      time.Time
	emulator    bool
	redacted    string
	// secret returns the real URL. It is a function, not a string or a
	// pointer to one, because fmt prints a struct holding a URL in an
	// unexported field by reflection, without our methods: a string field
	// would show as it is, and so would a pointer's target under a verb
	// that does not fit a struct (%s, %q, %x print "%!s(*T=&{...})"). A
	// function prints as its address, whatever the verb.
	secret func() string
}

// Account is the storage account name.
func (u URL) Account() string { return u.account }

// Container is the container name.
func (u URL) Container() string { return u.container }

// Permissions is the SAS's sp parameter, e.g. "cw".
func (u URL) Permissions() string { return u.permissions }

// Expiry is when the SAS stops working (se).
func (u URL) Expiry() time.Time { return u.expiry }

// Start is when the SAS starts working (st), zero if it has no start.
func (u URL) Start() time.Time { return u.start }

// Host is the host, with the port for an emulator.
func (u URL) Host() string { return u.host }

// Emulator reports whether the host is one of Policy.AllowedEmulatorHosts.
func (u URL) Emulator() bool { return u.emulator }

// Reveal returns the real SAS URL, signature included, for the Azure SDK.
// Never log or store what it returns.
func (u URL) Reveal() string {
	if u.secret == nil {
		return ""
	}
	return u.secret()
}

// String returns the redacted form, e.g.
// https://acct.blob.core.windows.net/logs?se=2026-12-31T00:00:00Z&sig=REDACTED&sp=cw&sr=c&sv=2025-01-05.
func (u URL) String() string { return u.redacted }

// GoString makes %#v print the redacted form too.
func (u URL) GoString() string { return "sas.URL(" + strconv.Quote(u.redacted) + ")" }

// Format makes every fmt verb print the redacted form.
func (u URL) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, u.GoString())
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(u.redacted))
	default:
		fmt.Fprint(f, u.redacted)
	}
}

// MarshalJSON encodes the redacted form as a JSON string.
func (u URL) MarshalJSON() ([]byte, error) { return json.Marshal(u.redacted) }

// MarshalText returns the redacted form, for encoders that prefer text.
func (u URL) MarshalText() ([]byte, error) { return []byte(u.redacted), nil }

// LogValue makes slog record the redacted form.
func (u URL) LogValue() slog.Value { return slog.StringValue(u.redacted) }

var _ slog.LogValuer = URL{}

// permsPattern is the form of a SAS's permissions (sp). The names of a
// storage account and a container are the model's
// (destination.ValidAccountName, destination.ValidContainerName).
var permsPattern = regexp.MustCompile(`^[a-z]+$`)

// timeLayouts are the ISO 8601 forms Azure accepts for st and se:
// YYYY-MM-DD, YYYY-MM-DDThh:mmTZD and YYYY-MM-DDThh:mm:ss[.fffffff]TZD.
// time.RFC3339 parsing accepts the fraction as well.
var timeLayouts = []string{time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02"}

// keptParams are the SAS query parameters shown in the redacted form: none
// of them grants anything without the signature. All others (sig first)
// print as REDACTED.
var keptParams = map[string]bool{"sv": true, "ss": true, "srt": true, "sr": true, "sp": true, "st": true, "se": true, "spr": true}

// Parse checks raw as a container SAS URL that lets us create and write
// blobs, and do nothing else (add aside), until a time after now. Every refusal wraps failure.ErrInvalidConfig,
// names the rule, and contains neither the signature nor the query.
func Parse(raw string, now time.Time, p Policy) (*URL, error) {
	if raw == "" {
		return nil, invalidf("SAS URL is empty")
	}
	if strings.TrimSpace(raw) != raw {
		return nil, invalidf("SAS URL has leading or trailing white space (often a final line break in the file): remove it and encrypt the file again")
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f {
			return nil, invalidf("SAS URL has a space, control or non-ASCII character at byte %d: a SAS URL is printable ASCII", i)
		}
	}
	if strings.Contains(raw, "#") {
		return nil, invalidf("SAS URL has a fragment (#...): remove it")
	}
	pu, err := url.Parse(raw)
	if err != nil {
		return nil, invalidf("SAS URL cannot be parsed: %s", parseProblem(err))
	}
	if pu.Opaque != "" || pu.Host == "" {
		return nil, invalidf("SAS URL must be absolute, like https://<account>.blob.core.windows.net/<container>?<sas>")
	}
	if pu.User != nil {
		return nil, invalidf("SAS URL must not hold user information (user@ or user:password@ before the host)")
	}

	u := &URL{scheme: pu.Scheme, host: strings.ToLower(pu.Host)}
	segs, err := pathSegments(pu)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(p.AllowedEmulatorHosts, func(h string) bool { return strings.EqualFold(h, u.host) }) {
		u.emulator = true
		if u.scheme != "http" && u.scheme != "https" {
			return nil, invalidf("SAS URL scheme %s is not http or https", redact.QuoteShort(u.scheme))
		}
		if len(segs) != 2 {
			return nil, invalidf("SAS URL for emulator host %s must have the path /<account>/<container> (found %d path segments)", redact.QuoteShort(u.host), len(segs))
		}
		u.account, u.container = segs[0], segs[1]
		if !destination.ValidAccountName(u.account) {
			return nil, invalidf("SAS storage account name %s must be 3 to 24 lowercase letters or digits", redact.QuoteShort(u.account))
		}
	} else {
		hostname := strings.ToLower(pu.Hostname())
		account, ok := strings.CutSuffix(hostname, AzureBlobSuffix)
		if !ok || pu.Port() != "" || account == "" || strings.Contains(account, ".") {
			return nil, refusef(ErrHostNotAllowed, "SAS host %s is not an Azure Blob host (<account>%s)", redact.QuoteShort(u.host), AzureBlobSuffix)
		}
		if !destination.ValidAccountName(account) {
			return nil, invalidf("SAS host %s: storage account name %s must be 3 to 24 lowercase letters or digits", redact.QuoteShort(u.host), redact.QuoteShort(account))
		}
		if u.scheme != "https" {
			return nil, invalidf("SAS URL scheme %s is not https", redact.QuoteShort(u.scheme))
		}
		switch len(segs) {
		case 0:
			return nil, invalidf("SAS URL names no container: want https://%s%s/<container>?<sas>", account, AzureBlobSuffix)
		case 1:
		default:
			return nil, invalidf("SAS URL path must name only a container, not a blob or folder in it (found %d path segments)", len(segs))
		}
		u.account, u.container = account, segs[0]
	}
	if !destination.ValidContainerName(u.container) {
		return nil, invalidf("SAS container name %s must be 3 to 63 lowercase letters, digits or single hyphens, starting and ending with a letter or digit", redact.QuoteShort(u.container))
	}

	if err := u.checkQuery(pu, now); err != nil {
		return nil, err
	}
	u.secret = func() string { return raw }
	return u, nil
}

// pathSegments splits the path into its non-empty segments, allowing one
// trailing slash. Percent-encoding is refused: no valid account or
// container name needs it, and it could hide a "/" or a query.
func pathSegments(pu *url.URL) ([]string, error) {
	if strings.Contains(pu.EscapedPath(), "%") || pu.RawPath != "" {
		return nil, invalidf("SAS URL path must not be percent-encoded")
	}
	path := strings.TrimSuffix(strings.TrimPrefix(pu.Path, "/"), "/")
	if path == "" {
		return nil, nil
	}
	segs := strings.Split(path, "/")
	if slices.Contains(segs, "") {
		return nil, invalidf("SAS URL path has an empty segment (//)")
	}
	return segs, nil
}

func (u *URL) checkQuery(pu *url.URL, now time.Time) error {
	if pu.RawQuery == "" {
		return invalidf("SAS URL has no query: it must end with the SAS token (?sv=...&sig=...)")
	}
	q, err := url.ParseQuery(pu.RawQuery)
	if err != nil {
		// The parser's message quotes the bad part of the query.
		return invalidf("SAS URL query cannot be parsed (bad percent-encoding or ';')")
	}
	for k, v := range q {
		if len(v) > 1 {
			return invalidf("SAS query parameter %s appears %d times", redact.QuoteShort(k), len(v))
		}
	}
	if q.Get("sig") == "" {
		return invalidf("SAS URL has no signature (sig)")
	}
	if sr, ok := q["sr"]; ok && sr[0] != "c" {
		return invalidf("SAS resource type (sr) %s is not a container (c): create a container SAS", redact.QuoteShort(sr[0]))
	}

	// An account SAS (ss: services, srt: resource types) reaches every
	// container of the account, and more than Blob storage: we hold
	// nothing broader than one container.
	for _, k := range []string{"ss", "srt"} {
		if _, ok := q[k]; ok {
			return refusef(ErrScope, "SAS URL is an account SAS (it has the parameter %s), which reaches beyond one container: create a container SAS instead (sr=c, no ss or srt parameter)", k)
		}
	}

	u.permissions = q.Get("sp")
	if u.permissions == "" {
		return refusef(ErrPermissions, "SAS URL has no permissions (sp): it needs create (c) and write (w)")
	}
	if !permsPattern.MatchString(u.permissions) {
		return invalidf("SAS permissions (sp) %s are not permission letters", redact.QuoteShort(u.permissions))
	}
	var lack []string
	if !strings.Contains(u.permissions, "c") {
		lack = append(lack, "create (c)")
	}
	if !strings.Contains(u.permissions, "w") {
		lack = append(lack, "write (w)")
	}
	extra := extraPermissions(u.permissions)
	switch {
	case len(lack) > 0 && len(extra) > 0:
		return refusef(ErrPermissions, "SAS permissions %q lack %s, and grant %s that we must not hold: create the SAS with only create (c) and write (w)", u.permissions, strings.Join(lack, " and "), joinAnd(extra))
	case len(lack) > 0:
		return refusef(ErrPermissions, "SAS permissions %q lack %s", u.permissions, strings.Join(lack, " and "))
	case len(extra) > 0:
		return refusef(ErrScope, "SAS permissions (sp) %q grant more than create, write and add: remove %s (we only ever write, and must not hold a credential that reads, lists or deletes your data)", u.permissions, joinAnd(extra))
	}

	if spr, ok := q["spr"]; ok && !slices.Contains(strings.Split(spr[0], ","), u.scheme) {
		return invalidf("SAS protocol (spr) %s does not allow %s", redact.QuoteShort(spr[0]), u.scheme)
	}

	se, ok := q["se"]
	if !ok || se[0] == "" {
		return invalidf("SAS URL has no expiry (se)")
	}
	if u.expiry, err = parseTime("expiry (se)", se[0]); err != nil {
		return err
	}
	if !u.expiry.After(now) {
		return ExpiredError(u.expiry)
	}
	if st, ok := q["st"]; ok {
		if u.start, err = parseTime("start (st)", st[0]); err != nil {
			return err
		}
		if u.start.After(now.Add(ClockSkew)) {
			return invalidf("SAS URL is not valid before its start time (st) %s", u.start.Format(time.RFC3339))
		}
	}
	u.redacted = redactURL(pu, q)
	return nil
}

// allowedPermissions are the sp letters a delivery may hold: create and
// write (both needed) and add (harmless: it only appends to blobs).
const allowedPermissions = "cwa"

// permissionNames names the container SAS permission letters Azure knows.
var permissionNames = map[rune]string{
	'r': "read", 'a': "add", 'c': "create", 'w': "write", 'd': "delete", 'x': "delete version",
	'y': "permanent delete", 'l': "list", 't': "tags", 'f': "filter", 'm': "move", 'e': "execute",
	'o': "ownership", 'p': "permissions", 'i': "set immutability policy",
}

// extraPermissions lists, as "read (r)", each letter of sp beyond
// allowedPermissions, once, in the order given.
func extraPermissions(sp string) []string {
	var extra []string
	seen := map[rune]bool{}
	for _, r := range sp {
		if strings.ContainsRune(allowedPermissions, r) || seen[r] {
			continue
		}
		seen[r] = true
		name := permissionNames[r]
		if name == "" {
			name = "an unknown permission"
		}
		extra = append(extra, fmt.Sprintf("%s (%c)", name, r))
	}
	return extra
}

// joinAnd joins "a", "b" and "c" as "a, b and c".
func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func parseTime(field, v string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, invalidf("SAS %s %s is not a time Azure accepts (like 2026-12-31T00:00:00Z or 2026-12-31)", field, redact.QuoteShort(v))
}

// redactURL rebuilds the URL with every parameter but keptParams replaced by
// REDACTED. The kept values were validated above, so they are short and
// plain.
func redactURL(pu *url.URL, q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(pu.Scheme + "://" + strings.ToLower(pu.Host) + pu.EscapedPath())
	for i, k := range keys {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		v := "REDACTED"
		if keptParams[k] {
			// Colons and commas read better unescaped in logs and are valid
			// in a query.
			v = strings.NewReplacer("%3A", ":", "%2C", ",").Replace(url.QueryEscape(q.Get(k)))
		} else {
			k = url.QueryEscape(k)
			if !redact.IsPlain(k) {
				k = "REDACTED"
			}
		}
		b.WriteString(k + "=" + v)
	}
	return b.String()
}

// parseProblem describes a url.Parse failure without the URL, which
// url.Error would quote in full.
func parseProblem(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "not a URL"
	}
	var ee url.EscapeError
	if errors.As(ue.Err, &ee) {
		return "bad percent-encoding"
	}
	var he url.InvalidHostError
	if errors.As(ue.Err, &he) {
		return "invalid character in host"
	}
	msg := ue.Err.Error()
	if strings.ContainsAny(msg, "=%&?/") {
		return "not a URL"
	}
	return msg
}
