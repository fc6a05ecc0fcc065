package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/contentful/auditlogs/internal/apiauth"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/fileformat"
	"github.com/contentful/auditlogs/internal/registration"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/verify"
)

// DestinationView is what the API shows of a destination: never the
// cipher nor anything decrypted from it but the SAS's account, container
// and expiry; the cipher by its fingerprint.
type DestinationView struct {
	OrgID        string           `json:"org_id"`
	Kind         destination.Kind `json:"kind"`
	Enabled      bool             `json:"enabled"`
	Prefix       string           `json:"prefix"`
	Format       string           `json:"format"`
	Layout       string           `json:"layout"`
	RegisteredAt time.Time        `json:"registered_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
	S3           *S3View          `json:"s3,omitempty"`
	Azure        *AzureView       `json:"azure,omitempty"`
	Warnings     []verify.Notice  `json:"warnings,omitempty"`
}

// S3View is an S3 destination's bucket and role.
type S3View struct {
	Bucket      string `json:"bucket"`
	Region      string `json:"region"`
	RoleARN     string `json:"role_arn"`
	ExternalID  string `json:"external_id"`
	BucketOwner string `json:"bucket_owner"`
}

// AzureView is an Azure destination as far as it is safe to show.
type AzureView struct {
	Residency destination.Residency `json:"residency"`
	// CipherSHA256 is destination.Azure.CipherFingerprint: the first 12
	// hex digits of the SHA-256 of the decoded cipher.
	CipherSHA256   string     `json:"sas_cipher_sha256"`
	SASExpires     *time.Time `json:"sas_expires,omitempty"`
	StorageAccount string     `json:"storage_account,omitempty"`
	Container      string     `json:"container,omitempty"`
}

// DestinationInput is the body of PUT .../destination.
type DestinationInput struct {
	Kind    string      `json:"kind"`
	Prefix  string      `json:"prefix"`
	Format  string      `json:"format"`
	Layout  string      `json:"layout"`
	Enabled *bool       `json:"enabled"`
	S3      *S3Input    `json:"s3"`
	Azure   *AzureInput `json:"azure"`
}

// S3Input is an S3 destination's bucket and role; the external ID is
// always the org ID.
type S3Input struct {
	Bucket      string `json:"bucket"`
	Region      string `json:"region"`
	RoleARN     string `json:"role_arn"`
	BucketOwner string `json:"bucket_owner"`
}

// AzureInput is an Azure destination: the SAS URL only as the cipher made
// with GET /v1/keys's key of the residency.
type AzureInput struct {
	SASCipher          string   `json:"sas_cipher"`
	Residency          string   `json:"residency"`
	ShareContainerWith []string `json:"share_container_with"`
}

// Warning codes of a destination's view, beside registration's and
// verify's.
const (
	WarnPaused     = "delivery_paused"
	WarnSASExpired = "sas_expired"
)

func (s *Server) view(d destination.Destination) DestinationView {
	v := DestinationView{
		OrgID: d.OrgID, Kind: d.Kind, Enabled: d.Enabled, Prefix: d.Prefix,
		Format: string(d.FileFormat()), Layout: string(d.Layout),
		RegisteredAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
	if v.Layout == "" {
		v.Layout = string(destination.LayoutFlat)
	}
	if !d.Enabled {
		v.Warnings = append(v.Warnings, verify.Notice{Code: WarnPaused, Message: "delivery is paused: no file is delivered until the destination is resumed (POST .../destination/resume)"})
	}
	v.S3, v.Azure = S3ViewOf(d), AzureViewOf(d)
	if v.Azure != nil && v.Azure.SASExpires != nil {
		exp := *v.Azure.SASExpires
		switch now := s.now(); {
		case !exp.After(now):
			v.Warnings = append(v.Warnings, verify.Notice{Code: WarnSASExpired, Message: fmt.Sprintf("the SAS URL expired at %s: nothing can be delivered until you PUT the cipher of a new one", exp.Format(time.RFC3339))})
		case d.SASExpiresSoon(now):
			v.Warnings = append(v.Warnings, verify.Notice{Code: verify.WarnSASExpiresSoon, Message: fmt.Sprintf("the SAS URL expires at %s: PUT the cipher of a new one before then", exp.Format(time.RFC3339))})
		}
	}
	return v
}

// S3ViewOf is the view of d's bucket and role, nil for a destination of
// another kind; `auditctl destination get` shows the same.
func S3ViewOf(d destination.Destination) *S3View {
	if d.S3 == nil {
		return nil
	}
	return &S3View{Bucket: d.S3.Bucket, Region: d.S3.Region, RoleARN: d.S3.RoleARN, ExternalID: d.ExternalID(), BucketOwner: d.S3.Owner()}
}

// AzureViewOf is the view of d's container, nil for a destination of
// another kind: the cipher by its fingerprint, the SAS by its account,
// container and expiry (unset while unknown); `auditctl destination get`
// shows the same.
func AzureViewOf(d destination.Destination) *AzureView {
	if d.Azure == nil {
		return nil
	}
	v := &AzureView{Residency: d.Azure.Residency, CipherSHA256: d.Azure.CipherFingerprint(),
		StorageAccount: d.Azure.StorageAccount, Container: d.Azure.Container}
	if exp := d.Azure.SASExpiry; !exp.IsZero() {
		exp = exp.UTC()
		v.SASExpires = &exp
	}
	return v
}

// get reads org's destination, writing the problem if it cannot.
func (s *Server) get(w http.ResponseWriter, r *http.Request, org string) (destination.Destination, bool) {
	d, err := s.Registry.Get(r.Context(), org)
	if err != nil {
		s.registryProblem(w, r, "read", err)
		return d, false
	}
	return d, true
}

// registryProblem answers a registry error: not found, or unavailable.
func (s *Server) registryProblem(w http.ResponseWriter, r *http.Request, op string, err error) {
	if errors.Is(err, registry.ErrNotFound) {
		notFound().write(w, r)
		return
	}
	s.log().Error("api: registry "+op+" failed", "request_id", requestID(r.Context()), "org_id", info(r).org, "error", err)
	unavailable("registry_unavailable", "the destination registry could not be reached; retry shortly").write(w, r)
}

func (s *Server) getDestination(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.org(w, r)
	if !ok {
		return
	}
	if d, ok := s.get(w, r, org); ok {
		writeJSON(w, http.StatusOK, s.view(d))
	}
}

func (s *Server) putDestination(w http.ResponseWriter, r *http.Request) {
	org, p, ok := s.org(w, r)
	if !ok {
		return
	}
	var in DestinationInput
	if pr := decode(r, &in, false); pr != nil {
		pr.write(w, r)
		return
	}
	d, shared, pr := in.destination(org, p)
	if pr != nil {
		pr.write(w, r)
		return
	}
	_, err := s.Registry.Get(r.Context(), org)
	created := errors.Is(err, registry.ErrNotFound)
	if err != nil && !created {
		s.registryProblem(w, r, "read", err)
		return
	}
	var warnings []verify.Notice
	saved, err := s.Registrar.Register(r.Context(), d, registration.Options{
		ShareContainerWith: shared, CipherSource: "azure.sas_cipher",
		Notice: func(code, _ string) { warnings = append(warnings, registrationNotice(code, d)) },
	})
	if err != nil {
		s.refusal(w, r, d, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	if !s.audited(w, r, status) {
		return
	}
	v := s.view(saved)
	v.Warnings = append(warnings, v.Warnings...)
	writeJSON(w, status, v)
}

// destination turns the input into a destination of org, checked field
// by field; shared are the orgs it shares its container with, each one
// the caller administers.
func (in DestinationInput) destination(org string, p apiauth.Principal) (destination.Destination, []string, *Problem) {
	d := destination.Destination{OrgID: org, Kind: destination.Kind(in.Kind), Prefix: in.Prefix, Enabled: in.Enabled == nil || *in.Enabled}
	if _, err := fileformat.Parse(in.Format); err != nil {
		return d, nil, fieldProblem("format", in.Format, `must be one of "csv", "csv.gz", "jsonl.gz" or "parquet"`)
	}
	d.Format = fileformat.Format(in.Format)
	if _, err := destination.ParseLayout(in.Layout); err != nil && in.Layout != "" {
		return d, nil, fieldProblem("layout", in.Layout, `must be "flat" or "daily"`)
	}
	d.Layout = destination.Layout(in.Layout)
	var shared []string
	switch d.Kind {
	case destination.KindS3:
		if in.S3 == nil || in.Azure != nil {
			return d, nil, fieldProblem("kind", in.Kind, `an "s3" destination needs the "s3" object and no "azure"`)
		}
		d.S3 = &destination.S3{Bucket: in.S3.Bucket, Region: in.S3.Region, RoleARN: in.S3.RoleARN, BucketOwner: in.S3.BucketOwner}
	case destination.KindAzure:
		if in.Azure == nil || in.S3 != nil {
			return d, nil, fieldProblem("kind", in.Kind, `an "azure" destination needs the "azure" object and no "s3"`)
		}
		if _, err := destination.DecodeCipher(in.Azure.SASCipher); err != nil {
			// Never echoed: a plain SAS URL pasted here is the usual cause.
			return d, nil, badRequest("invalid_field", "azure.sas_cipher: "+err.Error(),
				FieldError{Field: "azure.sas_cipher", Value: "(not shown)", Reason: err.Error()})
		}
		d.Azure = &destination.Azure{SASCipher: in.Azure.SASCipher, Residency: destination.Residency(in.Azure.Residency)}
		for i, o := range in.Azure.ShareContainerWith {
			field := fmt.Sprintf("azure.share_container_with[%d]", i)
			switch {
			case o == org:
				return d, nil, fieldProblem(field, o, "is this organization: list the other orgs that use the container")
			case !audit.ValidOrgID(o) || !p.Administers(o):
				return d, nil, fieldProblem(field, o, "is not an organization you administer: only orgs you administer may share a container")
			}
			shared = append(shared, o)
		}
	default:
		return d, nil, fieldProblem("kind", in.Kind, `must be "s3" or "azure"`)
	}
	d.Normalize()
	if d.Azure != nil {
		// destination's residency error is not a FieldError (it is
		// shared with flags and configuration): named here instead.
		if _, err := destination.ParseResidency(string(d.Azure.Residency)); err != nil {
			return d, nil, fieldProblem("azure.residency", in.Azure.Residency, `must be "us" or "eu"`)
		}
	}
	if err := d.Validate(); err != nil {
		var fe *audit.FieldError
		if errors.As(err, &fe) {
			return d, nil, fieldProblem(inputField(fe.Field), fe.Value, fe.Reason)
		}
		return d, nil, badRequest("invalid_field", err.Error())
	}
	return d, shared, nil
}

// inputField is the JSON path of a field destination.Validate names.
func inputField(f string) string {
	switch f {
	case "bucket", "region", "role_arn", destination.FieldBucketOwner:
		return "s3." + f
	case "residency", "sas_cipher":
		return "azure." + f
	}
	return f
}

// registrationNotice words a registration warning for a customer.
func registrationNotice(code string, d destination.Destination) verify.Notice {
	switch code {
	case registration.WarnRoleNotAssumable:
		return verify.Notice{Code: code, Message: fmt.Sprintf("role %s cannot be assumed with external ID %s yet, so its trust policy was not checked: stored, but nothing can be delivered until it can; call POST .../destination/verify once the role is set up", d.S3.RoleARN, d.ExternalID())}
	}
	return verify.Notice{Code: code, Message: "stored with a warning: call POST .../destination/verify"}
}

// refusal answers a registration the checks refused, with verify's cause,
// message and fix. A container held by another org is refused without
// naming that org.
func (s *Server) refusal(w http.ResponseWriter, r *http.Request, d destination.Destination, err error) {
	var fe *audit.FieldError
	if errors.As(err, &fe) {
		fieldProblem(inputField(fe.Field), fe.Value, fe.Reason).write(w, r)
		return
	}
	if errors.Is(err, registration.ErrStore) {
		s.registryProblem(w, r, "write", err)
		return
	}
	f := verify.Explain(verify.StageOpen, d, err)
	var claimed *registry.ClaimedError
	if errors.As(err, &claimed) {
		f.Message = fmt.Sprintf("container %q of storage account %q is registered for another organization", claimed.Container, claimed.Account)
		f.Fix = "give the SAS URL of a container of your own; if orgs you administer deliver there on purpose, list them in azure.share_container_with"
		f.Detail = ""
	}
	pr := failureProblem(f)
	if pr.Status >= 500 {
		s.log().Error("api: destination check failed on our side", "request_id", requestID(r.Context()), "org_id", d.OrgID, "code", f.Cause, "error", err)
	}
	pr.write(w, r)
}

// failureProblem is a failed check as a problem: 422 when the customer's
// side refused (the fix is theirs), 503 when ours or the network failed.
func failureProblem(f *verify.Failure) *Problem {
	status, title := http.StatusUnprocessableEntity, "The destination failed a check"
	switch f.Cause {
	case verify.CauseRegistry, verify.CauseKMSUnavailable, verify.CauseKMSKeyMissing, verify.CauseOurCredentials, verify.CauseUnavailable, verify.CauseUnknown:
		status, title = http.StatusServiceUnavailable, "The destination could not be checked"
	}
	pr := problem(status, string(f.Cause), title, f.Message)
	pr.Fix, pr.Stage = f.Fix, f.Stage
	return pr
}

func (s *Server) deleteDestination(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.org(w, r)
	if !ok {
		return
	}
	if _, err := s.Registry.DeleteExisting(r.Context(), org); err != nil {
		s.registryProblem(w, r, "delete", err)
		return
	}
	if !s.audited(w, r, http.StatusNoContent) {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) setEnabled(w http.ResponseWriter, r *http.Request, enabled bool) {
	org, _, ok := s.org(w, r)
	if !ok {
		return
	}
	if pr := decode(r, &struct{}{}, true); pr != nil {
		pr.write(w, r)
		return
	}
	if err := s.Registry.SetEnabled(r.Context(), org, enabled); err != nil {
		s.registryProblem(w, r, "update", err)
		return
	}
	if !s.audited(w, r, http.StatusOK) {
		return
	}
	if d, ok := s.get(w, r, org); ok {
		writeJSON(w, http.StatusOK, s.view(d))
	}
}

func (s *Server) verifyDestination(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.org(w, r)
	if !ok {
		return
	}
	if pr := decode(r, &struct{}{}, true); pr != nil {
		pr.write(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), verify.Timeout)
	defer cancel()
	rep := s.Verifier.Verify(ctx, org)
	if rep.OK {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	f := rep.Failure
	if f == nil {
		f = &verify.Failure{Cause: verify.CauseUnknown, Stage: verify.StageOpen, Message: "the check failed"}
	}
	if f.Cause == verify.CauseNotRegistered {
		notFound().write(w, r)
		return
	}
	if f.Cause == verify.CauseContainerClaimed {
		// Its detail would name the org that holds the container.
		f.Detail = ""
		f.Fix = "give the SAS URL of a container of your own; if orgs you administer deliver there on purpose, list them in azure.share_container_with"
	}
	pr := failureProblem(f)
	pr.Report = &rep
	if pr.Status >= 500 {
		s.log().Warn("api: verify could not check", "request_id", requestID(r.Context()), "org_id", org, "code", f.Cause, "detail", f.Detail)
	}
	pr.write(w, r)
}
