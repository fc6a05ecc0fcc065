package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Claims. A SAS cipher is safe to send in clear text, so whoever holds
// another customer's cipher could register it under their own org and
// have us write their logs into that customer's container (or prove to
// them that we can). So the registry records, for every Azure destination
// whose SAS was decrypted, the storage account and container it writes
// to, and keeps a claim item per account and container naming the orgs
// that deliver there: a second org is refused unless the operator says
// the orgs share it (PutShared).
//
// A claim item lives in the registry table under a key that is never an
// org ID (ClaimKeyPrefix: org IDs hold no '#'), and the scans leave it
// out. It is written in one transaction with the destination that takes
// or leaves it, each side conditional on what was read (the claim's
// version, the destination's recorded container), so two concurrent puts
// of the same container cannot both win. Claims are only updated, never
// deleted: a claim that no org holds any more keeps its version, so a
// writer that read it earlier cannot mistake a new claim for the old one.
// The writes are UpdateItems, so the export needs no permission beyond
// GetItem and UpdateItem.

// Attribute names of claims, and of the container recorded on an Azure
// destination.
const (
	AttrStorageAccount = "storage_account"
	AttrContainer      = "container"
	AttrClaimOrgs      = "claim_orgs"    // string set: the orgs that deliver there
	AttrClaimVersion   = "claim_version" // number, one more at every write
)

// ClaimKeyPrefix starts the key of every claim item.
const ClaimKeyPrefix = "claim#azure#"

// ErrClaimed means the storage account and container are registered for
// another org.
var ErrClaimed = errors.New("the storage container is registered for another org")

// ClaimedError is the refusal of a container that other orgs hold.
type ClaimedError struct {
	Org                string   // the org that asked
	Account, Container string   // where its SAS writes
	Holders            []string // the orgs that hold it and were not named as sharing it
}

func (e *ClaimedError) Error() string {
	return fmt.Sprintf("storage account %q container %q is already registered for org %s", e.Account, e.Container, strings.Join(e.Holders, ", "))
}

// Unwrap makes errors.Is(err, ErrClaimed) hold.
func (e *ClaimedError) Unwrap() error { return ErrClaimed }

// errConflict means a condition of a transaction failed: what was read
// changed meanwhile, and the caller reads again.
var errConflict = errors.New("the registry changed meanwhile")

// maxAttempts bounds the read-and-write rounds of one change; each round
// that fails saw another writer succeed.
const maxAttempts = 8

// target is where an Azure destination writes; zero when unknown.
type target struct{ account, container string }

func (t target) set() bool   { return t.account != "" }
func (t target) key() string { return ClaimKeyPrefix + t.account + "/" + t.container }
func targetOf(item map[string]types.AttributeValue) target {
	return target{str(item, AttrStorageAccount), str(item, AttrContainer)}
}

// targetCondition is the condition that an item's recorded target is
// still t, with its placeholders added to names and vals (the placeholders
// Put's update uses for the same attributes).
func targetCondition(t target, names map[string]string, vals map[string]types.AttributeValue) string {
	names["#"+AttrStorageAccount] = AttrStorageAccount
	if !t.set() {
		return "attribute_not_exists(#" + AttrStorageAccount + ")"
	}
	names["#"+AttrContainer] = AttrContainer
	vals[":old_account"], vals[":old_container"] = s(t.account), s(t.container)
	return "#" + AttrStorageAccount + " = :old_account AND #" + AttrContainer + " = :old_container"
}

// getItem reads an item consistently; nil if there is none.
func (r *Registry) getItem(ctx context.Context, k string) (map[string]types.AttributeValue, error) {
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.table), Key: key(k), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read registry item %s: %w", k, err)
	}
	return out.Item, nil
}

func stringSet(item map[string]types.AttributeValue, name string) []string {
	if v, ok := item[name].(*types.AttributeValueMemberSS); ok {
		return v.Value
	}
	return nil
}

// claimWrite is the conditional update of claim c (read as item) to
// holders.
func (r *Registry) claimWrite(c target, item map[string]types.AttributeValue, holders []string) types.TransactWriteItem {
	names := map[string]string{"#orgs": AttrClaimOrgs, "#ver": AttrClaimVersion, "#acct": AttrStorageAccount, "#cont": AttrContainer}
	version := 0
	if v, ok := item[AttrClaimVersion].(*types.AttributeValueMemberN); ok {
		version, _ = strconv.Atoi(v.Value)
	}
	vals := map[string]types.AttributeValue{
		":next": &types.AttributeValueMemberN{Value: strconv.Itoa(version + 1)},
		":acct": s(c.account), ":cont": s(c.container),
	}
	expr := "SET #ver = :next, #acct = :acct, #cont = :cont"
	if len(holders) > 0 {
		vals[":orgs"] = &types.AttributeValueMemberSS{Value: holders}
		expr += ", #orgs = :orgs"
	} else {
		expr += " REMOVE #orgs" // a set cannot be empty in DynamoDB
	}
	var cond string
	switch {
	case item == nil:
		names["#key"] = AttrOrgID
		cond = "attribute_not_exists(#key)"
	case version == 0:
		cond = "attribute_not_exists(#ver)"
	default:
		vals[":ver"] = &types.AttributeValueMemberN{Value: strconv.Itoa(version)}
		cond = "#ver = :ver"
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(r.table), Key: key(c.key()),
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	}}
}

