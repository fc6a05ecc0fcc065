package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrCipherReplaced means the SAS cipher whose expiry was to be recorded is
// no longer the registered one: the destination was replaced meanwhile,
// and the expiry learnt from the old cipher does not apply to it.
var ErrCipherReplaced = errors.New("the SAS cipher was replaced meanwhile")

// SetSASExpiry records when org's SAS URL expires, as read from its se
// parameter after a decryption, whatever the registered cipher is now.
// Nothing in production calls it: a caller that decrypted a cipher uses
// RecordSASExpiry, lest it put the expiry of a SAS replaced meanwhile over
// the new one's (`auditctl verify` did until it opened its sink through
// internal/sink/opener). The org must have an
// Azure destination. updated_at is left alone: it tells when the
// destination was last changed by someone, and learning the expiry of the
// same SAS changes nothing about it.
func (r *Registry) SetSASExpiry(ctx context.Context, org string, expires time.Time) error {
	return r.setSASExpiry(ctx, org, "", expires)
}

// RecordSASExpiry is SetSASExpiry for the SAS that cipher decrypts to: the
// expiry is recorded only while cipher is still org's registered cipher,
// so an export that decrypted the old cipher while an operator registered
// a new one does not record the old SAS's expiry over the new one's (it
// gets ErrCipherReplaced).
func (r *Registry) RecordSASExpiry(ctx context.Context, org, cipher string, expires time.Time) error {
	if cipher == "" {
		return fmt.Errorf("record SAS expiry for org %s: no cipher given", org)
	}
	return r.setSASExpiry(ctx, org, cipher, expires)
}

func (r *Registry) setSASExpiry(ctx context.Context, org, cipher string, expires time.Time) error {
	if expires.IsZero() {
		return fmt.Errorf("record SAS expiry for org %s: no expiry given", org)
	}
	names := map[string]string{"#org": AttrOrgID, "#kind": AttrKind, "#expiry": AttrSASExpiry}
	vals := map[string]types.AttributeValue{":azure": s("azure"), ":expiry": s(expires.UTC().Format(time.RFC3339))}
	cond := "attribute_exists(#org) AND #kind = :azure"
	if cipher != "" {
		names["#cipher"] = AttrSASCipher
		vals[":cipher"] = s(cipher)
		cond += " AND #cipher = :cipher"
	}
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(r.table),
		Key:                                 key(org),
		UpdateExpression:                    aws.String("SET #expiry = :expiry"),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           vals,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		// Say which condition failed, from the item as it is; the cipher
		// is not quoted (it is the SAS to whoever holds the key).
		switch old := ccf.Item; {
		case old == nil:
			return fmt.Errorf("org %s: %w", org, ErrNotFound)
		case str(old, AttrKind) != "azure":
			return fmt.Errorf("record SAS expiry for org %s: its destination is of kind %q, not azure", org, str(old, AttrKind))
		default:
			return fmt.Errorf("record SAS expiry for org %s: %w", org, ErrCipherReplaced)
		}
	}
	if err != nil {
		return fmt.Errorf("record SAS expiry for org %s: %w", org, err)
	}
	return nil
}
