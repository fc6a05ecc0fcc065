package s3sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// ErrExternalIDNotRequired means the customer's role could be assumed
// with an external ID other than the org ID: its trust policy lacks the
// sts:ExternalId condition (or allows any value), so anyone who knows the
// role's ARN could register it under their own org and have us deliver
// their logs to it, or worse, make us prove that we may write there.
var ErrExternalIDNotRequired = errors.New("the role's trust policy does not require the external ID")

// ExternalIDCondition is the condition a customer's trust policy needs:
// sts:ExternalId equal to the org ID. `auditctl policies` writes it into
// the trust policy, and the errors of CheckExternalID quote it.
func ExternalIDCondition(org string) map[string]map[string]string {
	return map[string]map[string]string{"StringEquals": {"sts:ExternalId": org}}
}

// ExternalIDError is CheckExternalID's finding: RoleARN was assumed with
// an external ID that was not OrgID.
type ExternalIDError struct {
	OrgID, RoleARN string
}

func (e *ExternalIDError) Error() string {
	return fmt.Sprintf("role %s can be assumed with any external ID: its trust policy does not require sts:ExternalId = %q, so another org could register it", e.RoleARN, e.OrgID)
}

// Unwrap makes errors.Is(err, ErrExternalIDNotRequired) hold.
func (e *ExternalIDError) Unwrap() error { return ErrExternalIDNotRequired }

// Fix is what to add to the trust policy's statement, as JSON.
func (e *ExternalIDError) Fix() string {
	return fmt.Sprintf(`"Condition": {"StringEquals": {"sts:ExternalId": %q}}`, e.OrgID)
}

// CheckExternalID assumes dest's role once more, with a random external
// ID instead of the org ID. STS must refuse it (AccessDenied): then the
// trust policy requires the external ID, and it returns nil. If STS
// agrees, it returns an *ExternalIDError (the credentials it got are
// dropped at once; the session policy limited them anyway). Other
// failures are returned classified, as Open's are.
//
// Call it once Open has assumed the role with the org ID: a refusal of the
// random ID proves something only about a role that we may assume at all.
func CheckExternalID(ctx context.Context, cfg aws.Config, dest Destination) error {
	policy, err := SessionPolicy(dest) // validates dest too
	if err != nil {
		return err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("s3sink: random external ID: %w", err)
	}
	random := "auditlogs-check-" + hex.EncodeToString(b[:])
	_, err = sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(dest.RoleARN),
		RoleSessionName: aws.String(SessionName(dest.OrgID)),
		ExternalId:      aws.String(random),
		Policy:          aws.String(policy),
		DurationSeconds: aws.Int32(900), // STS's minimum: the session is not used
	})
	if err == nil {
		return &ExternalIDError{OrgID: dest.OrgID, RoleARN: dest.RoleARN}
	}
	if _, code := kindOf(err); code == "AccessDenied" {
		return nil
	}
	return fmt.Errorf("check that role %s requires the external ID %s: %w", dest.RoleARN, dest.OrgID, classifyAssumeRole(err, dest.OrgID))
}
