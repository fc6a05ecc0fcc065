package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/sas"
)

// Keys are the SAS decryption keys, the signing key and the rule that
// reports changes to them.
type Keys struct {
	// SASKeys holds the key of each residency of Residencies.
	SASKeys map[sas.Residency]awskms.Key
	// SigningKey signs the manifest beside each delivered file
	// (internal/signing): RSA 4096 for SIGN_VERIFY, of its own, so that
	// neither key's policy can widen the other's use.
	SigningKey awskms.Key
	// KeyChanges notifies the alarm topic of the CloudTrail events that
	// change who may decrypt with a SAS key or sign with the signing key,
	// or whether they work (KeyChangeEvents).
	KeyChanges awsevents.CfnRule
}

// KeyAdminActions are what a key's administrators may do (the SAS keys'
// and the signing key's): manage the key, its policy, aliases, tags and
// deletion, and read its public key. Deliberately absent: kms:Decrypt,
// kms:ReEncrypt* (a decrypt by another name), kms:Sign and
// kms:CreateGrant (a grant could hand out Decrypt or Sign). That stops
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
// export's and the retry's roles, the HTTP API's (which checks a cipher
// before it stores it) and KeyOperatorArns.
func (s *Stack) sasKeys() {
	st, p := s.Stack, s.Props
	s.SASKeys = map[sas.Residency]awskms.Key{}
	admins, deliveries, operators := s.keyPrincipals()
	// Only the functions that deliver, and the API that registers, may
	// decrypt.
	for _, r := range Residencies {
		s.SASKeys[r] = newSASKey(st, "SasKey"+upperFirst(string(r)), p.StageName, r, admins, deliveries, s.apiPrincipals(), operators)
	}
}

// apiPrincipals is the HTTP API's function role, as a key policy names
// it: it checks SAS ciphers (Decrypt) and hands out the public keys
// (GetPublicKey), whoever administers the keys; it never signs.
func (s *Stack) apiPrincipals() []awsiam.IPrincipal {
	return []awsiam.IPrincipal{awsiam.NewArnPrincipal(s.APIRole.RoleArn())}
}

// keyPrincipals are who a key policy names: the administrators
// (KeyAdminArns, the account root by default), the roles of the functions
// that deliver (the export, and the retry, which runs exports in process)
// and the operators (KeyOperatorArns).
func (s *Stack) keyPrincipals() (admins, deliveries, operators []awsiam.IPrincipal) {
	p := s.Props
	admins = []awsiam.IPrincipal{}
	if len(p.KeyAdminArns) == 0 {
		admins = append(admins, awsiam.NewAccountRootPrincipal())
	}
	for _, a := range p.KeyAdminArns {
		admins = append(admins, awsiam.NewArnPrincipal(jsii.String(a)))
	}
	deliveries = []awsiam.IPrincipal{
		awsiam.NewArnPrincipal(s.ExportRole.RoleArn()),
		awsiam.NewArnPrincipal(s.RetryRole.RoleArn()),
	}
	operators = []awsiam.IPrincipal{}
	for _, a := range p.KeyOperatorArns {
		operators = append(operators, awsiam.NewArnPrincipal(jsii.String(a)))
	}
	return admins, deliveries, operators
}

// signingKey is the RSA-4096 key that signs the manifests of delivered
// files. Its policy is the whole policy, as the SAS keys' is: the admins
// manage it and read its public key; only the roles of the functions that
// deliver may sign (kms:Sign, RSASSA-PKCS1-v1_5 SHA-256 of a digest only:
// grants.SigningCondition), and they and the operators (who hand the
// public key out, `auditctl keys public --purpose signing`, and the HTTP
// API's GET /v1/keys) read its public half. No other statement names kms:Sign, and the admins' actions
// leave it out, so that an IAM policy in the account cannot grant it
// either. It is retained when the stack is deleted: customers hold its
// public key, and a new key is a new fingerprint they must fetch.
func (s *Stack) signingKey() {
	st, p := s.Stack, s.Props
	admins, deliveries, operators := s.keyPrincipals()
	cond := map[string]interface{}{}
	for op, kv := range grants.SigningCondition {
		m := map[string]interface{}{}
		for k, v := range kv {
			m[k] = v
		}
		cond[op] = m
	}
	readers := append(append(append([]awsiam.IPrincipal{}, deliveries...), s.apiPrincipals()...), operators...)
	statements := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("KeyAdministration"),
			Principals: &admins,
			Actions:    jsii.Strings(KeyAdminActions...),
			Resources:  jsii.Strings("*"), // in a key policy: this key
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("DeliveriesSignManifests"),
			Principals: &deliveries,
			Actions:    jsii.Strings("kms:Sign"),
			Resources:  jsii.Strings("*"),
			Conditions: &cond,
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("ReadSigningPublicKey"),
			Principals: &readers,
			Actions:    jsii.Strings("kms:GetPublicKey", "kms:DescribeKey"),
			Resources:  jsii.Strings("*"),
		}),
	}
	doc := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements})
	s.SigningKey = awskms.NewKey(st, jsii.String("SigningKey"), &awskms.KeyProps{
		Alias:         jsii.String("alias/auditlogs-" + p.StageName + "-signing"),
		Description:   jsii.String("auditlogs " + p.StageName + ": signs the manifests of delivered files (customers verify with its public key)"),
		KeySpec:       awskms.KeySpec_RSA_4096,
		KeyUsage:      awskms.KeyUsage_SIGN_VERIFY,
		Policy:        doc,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
}

// KeyChangeEvents are the KMS API calls on a SAS key or the signing key
// that notify the alarm topic: a key administrator may rewrite the key
// policy (kms:PutKeyPolicy is theirs) and grant themselves or anyone
// Decrypt or Sign (a signature anyone could make proves nothing), a grant
// hands them out beside the policy, and a disabled or deleted key ends
// every Azure delivery of its residency, or every signed delivery.
var KeyChangeEvents = []string{"PutKeyPolicy", "CreateGrant", "ScheduleKeyDeletion", "DisableKey"}

// keyChangeRule is the EventBridge rule on the default bus that sends
// CloudTrail's record of a KeyChangeEvents call on one of the stack's SAS
// keys or its signing key (matched by the key ARN CloudTrail puts in the record's resources,
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
	keyArns = append(keyArns, s.SigningKey.KeyArn())
	s.KeyChanges = awsevents.NewCfnRule(st, jsii.String("KeyChanges"), &awsevents.CfnRuleProps{
		Description: jsii.String("auditlogs " + p.StageName + ": a SAS or signing key's policy, grants, state or deletion changed (CloudTrail)"),
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
// functions that deliver), the HTTP API (api: it checks ciphers and
// hands out the public key) and the operators (KeyOperatorArns, who check
// SAS URLs with auditctl) decrypt, with the algorithm internal/sas uses.
func newSASKey(scope constructs.Construct, id, stage string, r sas.Residency, admins, decrypters, api, operators []awsiam.IPrincipal) awskms.Key {
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
		decrypt("ApiChecksSasCiphers", api),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("ApiReadsPublicKey"),
			Principals: &api,
			Actions:    jsii.Strings("kms:GetPublicKey", "kms:DescribeKey"),
			Resources:  jsii.Strings("*"),
		}),
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