// claimMoves returns the writes that move org from the claim of from to
// that of to (either may be unset): to's claim gains org, unless orgs
// other than those in shared hold it (a *ClaimedError), and from's claim
// loses it.
func (r *Registry) claimMoves(ctx context.Context, org string, from, to target, shared []string) ([]types.TransactWriteItem, error) {
	if from == to {
		return nil, nil
	}
	var writes []types.TransactWriteItem
	if to.set() {
		item, err := r.getItem(ctx, to.key())
		if err != nil {
			return nil, err
		}
		holders := stringSet(item, AttrClaimOrgs)
		var others []string
		for _, h := range holders {
			if h != org && !slices.Contains(shared, h) {
				others = append(others, h)
			}
		}
		if len(others) > 0 {
			slices.Sort(others)
			return nil, &ClaimedError{Org: org, Account: to.account, Container: to.container, Holders: others}
		}
		if !slices.Contains(holders, org) {
			holders = append(holders, org)
		}
		writes = append(writes, r.claimWrite(to, item, holders))
	}
	if from.set() {
		item, err := r.getItem(ctx, from.key())
		if err != nil {
			return nil, err
		}
		if holders := stringSet(item, AttrClaimOrgs); slices.Contains(holders, org) {
			rest := slices.DeleteFunc(slices.Clone(holders), func(h string) bool { return h == org })
			writes = append(writes, r.claimWrite(from, item, rest))
		}
	}
	return writes, nil
}

// transact writes items at once. A failed condition or a conflict with
// another transaction is errConflict.
func (r *Registry) transact(ctx context.Context, items []types.TransactWriteItem) error {
	_, err := r.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		for _, reason := range canceled.CancellationReasons {
			if c := aws.ToString(reason.Code); c == "ConditionalCheckFailed" || c == "TransactionConflict" {
				return errConflict
			}
		}
	}
	var conflict *types.TransactionConflictException
	if errors.As(err, &conflict) {
		return errConflict
	}
	return err
}

// retry runs one read-and-write round until it does not meet errConflict.
func retry(what string, round func() error) error {
	for range maxAttempts {
		if err := round(); !errors.Is(err, errConflict) {
			return err
		}
	}
	return fmt.Errorf("%s: the registry changed under each of %d attempts: try again", what, maxAttempts)
}

// RecordSASContainer records where org's SAS writes, as its decryption
// (by the export or `auditctl verify`) found it, and claims that
// container for org. It is recorded only while cipher is still org's
// registered cipher (ErrCipherReplaced otherwise), and refused with a
// *ClaimedError if other orgs hold the container: only the operator can
// say that orgs share one (PutShared).
func (r *Registry) RecordSASContainer(ctx context.Context, org, cipher, account, container string) error {
	to := target{account, container}
	if cipher == "" || !to.set() || container == "" {
		return fmt.Errorf("record SAS container for org %s: no cipher, account or container given", org)
	}
	return retry("record SAS container for org "+org, func() error {
		old, err := r.getItem(ctx, org)
		switch {
		case err != nil:
			return err
		case old == nil:
			return fmt.Errorf("org %s: %w", org, ErrNotFound)
		case str(old, AttrKind) != "azure":
			return fmt.Errorf("record SAS container for org %s: its destination is of kind %q, not azure", org, str(old, AttrKind))
		case str(old, AttrSASCipher) != cipher:
			return fmt.Errorf("record SAS container for org %s: %w", org, ErrCipherReplaced)
		}
		from := targetOf(old)
		if from == to {
			return nil
		}
		writes, err := r.claimMoves(ctx, org, from, to, nil)
		if err != nil {
			return err
		}
		names := map[string]string{"#" + AttrSASCipher: AttrSASCipher, "#" + AttrContainer: AttrContainer}
		vals := map[string]types.AttributeValue{":cipher": s(cipher), ":account": s(account), ":container": s(container)}
		cond := "#" + AttrSASCipher + " = :cipher AND " + targetCondition(from, names, vals)
		writes = append(writes, types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(r.table), Key: key(org),
			UpdateExpression:          aws.String("SET #" + AttrStorageAccount + " = :account, #" + AttrContainer + " = :container"),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
		}})
		return r.transact(ctx, writes)
	})
}
