package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/sas"
)

// Keys are the SAS decryption keys and the rule that reports changes to
// them.
type Keys struct {
	// SASKeys holds the key of each residency of Residencies.
	SASKeys map[sas.Residency]awskms.Key
	// KeyChanges notifies the alarm topic of the CloudTrail events that
	// change who may decrypt with a SAS key, or whether it works
	// (KeyChangeEvents).
	KeyChanges awsevents.CfnRule
}

// KeyAdminActions are what a SAS key's administrators may do: manage the
// key, its policy, aliases, tags and deletion, and read its public key.
// Deliberately absent: kms:Decrypt, kms:ReEncrypt* (a decrypt by another
// name) and kms:CreateGrant (a grant could hand out Decrypt). That stops
// mistakes, not an administrator: kms:PutKeyPolicy can give back anything
// (see KeyChangeEvents).
var KeyAdminActions = []string{
	"kms:DescribeKey",
	"kms:GetPublicKey",
	"kms:GetKeyPolicy",
	"kms:PutKeyPolicy",
	"kms:ListKeyPolicies",
	"kms:ListResourceTags",
	"kms:TagResource",
	"kms:UntagResource",
	"kms:UpdateKeyDescription",
	"kms:EnableKey",
	"kms:DisableKey",
	"kms:ScheduleKeyDeletion",
	"kms:CancelKeyDeletion",
	"kms:CreateAlias",
	"kms:UpdateAlias",
	"kms:DeleteAlias",
	"kms:ListGrants",
	"kms:RevokeGrant",
}

// sasKeys builds one RSA-4096 key per residency, administered by
// KeyAdminArns (the account root by default) and decryptable by the
// export's and the retry's roles and KeyOperatorArns.
func (s *Stack) sasKeys() {
	st, p := s.Stack, s.Props
	s.SASKeys = map[sas.Residency]awskms.Key{}
	admins := []awsiam.IPrincipal{}
	if len(p.KeyAdminArns) == 0 {
		admins = append(admins, awsiam.NewAccountRootPrincipal())
	}
	for _, a := range p.KeyAdminArns {
		admins = append(admins, awsiam.NewArnPrincipal(jsii.String(a)))
	}
	// Only the functions that deliver (the export, and the retry, which
	// runs exports in process) may decrypt.
	decrypters := []awsiam.IPrincipal{
		awsiam.NewArnPrincipal(s.ExportRole.RoleArn()),
		awsiam.NewArnPrincipal(s.RetryRole.RoleArn()),
	}
	operators := []awsiam.IPrincipal{}
	for _, a := range p.KeyOperatorArns {
		operators = append(operators, awsiam.NewArnPrincipal(jsii.String(a)))
	}
	for _, r := range Residencies {
		s.SASKeys[r] = newSASKey(st, "SasKey"+upperFirst(string(r)), p.StageName, r, admins, decrypters, operators)
	}
}

// KeyChangeEvents are the KMS API calls on a SAS key that notify the
// alarm topic: a key administrator may rewrite the key policy
// (kms:PutKeyPolicy is theirs) and grant themselves or anyone Decrypt, a
// grant hands out Decrypt beside the policy, and a disabled or deleted key
// ends every Azure delivery of its residency.
var KeyChangeEvents = []string{"PutKeyPolicy", "CreateGrant", "ScheduleKeyDeletion", "DisableKey"}

// keyChangeRule is the EventBridge rule on the default bus that sends
// CloudTrail's record of a KeyChangeEvents call on one of the stack's SAS
// keys (matched by the key ARN CloudTrail puts in the record's resources,
// whatever key ID or alias the caller named) to the alarm topic, and the
// topic policy statement that lets EventBridge publish for this rule only.
// It is the L1 rule so that the target adds no statement of its own.
// EventBridge receives these events only while a CloudTrail trail logs
// the region's management events (docs/deploy.md, The SAS keys).
func (s *Stack) keyChangeRule() {
	st, p := s.Stack, s.Props
	keyArns := []*string{}
	for _, r := range Residencies {
		keyArns = append(keyArns, s.SASKeys[r].KeyArn())
	}
	s.KeyChanges = awsevents.NewCfnRule(st, jsii.String("KeyChanges"), &awsevents.CfnRuleProps{
		Description: jsii.String("auditlogs " + p.StageName + ": a SAS key's policy, grants, state or deletion changed (CloudTrail)"),
		State:       jsii.String("ENABLED"),
		EventPattern: map[string]interface{}{
			"source":      []string{"aws.kms"},
			"detail-type": []string{"AWS API Call via CloudTrail"},
			"detail": map[string]interface{}{
				"eventSource": []string{"kms.amazonaws.com"},
				"eventName":   KeyChangeEvents,
				"resources":   map[string]interface{}{"ARN": keyArns},
			},
		},
		Targets: []interface{}{&awsevents.CfnRule_TargetProperty{Id: jsii.String("AlarmTopic"), Arn: s.AlarmTopic.TopicArn()}},
	})
	s.AlarmTopic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("KeyChangeEvents"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{s.AlarmTopic.TopicArn()},
		Conditions: &map[string]interface{}{
			"ArnEquals": map[string]interface{}{"aws:SourceArn": s.KeyChanges.AttrArn()},
		},
	}))
}

// newSASKey is the RSA-4096 key of a residency. Its policy is the whole
// policy (no default `kms:*` for the account root): the admins manage it
// and read its public key, and only the decrypters (the roles of the
// functions that deliver) and the operators (KeyOperatorArns, who check
// SAS URLs with auditctl) decrypt, with the algorithm internal/sas uses.
func newSASKey(scope constructs.Construct, id, stage string, r sas.Residency, admins, decrypters, operators []awsiam.IPrincipal) awskms.Key {
	decrypt := func(sid string, who []awsiam.IPrincipal) awsiam.PolicyStatement {
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(sid),
			Principals: &who,
			Actions:    jsii.Strings("kms:Decrypt"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"kms:EncryptionAlgorithm": string(sas.Algorithm)},
			},
		})
	}
	statements := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("KeyAdministration"),
			Principals: &admins,
			Actions:    jsii.Strings(KeyAdminActions...),
			Resources:  jsii.Strings("*"), // in a key policy: this key
		}),
		decrypt("DeliveriesDecryptSasCiphers", decrypters),
	}
	if len(operators) > 0 {
		statements = append(statements, decrypt("OperatorsCheckSasCiphers", operators))
	}
	doc := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements})
	return awskms.NewKey(scope, jsii.String(id), &awskms.KeyProps{
		Alias:         jsii.String("alias/auditlogs-" + stage + "-sas-" + string(r)),
		Description:   jsii.String("auditlogs " + stage + ": decrypts customers' Azure SAS URLs of residency " + string(r)),
		KeySpec:       awskms.KeySpec_RSA_4096,
		KeyUsage:      awskms.KeyUsage_ENCRYPT_DECRYPT,
		Policy:        doc,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
}
