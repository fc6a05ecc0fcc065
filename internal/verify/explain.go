package verify

import (
	"fmt"
	"strings"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// explain returns, for people, what went wrong and how to fix it. The
// sentences name the resources involved (bucket, role, external ID,
// container, expiry), never a secret.
func explain(c Cause, d destination.Destination, info sasSink) (message, fix string) {
	var bucket, region, role, owner, prefix string
	if d.S3 != nil {
		bucket, region, role, owner = d.S3.Bucket, d.S3.Region, d.S3.RoleARN, d.S3.Owner()
	}
	prefix = d.Prefix
	where := "the container named in the SAS URL"
	if info != nil {
		where = fmt.Sprintf("container %q of storage account %q", info.Container(), info.Account())
	}
	switch c {
	case CauseNotRegistered:
		return fmt.Sprintf("no destination is registered for org %q", d.OrgID),
			"register it with `auditctl destination put` (S3: bucket, region and role ARN; Azure: the SAS cipher and its residency), then check again"
	case CauseInvalidDestination:
		return fmt.Sprintf("the destination registered for org %q is not valid (see detail for the field and value)", d.OrgID),
			"register the destination again with corrected values"
	case CauseRegistry:
		return "the destination registry could not be read",
			"operator: check the registry table (AUDITLOG_REGISTRY_TABLE) and our DynamoDB access, then check again"

	case CauseRoleNotAssumable:
		return fmt.Sprintf("AWS STS refused to let us assume role %s with external ID %q", role, d.ExternalID()),
			fmt.Sprintf("in AWS account %s check that (1) the role %s exists, (2) its trust policy allows sts:AssumeRole to our AWS account, and (3) its trust policy's condition sts:ExternalId is exactly %q (the organization ID). "+
				"STS gives the same answer for all three, so check each", accountOf(role), role, d.ExternalID())
	case CauseExternalIDNotRequired:
		return fmt.Sprintf("role %s can be assumed with any external ID, not only %q: its trust policy does not require the organization ID as external ID, so another organization's set-up could point us at it", role, d.ExternalID()),
			fmt.Sprintf("in AWS account %s add to the statement of role %s's trust policy that lets our AWS account call sts:AssumeRole the condition %s (auditctl policies prints the whole trust policy), then check again",
				accountOf(role), role, (&s3sink.ExternalIDError{OrgID: d.ExternalID(), RoleARN: role}).Fix())
	case CauseOurCredentials:
		return "AWS STS or S3 refused our service's own credentials, not the customer's role",
			"operator: check the credentials the service runs with (and that their session has not expired); nothing is wrong with the customer's set-up as far as this check got"
	case CausePutDenied:
		return fmt.Sprintf("we assumed role %s, but S3 refused to let it write under s3://%s/%s", role, bucket, prefix),
			fmt.Sprintf("give the role a permission policy that allows s3:PutObject and s3:AbortMultipartUpload on arn:aws:s3:::%s/%s*; check that the bucket policy, an SCP or a permissions boundary does not deny it, "+
				"that the bucket belongs to AWS account %s (we write only to a bucket of the owner registered, so that a bucket re-created under the same name elsewhere gets nothing: register the right owner if it is another account), "+
				"and that the bucket's default encryption is SSE-S3: our session allows no KMS actions, so a bucket that encrypts with a customer managed KMS key (SSE-KMS) refuses our writes", bucket, prefix, owner)
	case CauseBucketMissing:
		return fmt.Sprintf("bucket %s does not exist", bucket),
			fmt.Sprintf("create bucket %s in %s, or register the name of the bucket that should receive the logs", bucket, region)
	case CauseBucketRegion:
		return fmt.Sprintf("bucket %s is not in region %s", bucket, region),
			"register the bucket's actual region (S3 console, the bucket's Properties)"

	case CauseCipherUndecryptable:
		res := residencyOf(d)
		return fmt.Sprintf("our %s key cannot decrypt the registered SAS cipher", res),
			fmt.Sprintf("encrypt the SAS URL again with our %s public key, as the set-up guide shows (RSA-OAEP with SHA-256), and send us the new cipher: a cipher made with another key, such as the other residency's, cannot be decrypted", res)
	case CauseKMSKeyMissing:
		return fmt.Sprintf("no KMS key is configured for residency %s", residencyOf(d)),
			"operator: set AUDITLOG_KMS_KEY_US or AUDITLOG_KMS_KEY_EU; nothing is wrong with the customer's set-up as far as this check got"
	case CauseKMSUnavailable:
		return "KMS did not decrypt the SAS cipher (throttled, unreachable, or the key is disabled or not ours to use)",
			"try again in a few minutes; operator: if it persists, check the KMS key's state and our permission to decrypt with it"
	case CauseSASExpired:
		return "the SAS URL has expired",
			"create a new container SAS with create and write permissions and a later expiry, encrypt it with our public key and send us the new cipher"
	case CauseSASPermissions:
		return "the SAS URL does not grant create (c) and write (w)",
			"create the container SAS with the permissions Create and Write (sp=cw), encrypt it with our public key and send us the new cipher"
	case CauseSASScope:
		return "the SAS URL grants more than writing to one container (an account SAS, or read, list, delete or other permissions beyond create, write and add), and we must not hold such a credential",
			"create a container SAS (not an account SAS) with only the permissions Create and Write (sp=cw), encrypt it with our public key and send us the new cipher; then revoke the old SAS"
	case CauseSASHostNotAllowed:
		return "the SAS URL's host is not an Azure Blob Storage host (<account>.blob.core.windows.net), so we do not send the signature there",
			"create the SAS from the storage account's Blob service and send the container URL it gives (https://<account>.blob.core.windows.net/<container>?...), encrypted"
	case CauseSASInvalid:
		return "the decrypted SAS URL is not a usable container SAS URL (see detail for what is wrong with it)",
			"create a container SAS URL (https://<account>.blob.core.windows.net/<container>?sv=...&sp=cw&se=...&sig=...) with nothing before or after it, encrypt it and send us the new cipher"
	case CauseSASRefused:
		return fmt.Sprintf("Azure refused the SAS for %s", where),
			"the SAS may have been revoked (its stored access policy changed or removed), the account key that signed it rotated, or the storage account's firewall or the SAS's IP range may exclude us; create a new SAS and send us its cipher, and check the network rules"
	case CauseContainerMissing:
		return fmt.Sprintf("%s does not exist", where),
			"create the container, or create the SAS for the container that should receive the logs"
	case CauseContainerClaimed:
		return fmt.Sprintf("the SAS URL writes to %s, which the destination of another organization already uses, so we do not deliver there for org %q (the detail names the other org)", where, d.OrgID),
			"operator: if both organizations belong to the same customer and share the container on purpose, register this one again with `auditctl destination put ... --share-container-with <the other org>`; otherwise the customer must send a SAS URL of a container of their own"
	case CauseUnavailable:
		return "the storage service or the network failed in a way that retrying may fix",
			"check again in a few minutes; if it keeps failing, the detail says what failed"
	case CauseUnknown:
		return "the destination refused the check for a reason this check has no name for",
			"the detail says what failed; operator: look into it, and name the cause here if it recurs"
	}
	return "the check failed", "see detail"
}

// accountOf is the AWS account ID in a role ARN
// (arn:<partition>:iam::<account>:role/<name>).
func accountOf(roleARN string) string {
	if parts := strings.Split(roleARN, ":"); len(parts) >= 6 && parts[4] != "" {
		return parts[4]
	}
	return "(the role's account)"
}

func residencyOf(d destination.Destination) string {
	if d.Azure == nil {
		return "(unknown)"
	}
	return string(d.Azure.Residency)
}
