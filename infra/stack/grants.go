package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/grants"
)

// grantAll gives each function's role the statements internal/grants
// holds for it (grants.For: the log store is the lake), and
// creates the operators' managed policy from the same source. It runs once
// every resource exists, so that every statement can name its resources.
// The roles carry nothing else. (The roles of the AWS services that the
// stack configures, the Firehose stream's and the state machine's, are
// lake.go's and compaction.go's.)
func (s *Stack) grantAll(name func(string) *string) {
	roles := map[string]awsiam.Role{ExportFunction: s.ExportRole, RetryFunction: s.RetryRole, FanOutFunction: s.FanOutRole, IngestFunction: s.IngestRole,
		CompactFunction: s.CompactRole, APIFunction: s.APIRole}
	for _, fn := range Functions {
		for _, st := range grants.For(grants.Identity(fn)) {
			roles[fn].AddToPrincipalPolicy(s.statement(fn, st))
		}
	}
	var sts []awsiam.PolicyStatement
	for _, st := range grants.For(grants.Operator) {
		sts = append(sts, s.statement("", st))
	}
	s.OperatorPolicy = awsiam.NewManagedPolicy(s.Stack, jsii.String("OperatorPolicy"), &awsiam.ManagedPolicyProps{
		ManagedPolicyName: name("operator"),
		Description:       jsii.String("auditlogs " + s.Props.StageName + ": what auditctl needs; attach it to the operators' roles (docs/deploy.md)"),
		Statements:        &sts,
	})
}

// statement renders st for the function fn ("" for the operators).
func (s *Stack) statement(fn string, st grants.Statement) awsiam.PolicyStatement {
	var resources []*string
	for _, r := range st.Resources {
		for _, arn := range s.arns(fn, r.Name) {
			resources = append(resources, jsii.String(*arn+r.Path))
		}
	}
	effect := awsiam.Effect_ALLOW
	if st.Effect == grants.Deny {
		effect = awsiam.Effect_DENY
	}
	props := &awsiam.PolicyStatementProps{
		Sid:       jsii.String(st.Sid),
		Effect:    effect,
		Actions:   jsii.Strings(st.Actions...),
		Resources: &resources,
	}
	if len(st.Condition) > 0 {
		cond := map[string]interface{}{}
		for op, kv := range st.Condition {
			m := map[string]interface{}{}
			for k, v := range kv {
				m[k] = v
			}
			cond[op] = m
		}
		props.Conditions = &cond
	}
	return awsiam.NewPolicyStatement(props)
}

// arns are the ARNs of a resource that internal/grants names.
func (s *Stack) arns(fn string, n grants.Name) []*string {
	switch n {
	case grants.LakeBucket:
		return []*string{s.LakeBucket.BucketArn()}
	case grants.LakeStream:
		return []*string{s.RawStream.AttrArn()}
	case grants.RegistryTable:
		return []*string{s.RegistryTable.TableArn()}
	case grants.LedgerTable:
		return []*string{s.LedgerTable.TableArn()}
	case grants.SASKeys:
		var keys []*string
		for _, r := range Residencies {
			keys = append(keys, s.SASKeys[r].KeyArn())
		}
		return keys
	case grants.SigningKey:
		return []*string{s.SigningKey.KeyArn()}
	case grants.ExportFn:
		return []*string{s.Export.FunctionArn()}
	case grants.ExportFailures:
		return []*string{s.ExportFailures.QueueArn()}
	case grants.ExportFailuresDLQ:
		return []*string{s.ExportFailuresDLQ.QueueArn()}
	case grants.FanOutFailures:
		return []*string{s.FanOutFailures.QueueArn()}
	case grants.IngestFailures:
		return []*string{s.IngestFailures.QueueArn()}
	case grants.RequestLogs:
		return []*string{s.RequestLogs.StreamArn()}
	case grants.RejectsBucket:
		return []*string{s.Rejects.BucketArn()}
	case grants.LogGroup:
		if lg, ok := s.LogGroups[fn]; ok {
			return []*string{lg.LogGroupArn()}
		}
	case grants.CustomerRoles:
		return []*string{jsii.String(fmt.Sprintf("arn:%s:iam::*:role/*", *awscdk.Aws_PARTITION()))}
	case grants.OwnAccountRoles:
		return []*string{jsii.String(fmt.Sprintf("arn:%s:iam::%s:role/*", *awscdk.Aws_PARTITION(), *awscdk.Aws_ACCOUNT_ID()))}
	}
	panic(fmt.Sprintf("stack: no ARN for resource %q of %q", n, fn))
}
